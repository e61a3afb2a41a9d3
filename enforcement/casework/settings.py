"""Settings of the case database, intake, review app and export (`ZES_CASES_*`), frozen."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from enforcement.settings import ConfigError, first_error

DEV_EVIDENCE_KEY = "zes-development-only-evidence-key"
DEV_SESSION_SECRET = "zes-development-only-session-secret"


class CaseSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ZES_CASES_", env_file=".env", frozen=True, extra="forbid"
    )

    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the case database; default a SQLite file "
        "WORK_DIR/cases.db (embedded). Production: postgresql+psycopg://…",
    )
    evidence_key: SecretStr = Field(
        SecretStr(DEV_EVIDENCE_KEY),
        description="Secret for encrypting evidence images at rest (AES-256-GCM; the key is "
        "SHA-256 of this text). Set a long random value in production.",
    )
    evidence_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Evidence signing key per edge site (site id -> hex or base64 of >= 32 "
        'random bytes, the site\'s evidence_key_file), as JSON: {"site-1": "9f3c..."}. Intake '
        "verifies each image's seal and flags the case on a mismatch. Empty: not checked.",
    )
    session_secret: SecretStr = Field(
        SecretStr(DEV_SESSION_SECRET),
        description="Secret that signs the review app's session cookies.",
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
        28, ge=0, description="Evidence of rejected and closed cases is purged after this."
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
    login_attempts: int = Field(
        5, ge=1, description="Failed logins per client address or user name per window."
    )
    login_window_s: float = Field(300.0, gt=0, description="Login rate-limit window, seconds.")
    platecheck_per_minute: int = Field(
        30, ge=1, description="Public plate checks per client address per minute."
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address of the intake's and review app's /metrics endpoints (0.0.0.0 only "
        "inside a container network).",
    )
    intake_metrics_port: int = Field(9103, ge=0, le=65535, description="Intake /metrics port.")
    review_metrics_port: int = Field(9104, ge=0, le=65535, description="Review /metrics port.")
    lang: str = Field("nl", pattern="^(nl|en)$", description="Default interface language.")

    def url(self, work_dir: Path) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(work_dir / 'cases.db').resolve()}"

    def exports(self, work_dir: Path) -> Path:
        return self.export_dir or work_dir / "exports"

    def evidence_seal_keys(self) -> dict[str, bytes]:
        """The sites' evidence signing keys as bytes; a malformed one is a ConfigError."""
        from enforcement.evidence_seal import SealKeyError, parse_key

        try:
            return {site: parse_key(k.get_secret_value()) for site, k in self.evidence_keys.items()}
        except SealKeyError as exc:
            raise ConfigError(f"setting ZES_CASES_EVIDENCE_KEYS: {exc}") from None

    def evidence_cipher_key(self) -> bytes:
        return hashlib.sha256(self.evidence_key.get_secret_value().encode()).digest()

    def four_eyes_for(self, zone_id: str) -> bool:
        return self.four_eyes_zones.get(zone_id, self.four_eyes)


def load_case_settings(**overrides: Any) -> CaseSettings:
    try:
        return CaseSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"setting {first_error(exc, 'ZES_CASES_')}") from None
