"""`zes enforce …` end to end on a SQLite case database: users, export, audit, purge."""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from enforcement.casework import review
from enforcement.casework.db import make_engine, session_factory
from enforcement.casework.evidence import EvidenceVault
from enforcement.casework.intake import CaseIntake
from enforcement.casework.models import User
from enforcement.casework.review import QueueFilter
from enforcement.register.redis import RedisRegister
from tests.enforcement.casework.conftest import AUDIT_KEY, KEY, SEEN, _van, violation

pytestmark = pytest.mark.redis


def zes(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zes", "enforce", *args],
        input=stdin, capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip


def _env_with_the_van_registered(
    tmp_path: Path, redis_url: str, client: redis.Redis, prefix: str, **extra: str
) -> dict[str, str]:
    """The CLI's environment on `tmp_path`, with the van VNB12X in the register it reads."""
    secret = "cli-test-secret-0123456789"
    RedisRegister(client, prefix, secret=secret.encode()).replace_vehicles([_van("VNB12X")])
    return {
        "ZES_WORK_DIR": str(tmp_path),
        "ZES_REDIS_URL": redis_url,
        "ZES_REGISTER_PREFIX": prefix,
        "ZES_HASH_SECRET": secret,
        "ZES_CASES_AUDIT_KEY": AUDIT_KEY.hex(),
        **extra,
    }


def _anna_confirms_one_case(tmp_path: Path) -> None:
    """A case for VNB12X, confirmed by anna without four-eyes, straight into the database
    the CLI uses."""
    engine = make_engine(f"sqlite:///{tmp_path / 'cases.db'}")
    sessions = session_factory(engine, audit_key=AUDIT_KEY)
    CaseIntake(sessions, EvidenceVault(KEY), grace=timedelta(0)).apply([violation("VNB12X")])
    with sessions.begin() as session:
        anna = session.query(User).filter_by(username="anna").one()
        case = review.next_case(session, anna, QueueFilter(), SEEN + timedelta(days=1), 15)
        assert case is not None
        review.confirm(
            session, case, anna, SEEN + timedelta(days=1), four_eyes=False, attested=True
        )
    engine.dispose()


def test_users_export_audit_and_purge(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, redis_prefix: str
) -> None:
    env = _env_with_the_van_registered(tmp_path, redis_url, redis_client, redis_prefix)
    assert zes("migrate", env=env).returncode == 0  # no other command creates the database
    added = zes(
        "user",
        "add",
        "anna",
        "--municipality",
        "Utrecht",
        "--password-stdin",
        env=env,
        stdin="a long password 1\n",
    )
    assert added.returncode == 0, added.stderr
    assert "user anna added (reviewer" in added.stdout
    short = zes(
        "user",
        "add",
        "bart",
        "--municipality",
        "Utrecht",
        "--password-stdin",
        env=env,
        stdin="short\n",
    )
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    assert zes("user", "add", "boss", "--role", "supervisor", "--all-municipalities",
               "--password-stdin", env=env,
               stdin="another long password\n").returncode == 0  # fmt: skip

    _anna_confirms_one_case(tmp_path)

    first = zes("export", "--actor", "carla.boa", env=env)
    assert first.returncode == 0, first.stderr
    assert "fine batch 1 of Utrecht: 1 cases" in first.stdout
    again = zes("export", env=env)
    assert "nothing new to export" in again.stdout
    batch = tmp_path / "exports" / "zes-fines-utrecht-000001.csv"
    assert batch.read_text().count("VNB12X") == 2
    manifest = batch.with_suffix(".json")

    with sqlite3.connect(tmp_path / "cases.db") as db:
        actors = dict(db.execute("SELECT action, actor FROM audit_log WHERE action LIKE 'export%'"))
    assert actors == {"export": "carla.boa", "export_reserve": "carla.boa"}  # not `cli`

    anchor = zes("audit", "anchor", env=env)
    assert anchor.returncode == 0, anchor.stderr
    line = json.loads(anchor.stdout)
    assert set(line) == {"count", "head"} and line["count"] >= 5
    (tmp_path / "anchor.json").write_text(anchor.stdout)
    verified = zes("audit", "verify", "--anchor", str(tmp_path / "anchor.json"), env=env)
    assert verified.returncode == 0 and "audit chain intact" in verified.stdout
    assert zes("audit", "verify", "--anchor", str(manifest), env=env).returncode == 0

    with sqlite3.connect(tmp_path / "cases.db") as db:
        (original,) = db.execute("SELECT actor FROM audit_log WHERE seq = 2").fetchone()
        db.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    broken = zes("audit", "verify", env=env)
    assert broken.returncode == 1 and "BROKEN at entry 2" in broken.stdout
    with sqlite3.connect(tmp_path / "cases.db") as db:
        db.execute("UPDATE audit_log SET actor = ? WHERE seq = 2", (original,))
        # The two newest entries deleted and the head moved back to the one before.
        seq, digest = db.execute(
            "SELECT seq, hash FROM audit_log WHERE seq = (SELECT max(seq) - 2 FROM audit_log)"
        ).fetchone()
        db.execute("DELETE FROM audit_log WHERE seq > ?", (seq,))
        db.execute("UPDATE audit_head SET seq = ?, hash = ?", (seq, digest))
    assert zes("audit", "verify", env=env).returncode == 0  # consistent without the anchor
    cut = zes("audit", "verify", "--anchor", str(tmp_path / "anchor.json"), env=env)
    assert cut.returncode == 1 and f"BROKEN at entry {seq + 1}" in cut.stdout

    purged = zes("purge", env=env)
    assert purged.returncode == 0 and purged.stdout.startswith("purged: 0 evidence items")
    assert "VNB12X" not in purged.stdout + purged.stderr
    with sqlite3.connect(tmp_path / "cases.db") as db:
        (who,) = db.execute("SELECT actor FROM audit_log WHERE action = 'purge'").fetchone()
    assert who == getpass.getuser()  # the operating-system user by default
    disabled = zes("user", "disable", "anna", env=env)
    assert disabled.returncode == 0 and "user anna disabled" in disabled.stdout


def test_a_wrong_audit_key_fails_verify_at_the_first_entry(tmp_path: Path) -> None:
    env = {"ZES_WORK_DIR": str(tmp_path), "ZES_CASES_AUDIT_KEY": AUDIT_KEY.hex()}
    assert zes("migrate", env=env).returncode == 0
    assert zes("user", "add", "anna", "--municipality", "Utrecht", "--password-stdin", env=env,
               stdin="a long password 1\n").returncode == 0  # fmt: skip
    other = {**env, "ZES_CASES_AUDIT_KEY": KEY.hex()}
    result = zes("audit", "verify", env=other)
    assert result.returncode == 1 and "BROKEN at entry 1" in result.stdout
    assert "ZES_CASES_AUDIT_KEY" in result.stdout


def test_outcome_import_and_dossier_from_the_command_line(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, redis_prefix: str
) -> None:
    env = _env_with_the_van_registered(
        tmp_path, redis_url, redis_client, redis_prefix, ZES_CASES_EVIDENCE_KEY=KEY.hex()
    )
    assert zes("migrate", env=env).returncode == 0  # no other command creates the database
    assert zes("user", "add", "anna", "--municipality", "Utrecht", "--password-stdin", env=env,
               stdin="a long password 1\n").returncode == 0  # fmt: skip
    _anna_confirms_one_case(tmp_path)
    assert zes("export", env=env).returncode == 0

    key = violation("VNB12X").case_key
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "case_reference,status,reason_code,date\n"
        f"{key},paid,,2026-03-20\nVNB99Z:utrecht:2026-03-02,paid,,2026-03-20\n"
    )
    refused = zes("outcome", "import", str(bad), env=env)
    assert refused.returncode == 1
    assert "line 3: no case with this case_reference" in refused.stderr
    assert "VNB99Z" not in refused.stdout + refused.stderr
    good = tmp_path / "cjib.csv"
    good.write_text(
        "batch_file,batch_line,status,reason_code,date\n"
        "zes-fines-utrecht-000001.csv,1,objection,,2026-03-20\n"
    )
    first = zes("outcome", "import", str(good), env=env)
    assert first.returncode == 0, first.stderr
    assert "1 rows, 1 outcomes recorded, 0 recorded before" in first.stdout
    assert "0 outcomes recorded, 1 recorded before" in zes("outcome", "import", str(good),
                                                          env=env).stdout  # fmt: skip

    made = zes("dossier", "1", "--lang", "en", env=env)
    assert made.returncode == 0, made.stderr
    pdf = tmp_path / "dossiers" / "dossier-1.pdf"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_mode & 0o077 == 0
    batch = zes("dossier", "--batch", "1", "--out", str(tmp_path / "b"), env=env)
    assert batch.returncode == 0, batch.stderr
    assert (tmp_path / "b" / "dossier-1.pdf").is_file()
    assert zes("dossier", "9", env=env).returncode == 2
    with sqlite3.connect(tmp_path / "cases.db") as db:
        (made_n,) = db.execute("SELECT count(*) FROM audit_log WHERE action = 'dossier'").fetchone()
        (status,) = db.execute("SELECT status FROM cases").fetchone()
    assert (made_n, status) == (2, "objection")


WRITERS = [
    ["user", "add", "anna", "--municipality", "Utrecht", "--password-stdin"],
    ["user", "disable", "anna"],
    ["user", "reset-totp", "anna"],
    ["user", "enable", "anna"],
    ["user", "reset-password", "anna", "--password-stdin"],
    ["user", "provision-totp", "anna"],
    ["export"],
    ["purge"],
]


@pytest.mark.parametrize("argv", WRITERS, ids=lambda a: " ".join(a[:2]))
@pytest.mark.parametrize("key", ["missing", "development"])
def test_every_command_that_writes_the_audit_refuses_a_development_key_without_dev(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    key: str,
) -> None:
    """Issue 23: `user add` and `export` fell back to the published development audit key
    when none was set, with no --dev and no warning."""
    from enforcement.keys import DEV_AUDIT_KEY
    from zes.cli import main

    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("ZES_WORK_DIR", str(tmp_path))
    monkeypatch.delenv("ZES_CASES_AUDIT_KEY", raising=False)
    if key == "development":
        monkeypatch.setenv("ZES_CASES_AUDIT_KEY", DEV_AUDIT_KEY)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("a long password 1\n"))
    assert main(["enforce", *argv]) == 2
    err = capsys.readouterr().err
    assert "refuses to start: ZES_CASES_AUDIT_KEY is a published development value" in err
    assert not (tmp_path / "cases.db").exists()  # refused before the database was touched


def test_dev_allows_the_development_audit_key_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from zes.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZES_WORK_DIR", str(tmp_path))
    monkeypatch.delenv("ZES_CASES_AUDIT_KEY", raising=False)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("a long password 1\n"))
    assert main(["enforce", "migrate"]) == 0  # no other command creates the database
    argv = ["enforce", "user", "add", "anna", "--municipality", "Utrecht", "--password-stdin"]
    assert main([*argv, "--dev"]) == 0
    assert "ZES_CASES_AUDIT_KEY is a published development value" in caplog.text


def test_verify_says_what_it_did_not_check(tmp_path: Path) -> None:
    """Issue 23: without --anchor an emptied log verified as "intact"."""
    env = {"ZES_WORK_DIR": str(tmp_path), "ZES_CASES_AUDIT_KEY": AUDIT_KEY.hex()}
    assert zes("migrate", env=env).returncode == 0
    empty = zes("audit", "verify", env=env)
    assert empty.returncode == 1 and "audit log EMPTY" in empty.stdout
    assert "intact" not in empty.stdout
    assert zes("user", "add", "anna", "--municipality", "Utrecht", "--password-stdin", env=env,
               stdin="a long password 1\n").returncode == 0  # fmt: skip
    unanchored = zes("audit", "verify", env=env)
    assert unanchored.returncode == 0
    assert "truncation NOT checked" in unanchored.stdout and "intact" not in unanchored.stdout
    (tmp_path / "anchor.json").write_text(zes("audit", "anchor", env=env).stdout)
    anchored = zes("audit", "verify", "--anchor", str(tmp_path / "anchor.json"), env=env)
    assert anchored.returncode == 0 and "intact: 1 entries, reaching the anchor" in anchored.stdout
