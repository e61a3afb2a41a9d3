"""Secrets: every role refuses a development value, a passphrase or a short key at start-up,
whatever its listen address, unless `--dev`; one readable line names the setting."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from enforcement.casework.settings import CaseSettings
from enforcement.keys import (
    DEV_AUDIT_KEY,
    DEV_EVIDENCE_KEY,
    DEV_HASH_SECRET,
    DEV_SESSION_SECRET,
    KeyFormatError,
    KeySetting,
    decode_key,
    key_bytes,
    key_problem,
)
from enforcement.settings import ConfigError, Settings, require_keys
from enforcement.web import serve
from zes.cli import main

GOOD = secrets.token_hex(32)


def _setting(value: str, exact: int | None = None) -> KeySetting:
    return KeySetting("ZES_X", SecretStr(value), exact)


def test_keys_are_hex_or_base64_of_random_bytes() -> None:
    raw = secrets.token_bytes(32)
    for text in (raw.hex(), base64.b64encode(raw).decode(), secrets.token_urlsafe(32)):
        assert len(decode_key(text)) == 32
        assert key_problem(_setting(text)) is None
    assert decode_key(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == raw


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (DEV_HASH_SECRET, "published development value"),
        (DEV_SESSION_SECRET, "published development value"),
        (DEV_EVIDENCE_KEY, "published development value"),
        ("zes-development-only-evidence-key", "published development value"),
        ("correct horse battery staple", "a passphrase is not a key"),
        ("correcthorsebatterystaplecorrecthorsebatter", "letters only"),
        ("cli-test-secret-0123456789", "fewer than 32"),
        (secrets.token_hex(16), "fewer than 32"),
        ("00" * 32, "not random"),
    ],
)
def test_development_values_passphrases_and_short_keys_are_refused(value: str, why: str) -> None:
    problem = key_problem(_setting(value))
    assert problem is not None and problem.startswith("ZES_X") and why in problem
    assert value not in problem  # the message never repeats the secret


def test_a_cipher_key_has_its_exact_length() -> None:
    assert "not 32" in (key_problem(_setting(secrets.token_hex(48), exact=32)) or "")
    passphrase = CaseSettings(_env_file=None, evidence_key="a passphrase")
    with pytest.raises(KeyFormatError, match="ZES_CASES_EVIDENCE_KEY: it is neither"):
        key_bytes(passphrase.evidence_key_setting)
    with pytest.raises(ConfigError, match="ZES_CASES_EVIDENCE_KEY"):
        CaseSettings(_env_file=None, evidence_key="a passphrase").evidence_cipher_key()
    assert CaseSettings(_env_file=None, evidence_key=GOOD).evidence_cipher_key() == bytes.fromhex(
        GOOD
    )


def test_the_check_names_every_bad_setting_and_dev_only_warns() -> None:
    keys = [
        KeySetting("ZES_HASH_SECRET", SecretStr(DEV_HASH_SECRET)),
        KeySetting("ZES_CASES_AUDIT_KEY", SecretStr(DEV_AUDIT_KEY)),
        KeySetting("ZES_CASES_SESSION_SECRET", SecretStr(GOOD)),
    ]
    with pytest.raises(ConfigError) as refused:
        require_keys("the review app", keys, dev=False)
    message = str(refused.value)
    assert "the review app refuses to start" in message
    assert "ZES_HASH_SECRET" in message and "ZES_CASES_AUDIT_KEY" in message
    assert "ZES_CASES_SESSION_SECRET" not in message and "--dev" in message
    assert len(require_keys("the review app", keys, dev=True)) == 2
    assert require_keys("the review app", keys[2:], dev=False) == []


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_the_review_app_refuses_development_secrets_on_any_address(
    tmp_path: Path, host: str
) -> None:
    """The forged-cookie hole: on loopback behind a TLS proxy the app was reachable from the
    network while signing cookies with the public development secret."""
    cases = CaseSettings(_env_file=None, host=host, review_metrics_port=0)
    with pytest.raises(ConfigError, match="review app refuses to start: ZES_CASES_SESSION_SECRET"):
        serve(Settings(_env_file=None, work_dir=tmp_path), cases)


SITE_EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "systemd" / "site.example.yaml"
ROLES = [
    (["stream", "worker"], "the stream worker", "ZES_HASH_SECRET", {}),
    (["edge", "run", "--config", str(SITE_EXAMPLE)], "the edge agent", "ZES_HASH_SECRET", {}),
    (["enforce", "intake"], "the case intake", "ZES_CASES_EVIDENCE_KEY", {}),
    (
        ["enforce", "serve"],
        "the review app",
        "ZES_CASES_SESSION_SECRET",
        {"ZES_CASES_EVIDENCE_KEY": GOOD, "ZES_CASES_AUDIT_KEY": GOOD, "ZES_HASH_SECRET": GOOD},
    ),
]


@pytest.mark.parametrize(("argv", "role", "setting", "env"), ROLES)
@pytest.mark.parametrize("kind", ["default", "short"])
def test_every_role_refuses_a_default_or_short_secret_without_dev(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    role: str,
    setting: str,
    env: dict[str, str],
    kind: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file of the checkout
    for name in ("ZES_HASH_SECRET", "ZES_CASES_EVIDENCE_KEY", "ZES_CASES_SESSION_SECRET"):
        monkeypatch.delenv(name, raising=False)
    values = {"ZES_WORK_DIR": str(tmp_path), **env}
    if kind == "short":
        values[setting] = secrets.token_hex(16)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{role} refuses to start: {setting}" in err
    assert ("16 bytes" if kind == "short" else "development value") in err
    assert not (tmp_path / "cases.db").exists()  # refused before touching the database


_RAW = secrets.token_bytes(32)


@pytest.mark.parametrize(
    "text",
    [
        _RAW.hex(),
        _RAW.hex() + "\n",
        base64.b64encode(_RAW).decode(),
        base64.urlsafe_b64encode(_RAW).decode().rstrip("="),
        f"{_RAW.hex()[:32]} {_RAW.hex()[32:]}",
        "00" * 32,
        "correcthorsebatterystaplecorrecthorsebatter",
        secrets.token_hex(16),
    ],
    ids=["hex", "hex-newline", "base64", "urlsafe-unpadded", "inner-space", "zeros", "letters",
         "short"],
)  # fmt: skip
def test_every_role_reads_a_key_by_the_same_rules(text: str, tmp_path: Path) -> None:
    """Issue 24: the start-up check and the ciphers (`enforcement.keys`) and the evidence
    signing keys of the intake and the edge (once `evidence_seal.parse_key`: whitespace
    stripped anywhere, standard base64 only, no pattern check) disagreed on these."""
    from edge.config import SiteConfig, SiteConfigError, load_evidence_key

    def accepted(read: Callable[[], object], *errors: type[Exception]) -> bool:
        try:
            read()
        except errors:
            return False
        return True

    key_file = tmp_path / "evidence.key"
    key_file.write_text(text, encoding="utf-8")
    site = SiteConfig.model_construct(evidence_key_file=key_file)  # type: ignore[call-arg]
    cases = CaseSettings(_env_file=None, evidence_keys={"site-1": text})
    verdicts = {
        "decode_key": accepted(lambda: decode_key(text), KeyFormatError),
        "start-up check": key_problem(_setting(text)) is None,
        "cipher key": accepted(lambda: key_bytes(_setting(text, exact=32)), KeyFormatError),
        "intake signing keys": accepted(cases.evidence_seal_keys, ConfigError),
        "edge signing key": accepted(lambda: load_evidence_key(site), SiteConfigError),
    }
    assert len(set(verdicts.values())) == 1, verdicts
    if verdicts["decode_key"]:
        assert cases.evidence_seal_keys() == {"site-1": decode_key(text)} == {"site-1": _RAW}
