"""Settings of the case database, intake, review app and export (`ZES_CASES_*`), frozen."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from enforcement.keys import (
    DEV_AUDIT_KEY,
    DEV_EVIDENCE_KEY,
    DEV_SESSION_SECRET,
    KeyFormatError,
    KeySetting,
    decode_key,
    key_bytes,
)
from enforcement.settings import (
    ConfigError,
    Settings,
    load_role_settings,
    role_settings_config,
)

__all__ = [
    "DEV_AUDIT_KEY",
    "DEV_EVIDENCE_KEY",
    "DEV_SESSION_SECRET",
    "CaseSettings",
    "intake_keys",
    "load_case_settings",
    "require_seal_keys",
    "review_keys",
]


class CaseSettings(BaseSettings):
    model_config = role_settings_config("ZES_CASES_")

    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the case database; default a SQLite file "
        "WORK_DIR/cases.db (embedded). Production: postgresql+psycopg://…",
    )
    app_role: str | None = Field(
        None,
        description="PostgreSQL: the role the processes connect as. `zes enforce migrate`, run "
        "as the owner role, grants it the rows of every table and no ownership, so it cannot "
        "disable the audit log's trigger (deploy/postgres/roles.sql).",
    )
    evidence_key: SecretStr = Field(
        SecretStr(DEV_EVIDENCE_KEY),
        description="AES-256-GCM key of the evidence images at rest: exactly 32 random bytes "
        "as hex or base64 (a passphrase is refused).",
    )
    evidence_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Evidence signing key per edge site (site id -> hex or base64 of >= 32 "
        'random bytes, the site\'s evidence_key_file), as JSON: {"site-1": "9f3c..."}. Intake '
        "verifies each image's seal and flags the case on a mismatch. The intake refuses to "
        "start without them (--dev: images stored unchecked).",
    )
    session_secret: SecretStr = Field(
        SecretStr(DEV_SESSION_SECRET),
        description="Key that signs the review app's session cookies: 32+ random bytes as hex "
        "or base64.",
    )
    audit_key: SecretStr = Field(
        SecretStr(DEV_AUDIT_KEY),
        description="HMAC-SHA256 key of the audit chain: 32+ random bytes as hex or base64, "
        "kept outside the case database (whoever holds it can rewrite the chain).",
    )
    broker: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers (host:port,…).")
    violations_topic: str = Field("violations", description="Violation records from the stream.")
    evidence_topic: str = Field("evidence", description="Evidence images from the edge.")
    dead_letter_topic: str = Field(
        "violations-dead-letter", description="Records intake cannot read."
    )
    intake_group: str = Field("zes-intake", description="Consumer group of the intake.")
    intake_batch: int = Field(500, ge=1, description="Records per intake transaction.")
    session_timeout_s: float = Field(6.0, gt=0, description="Consumer group session timeout.")
    evidence_hold_hours: float = Field(
        6.0,
        gt=0,
        description="Evidence that arrives before its violation is held (encrypted) this long; "
        "evidence of compliant passages never gets a case and is purged after it.",
    )
    grace_minutes: int = Field(
        60,
        ge=0,
        description="A case becomes reviewable this long after its first sighting, so late "
        "exemptions (day permits applied for afterwards) can arrive first.",
    )
    claim_minutes: int = Field(15, ge=1, description="A reviewer's claim on a case expires.")
    four_eyes: bool = Field(
        True, description="A confirmed case needs a second reviewer's approval before export."
    )
    four_eyes_zones: dict[str, bool] = Field(
        default_factory=dict, description="Per-zone override of four_eyes (zone id → on/off)."
    )
    retention_days: int = Field(
        28,
        ge=0,
        description="Rejected and closed cases (their sightings and evidence) are purged this "
        "many days after they closed; anonymous daily counts stay.",
    )
    retention_exported_days: int = Field(
        1826,
        ge=0,
        description="Exported cases (sightings, evidence, outcomes) are purged this many days "
        "after their last outcome came back (after their export if none did); a case under "
        "objection never. Default 5 years (1826 days): the practice of keeping violation "
        "photos 5 years that Dutch camera-enforcement operators base on the OM's 'Beleidskader "
        "flitspalen, snelheid, roodlicht en handhaven gesloten verklaring' (CVOM, 2015-06-04); "
        "see deploy/README.md. Set your own from your DPIA.",
    )
    failed_login_days: float = Field(
        7.0,
        gt=0,
        description="User names typed at failed logins (often a mistyped password) are "
        "removed after this many days (the audit chain holds a keyed digest only).",
    )
    dead_letter_max_bytes: int = Field(
        512 * 1024,
        ge=1024,
        description="A dead letter whose payload is larger carries a reference (topic, "
        "partition, offset, SHA-256, size, error) instead; Kafka's default limit is 1 MiB.",
    )
    export_dir: Path | None = Field(
        None, description="Where export batches go; default WORK_DIR/exports."
    )
    host: str = Field("127.0.0.1", description="Review app address (loopback by default).")
    port: int = Field(8080, ge=0, le=65535, description="Review app port.")
    cookie_secure: bool = Field(
        True, description="Session cookie only over HTTPS (browsers treat localhost as secure)."
    )
    session_hours: float = Field(10.0, gt=0, description="A login lasts at most this long.")
    idle_minutes: float = Field(
        30.0, gt=0, description="A login ends after this many minutes without a request."
    )
    login_attempts: int = Field(
        5,
        ge=1,
        description="Failed logins per window: an address with this many is refused; a user "
        "name with this many gets a growing delay per attempt (never a refusal).",
    )
    login_window_s: float = Field(300.0, gt=0, description="Login rate-limit window, seconds.")
    login_account_per_hour: int = Field(
        20,
        ge=1,
        description="Password attempts per user name per hour from every address together "
        "(ASVS 2.2.1); more are refused (429) until the hour has passed. A success does not "
        "count.",
    )
    login_delay_s: float = Field(
        2.0, ge=0, description="First delay for a user name past login_attempts; doubles."
    )
    login_max_delay_s: float = Field(
        30.0, ge=0, description="Longest delay per login attempt of one user name."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="CIDR list of reverse proxies whose X-Forwarded-For names the client "
        "(e.g. ['127.0.0.1/32', '10.42.0.0/16']); from any other peer the header is ignored.",
    )
    platecheck_per_minute: int = Field(
        30, ge=1, description="Public plate checks per client address per minute."
    )
    platecheck_global_per_minute: int = Field(
        600,
        ge=1,
        description="Public plate checks per minute from all addresses together (a botnet of "
        "many addresses); beyond it every client gets 429 for the rest of the minute.",
    )
    flows_api_per_minute: int = Field(
        30,
        ge=1,
        description="Open flow data requests (/api/v1/flows) per client address per minute.",
    )
    hsts_seconds: int = Field(
        31_536_000,
        ge=0,
        description="Strict-Transport-Security max-age on every response (a year); 0 leaves "
        "the header out, for a deployment whose TLS proxy sets it itself.",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address of the intake's and review app's /metrics endpoints (0.0.0.0 only "
        "inside a container network).",
    )
    intake_metrics_port: int = Field(9103, ge=0, le=65535, description="Intake /metrics port.")
    review_metrics_port: int = Field(9104, ge=0, le=65535, description="Review /metrics port.")
    lang: str = Field("nl", pattern="^(nl|en)$", description="Default interface language.")

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an address or CIDR network") from None
        return value

    def url(self, work_dir: Path) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(work_dir / 'cases.db').resolve()}"

    def exports(self, work_dir: Path) -> Path:
        return self.export_dir or work_dir / "exports"

    @property
    def evidence_key_setting(self) -> KeySetting:
        return KeySetting("ZES_CASES_EVIDENCE_KEY", self.evidence_key, exact_bytes=32)

    @property
    def session_key_setting(self) -> KeySetting:
        return KeySetting("ZES_CASES_SESSION_SECRET", self.session_secret)

    @property
    def audit_key_setting(self) -> KeySetting:
        return KeySetting("ZES_CASES_AUDIT_KEY", self.audit_key)

    def evidence_seal_keys(self) -> dict[str, bytes]:
        """The sites' evidence signing keys as bytes; a malformed one is a ConfigError."""
        try:
            return {
                site: decode_key(k.get_secret_value()) for site, k in self.evidence_keys.items()
            }
        except KeyFormatError as exc:
            raise ConfigError(f"setting ZES_CASES_EVIDENCE_KEYS: {exc}") from None

    def evidence_cipher_key(self) -> bytes:
        """The decoded AES-256 key (a passphrase raises `ConfigError`)."""
        return _decoded(self.evidence_key_setting)

    def audit_hmac_key(self) -> bytes:
        return _decoded(self.audit_key_setting)

    def four_eyes_for(self, zone_id: str) -> bool:
        return self.four_eyes_zones.get(zone_id, self.four_eyes)


def review_keys(settings: Settings, cases: CaseSettings) -> list[KeySetting]:
    """What the review app signs, seals and hashes with (its start-up check)."""
    return [
        cases.session_key_setting,
        cases.evidence_key_setting,
        cases.audit_key_setting,
        settings.hash_key,
    ]


def intake_keys(cases: CaseSettings) -> list[KeySetting]:
    """What the intake seals evidence with (its start-up check)."""
    return [cases.evidence_key_setting]


def require_seal_keys(cases: CaseSettings, *, dev: bool) -> None:
    """The intake's second start-up check: without the sites' evidence signing keys every
    image would be stored "unchecked" and no case flagged, so outside `--dev` it refuses to
    start; with `--dev` it warns. A malformed key is refused either way."""
    cases.evidence_seal_keys()
    if cases.evidence_keys:
        return
    problem = (
        "ZES_CASES_EVIDENCE_KEYS is empty: no evidence seal could be checked (set the "
        'signing key of every edge site, as JSON {"site-1": "<hex>"})'
    )
    if not dev:
        raise ConfigError(f"the case intake refuses to start: {problem}, or pass --dev")
    logging.getLogger("zes.settings").warning("the case intake: %s (allowed by --dev)", problem)


def _decoded(setting: KeySetting) -> bytes:
    try:
        return key_bytes(setting)
    except KeyFormatError as exc:
        raise ConfigError(str(exc)) from None


def load_case_settings(**overrides: Any) -> CaseSettings:
    return load_role_settings(CaseSettings, **overrides)
