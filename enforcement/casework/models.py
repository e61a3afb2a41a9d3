"""The case database's tables (SQLAlchemy 2). Changes go through an Alembic migration.

A *case* is one sanction: plate + zone + sanction interval (the stream's `case_key`). Each
violating passage of it is a *sighting*. Evidence images are stored once, content-addressed
by SHA-256 and encrypted (`evidence_blobs`); `evidence_items` says which passage they show.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no offset; R39 wants UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store aware UTC instants only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}  # noqa: RUF012


class CaseStatus(StrEnum):
    OPEN = "open"
    """Waiting for a reviewer (after the grace period)."""
    CONFIRMED = "confirmed"
    """A reviewer confirmed the violation; waits for a second reviewer (four-eyes)."""
    APPROVED = "approved"
    """Ready for export to the fine authority (fine) or as a warning letter."""
    ESCALATED = "escalated"
    """Sent to a supervisor."""
    REJECTED = "rejected"
    """No sanction: misread, exemption found, out of scope, unreadable, other."""
    CLOSED = "closed"
    """Closed without a reviewer's verdict, e.g. an exemption granted after the passage."""
    EXPORTED = "exported"
    """In an export batch; never exported again."""
    # What the fine authority, the public prosecutor or the judge reported back after the
    # export (enforcement.casework.outcomes); each is a `CaseOutcome` row as well.
    OBJECTION = "objection"
    """The owner objected (beroep at the public prosecutor or the cantonal judge): open; such
    a case is never purged."""
    ANNULLED = "annulled"
    """The sanction was annulled (objection granted, or withdrawn by the prosecutor)."""
    UPHELD = "upheld"
    """The objection was dismissed: the sanction stands."""
    PAID = "paid"
    """The fine authority reported the sanction paid."""
    WITHDRAWN = "withdrawn"
    """The municipality withdrew the sanction itself."""


#: Statuses where a reviewer still has work to do.
ACTIVE_STATUSES = (CaseStatus.OPEN, CaseStatus.CONFIRMED, CaseStatus.ESCALATED)
ACTIVE_SQL = "status IN ('open', 'confirmed', 'escalated')"
#: Statuses after the export: what came back (an outcome may follow another one).
OUTCOME_STATUSES = (
    CaseStatus.OBJECTION,
    CaseStatus.ANNULLED,
    CaseStatus.UPHELD,
    CaseStatus.PAID,
    CaseStatus.WITHDRAWN,
)


class RejectReason(StrEnum):
    MISREAD = "misread"
    EXEMPTION_FOUND = "exemption_found"
    OUT_OF_SCOPE = "out_of_scope"
    UNREADABLE = "unreadable"
    OTHER = "other"


class Role(StrEnum):
    REVIEWER = "reviewer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    POLICY = "policy"
    """Policy staff: the flow statistics only, never a case, plate or image."""
    PERMITS = "permits"
    """The exemption desk's officers: applications of their municipalities, never a case."""


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_key: Mapped[str] = mapped_column(String(128), unique=True)
    plate: Mapped[str] = mapped_column(String(16), index=True)
    zone_id: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    """`violation` or `undetermined` as the stream decided it."""
    needs_identification: Mapped[bool] = mapped_column(Boolean, default=False)
    """Undetermined: a person must identify the vehicle before anything else."""
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN.value)
    vehicle_class: Mapped[str | None] = mapped_column(String(32))
    sanction_kind: Mapped[str] = mapped_column(String(16))
    """`fine` or `warning` (the zone's warning period) or `none` (undetermined)."""
    amount_eur: Mapped[int | None] = mapped_column(Integer)
    admin_costs_eur: Mapped[int | None] = mapped_column(Integer)
    rule_ids: Mapped[str] = mapped_column(String(255))
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The opening violation record as JSON (rules with sentences, vehicle facts, exemptions
    considered, reads): what the stream knew when it decided."""
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    sightings_count: Mapped[int] = mapped_column(Integer, default=1)
    reviewable_after: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claim_expires_at: Mapped[datetime | None]
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reject_reason: Mapped[str | None] = mapped_column(String(32))
    reject_text: Mapped[str | None] = mapped_column(Text)
    close_reason: Mapped[str | None] = mapped_column(String(64))
    corrected_plate: Mapped[str | None] = mapped_column(String(16))
    correction: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The decision re-run for the corrected plate (rule ids, outcome, sentences)."""
    export_batch_id: Mapped[int | None] = mapped_column(ForeignKey("export_batches.id"))
    evidence_seal: Mapped[str | None] = mapped_column(String(16))
    """Set when an image of the case failed its seal check (`invalid`, `unsigned`, `no_key`,
    see enforcement.evidence_seal): the reviewer must not rely on it. None: all verified or
    no keys configured."""
    outcome_at: Mapped[datetime | None]
    """When the newest outcome came back (recorded), for retention; None before any."""

    __table_args__ = (
        # The queue pages: by status (and zone), oldest first. The default queue (every
        # status with work to do) reads a partial index in order: with an IN list over the
        # status index PostgreSQL sorted half a million rows per page (292 ms at 1M cases).
        Index("ix_cases_queue", "status", "first_seen_at", "id"),
        Index(
            "ix_cases_active",
            "first_seen_at",
            "id",
            postgresql_where=text(ACTIVE_SQL),
            sqlite_where=text(ACTIVE_SQL),
        ),
        Index("ix_cases_zone_status", "zone_id", "status", "first_seen_at", "id"),
    )


class Sighting(Base):
    __tablename__ = "sightings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    passage_id: Mapped[str] = mapped_column(String(36), unique=True)
    seen_at: Mapped[datetime]
    site_id: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(64))
    plate_raw: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float]
    first_sighting: Mapped[bool] = mapped_column(Boolean)
    char_confidences: Mapped[dict[str, Any]] = mapped_column(JSON)
    """{"chars": [...], "alternatives": [{"plate":…, "confidence":…}]}."""
    received_at: Mapped[datetime]


class EvidenceBlob(Base):
    """One image, encrypted (AES-256-GCM, nonce ‖ ciphertext); the key is its plaintext
    SHA-256, so the same image is stored once and integrity is checked on every read."""

    __tablename__ = "evidence_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[bytes] = mapped_column("sealed", LargeBinary)
    """Nonce + AES-256-GCM of the image (`EvidenceVault.encrypt`). The column keeps its first
    name: renaming it rewrites the largest table on SQLite for a word."""
    stored_at: Mapped[datetime]


class EvidenceItem(Base):
    """Which image shows which passage; `pending` while its violation has not arrived."""

    __tablename__ = "evidence_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    passage_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(ForeignKey("evidence_blobs.sha256"))
    captured_at: Mapped[datetime]
    received_at: Mapped[datetime]
    pending: Mapped[bool] = mapped_column(Boolean, default=False)
    seal: Mapped[str | None] = mapped_column(String(16))
    """The seal check at intake: valid, invalid, unsigned, no_key or unchecked."""
    time_sync: Mapped[str | None] = mapped_column(String(16))
    """The edge clock's state at capture (synchronized, unsynchronized, unknown); None from
    an edge that did not say (or an image stored before migration 0007)."""

    __table_args__ = (UniqueConstraint("passage_id", "kind", name="uq_evidence_items_passage"),)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    all_municipalities: Mapped[bool] = mapped_column(Boolean, default=False)
    """A regional account: every municipality's cases (else those of `user_municipalities`)."""
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    """The TOTP key (RFC 6238), encrypted with AES-GCM (`TotpCipher`); None until enrolled."""
    totp_wanted: Mapped[bool] = mapped_column(Boolean, default=False)
    """A reviewer who chose a second factor (supervisors and admins always need one)."""
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    """The time step of the last accepted code: a code is accepted once (RFC 6238 §5.2)."""


class UserMunicipality(Base):
    """The municipalities whose cases a user may see (each municipality is its own
    controller of its cases)."""

    __tablename__ = "user_municipalities"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    municipality: Mapped[str] = mapped_column(String(64), primary_key=True)


class WebSession(Base):
    """A review-app login, shared by every replica: the cookie names it, and it works only
    while its row is here, not ended, and used within the idle timeout."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 of the cookie's session id (the database never holds a usable id)."""
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class RateCounter(Base):
    """Events per key per fixed window (login failures, plate checks), shared by every
    replica; rows past `expires_at` are deleted as new ones come."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuditEntry(Base):
    """Append-only (a trigger on PostgreSQL); `hash` = HMAC-SHA256 under the audit key over
    the previous hash and this entry's fields (enforcement.casework.audit)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        # A dossier finds its batch's `export` entry (the manifest's anchor) by action and
        # instant: without it, a scan of the whole chain per dossier.
        Index("ix_audit_log_action_at", "action", "at"),
    )


class AuditHead(Base):
    """One row: the chain's last sequence number and hash. Appenders update it first, which
    takes a row lock (PostgreSQL) or the write lock (SQLite), so the chain never forks."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class ExportBatch(Base):
    __tablename__ = "export_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    cases: Mapped[int] = mapped_column(Integer)
    municipality: Mapped[str] = mapped_column(String(64), server_default="")
    """Each municipality is its own client of the fine authority: its own batches."""

    __table_args__ = (
        UniqueConstraint("kind", "municipality", "number", name="uq_export_batches_number"),
    )


class ExportNumber(Base):
    """The last batch number handed out per kind and municipality, bumped and committed
    before a batch is written: a failed export burns its number, never reuses it."""

    __tablename__ = "export_numbers"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    municipality: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class FailedLoginName(Base):
    """The user name typed at a failed login, apart from the audit chain (whose entry holds
    a keyed digest only), so retention can remove it (`failed_login_days`)."""

    __tablename__ = "failed_login_names"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    username: Mapped[str] = mapped_column(String(64))
    audit_seq: Mapped[int] = mapped_column(BigInteger)


class RetiredCases(Base):
    """Anonymous counts of the rejected and closed cases retention removed: per local day
    first seen, zone, status and reason; no plate, place or time of day."""

    __tablename__ = "retired_cases"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    zone_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    reason: Mapped[str] = mapped_column(String(64), primary_key=True)
    cases: Mapped[int] = mapped_column(Integer)
    sightings: Mapped[int] = mapped_column(Integer)


class ApplicationStatus(StrEnum):
    REVIEW = "review"
    """In the desk's queue: an officer decides."""
    APPROVING = "approving"
    """One officer granted; a second, different one must agree (four-eyes)."""
    GRANTED = "granted"
    REFUSED = "refused"


class ExemptionApplication(Base):
    """An application at a municipality's exemption desk (enforcement.exemptions.desk).

    It holds no more personal data than the decision needs: the plate, the type, the period,
    the trips stated where the type asks them, and the applicant's reason; no name, address
    or document. Purged `ZES_DESK_RETENTION_DAYS` after its decision (or after a grant's last
    day); `ExemptionTally` keeps its counts."""

    __tablename__ = "exemption_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    """The applicant's reference: random, so the status page cannot be guessed."""
    municipality: Mapped[str] = mapped_column(String(64), index=True)
    type_key: Mapped[str] = mapped_column(String(48))
    plate: Mapped[str] = mapped_column(String(16), index=True)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    trips_per_year: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime]
    policy_code: Mapped[str] = mapped_column(String(32))
    """What the policy said when it arrived (`enforcement.exemptions.decision`)."""
    status: Mapped[str] = mapped_column(String(16), index=True)
    code: Mapped[str | None] = mapped_column(String(32))
    """The decision's reason code (the policy's or the officer's)."""
    code_args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The facts its sentence names (`enforcement.exemptions.decision.sentence`)."""
    officer_note: Mapped[str] = mapped_column(Text, default="")
    first_officer_id: Mapped[int | None] = mapped_column(Integer)
    """Four-eyes: the officer who granted first."""
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    """`policy` or the officer's user name."""
    fee_cents: Mapped[int | None] = mapped_column(Integer)
    exemption_reference: Mapped[str | None] = mapped_column(String(64))
    """The reference the grant carries in the register (its source: the desk)."""
    purge_after: Mapped[date | None] = mapped_column(Date, index=True)


class ExemptionTally(Base):
    """Applications, grants and refusals per municipality, type and month: what remains of
    an application after retention, and what the policy view shows."""

    __tablename__ = "exemption_tallies"

    municipality: Mapped[str] = mapped_column(String(64), primary_key=True)
    type_key: Mapped[str] = mapped_column(String(48), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    """The first day of the local month the application arrived in."""
    received: Mapped[int] = mapped_column(Integer, default=0)
    granted: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    automatic: Mapped[int] = mapped_column(Integer, default=0)
    """Of the decisions, those the policy took itself."""


class CaseOutcome(Base):
    """One thing that happened to an exported case at the fine authority, the public
    prosecutor or the judge (paid, objection, annulled, upheld, withdrawn): imported from
    their file or entered by a supervisor. A case, status and date is one event, so an import
    run twice adds nothing."""

    __tablename__ = "case_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str] = mapped_column(String(32), default="")
    """The authority's reason code (e.g. `misread`, `exemption`, `late_permit`); may be empty."""
    decided_on: Mapped[date] = mapped_column(Date)
    """The date the authority gives for the outcome."""
    recorded_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(80))
    """`hand`, or the imported file's name and line (`outcomes-2026-03.csv:14`)."""

    __table_args__ = (
        UniqueConstraint("case_id", "status", "decided_on", name="uq_case_outcomes_event"),
    )
