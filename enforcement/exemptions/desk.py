"""The municipal exemption desk: applications taken, decided and written to the register.

An application arrives from the public form (`submit`): the register facts are looked up at
once and the policy decides where it can (`enforcement.exemptions.decision.assess`);
otherwise it waits in the municipality's queue for a `permits` officer (`decide`), with
four-eyes where the type asks it. A grant is written to the register at once
(`enforcement.exemptions.grants.write_grants`) marked with its source, so the cameras, the
plate check and the case re-check honour it at their next lookup. Every step is audited
(the plate only as a keyed digest); `purge` removes applications past retention and keeps
their counts (`ExemptionTally`), which the policy view shows.
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from enforcement import plates
from enforcement.casework import audit
from enforcement.casework.models import (
    ApplicationStatus,
    ExemptionApplication,
    ExemptionTally,
    User,
)
from enforcement.exemptions.decision import Application, Assessment, Verdict, assess, fee_cents
from enforcement.exemptions.files import load_policies
from enforcement.exemptions.grants import SOURCE_NOTE, ExemptionWriter, write_grants
from enforcement.exemptions.policy import MunicipalPolicy
from enforcement.exemptions.settings import DeskSettings
from enforcement.model import LOCAL_TZ, Exemption, ExemptionStatus, Vehicle, Zone, fold_name
from enforcement.platecheck import PlateInputError, normalise_input
from enforcement.register.protocol import Register, RegisterUnavailable

log = logging.getLogger("zes.desk")

#: Reason codes an officer refuses with (their sentences are in `decision.SENTENCES`).
REFUSE_CODES: Final = (
    "evidence_missing",
    "conditions_not_met",
    "alternative_available",
    "other",
)
APPLICANT = "applicant"
POLICY = "policy"
REASON_MAX = 500
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud over the phone


class DeskError(ValueError):
    """A request the desk cannot take: `key` is a UI text key (`desk_error_<key>`)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True, slots=True)
class RegisterFacts:
    """What the register says about one plate: the vehicle, its exemptions, or an outage."""

    vehicle: Vehicle | None
    exemptions: tuple[Exemption, ...]
    up: bool


@dataclass(frozen=True, slots=True)
class Desk:
    """The desk of every municipality with a policy file."""

    policies: Mapping[str, MunicipalPolicy]
    """By URL slug (`den-haag`)."""
    zones: Sequence[Zone]
    register: Register
    writer: ExemptionWriter
    retention_days: int
    applications_per_minute: int = 5
    """Public form posts per client address a minute (status look-ups get six times it)."""

    def policy(self, slug: str) -> MunicipalPolicy | None:
        return self.policies.get(slug)

    def policy_of(self, municipality: str) -> MunicipalPolicy | None:
        key = fold_name(municipality)
        return next((p for p in self.policies.values() if fold_name(p.municipality) == key), None)

    def zones_of(self, municipality: str) -> list[Zone]:
        key = fold_name(municipality)
        return [z for z in self.zones if fold_name(z.municipality) == key]

    def facts(self, plate: str) -> RegisterFacts:
        try:
            view = self.register.lookup([plate], at=None)
        except RegisterUnavailable:
            return RegisterFacts(None, (), False)
        return RegisterFacts(view.vehicles.get(plate), view.exemptions.get(plate, ()), True)

    def assess(
        self, policy: MunicipalPolicy, application: Application, facts: RegisterFacts, today: date
    ) -> Assessment:
        return assess(
            policy,
            application,
            facts.vehicle,
            self.zones_of(policy.municipality),
            today=today,
            granted_this_year=granted_in_year(
                facts.exemptions, application.type_key, policy.municipality,
                application.first_day.year,
            ),
            register_up=facts.up,
        )  # fmt: skip


def granted_in_year(
    exemptions: Sequence[Exemption], type_key: str, municipality: str, year: int
) -> int:
    """Grants of this type for the plate in this municipality starting in `year` (distinct
    first days: a re-loaded file and the desk's own record of one grant count once)."""
    key = fold_name(municipality)
    return len(
        {
            e.starts_at.astimezone(LOCAL_TZ).date()
            for e in exemptions
            if e.type == type_key
            and e.status is ExemptionStatus.GRANTED
            and fold_name(e.scope) == key
            and e.starts_at is not None
            and e.starts_at.astimezone(LOCAL_TZ).year == year
        }
    )


def new_reference(policy: MunicipalPolicy) -> str:
    """`AMS-7KQ2-M9XP-3TRA`: 60 random bits, so a status page cannot be found by guessing."""
    token = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    prefix = "".join(ch for ch in policy.slug.upper() if ch.isalpha())[:3] or "ZES"
    return f"{prefix}-{token[:4]}-{token[4:8]}-{token[8:]}"


def stored_args(args: Mapping[str, object]) -> dict[str, object]:
    """A sentence's facts as JSON keeps them (a vehicle class as its value)."""
    return {k: v.value if isinstance(v, enum.Enum) else v for k, v in args.items()}


def _month(at: datetime) -> date:
    return at.astimezone(LOCAL_TZ).date().replace(day=1)


def _tally(session: Session, row: ExemptionApplication, **counts: int) -> None:
    """Add to the month's counts of the application's municipality and type."""
    key = (row.municipality, row.type_key, _month(row.submitted_at))
    tally = session.get(ExemptionTally, key)
    if tally is None:
        tally = ExemptionTally(
            municipality=key[0], type_key=key[1], month=key[2],
            received=0, granted=0, refused=0, automatic=0,
        )  # fmt: skip
        session.add(tally)
        session.flush()
    session.execute(
        update(ExemptionTally)
        .where(
            ExemptionTally.municipality == key[0],
            ExemptionTally.type_key == key[1],
            ExemptionTally.month == key[2],
        )
        .values({getattr(ExemptionTally, name): getattr(ExemptionTally, name) + n
                 for name, n in counts.items()})
    )  # fmt: skip


def grant_of(row: ExemptionApplication, policy: MunicipalPolicy) -> Exemption:
    """The register record of a granted application: scope the municipality, its source in
    the reference and the note. A day permit is written with its whole R22 window (D 00:00
    to D+1 06:00) rather than as a date: the register's lookup at an instant (the plate
    check, the case re-check) selects records by their stored window, so a date-only permit
    would be missed in its tail."""
    reference = f"desk/{policy.slug}/{row.id}"
    if policy.types[row.type_key].rule == "R22":
        return Exemption.day_permit(
            row.plate, policy.municipality, row.first_day, reference=reference, note=SOURCE_NOTE
        )
    return Exemption.for_dates(
        row.plate, row.type_key, policy.municipality, row.first_day, row.last_day,
        reference=reference, note=SOURCE_NOTE,
    )  # fmt: skip


def _detail(session: Session, row: ExemptionApplication, **more: object) -> dict[str, object]:
    return {
        "application": row.id,
        "municipality": row.municipality,
        "type": row.type_key,
        "plate": audit.digest(session, row.plate),
        **more,
    }


def _retained_until(row: ExemptionApplication, retention_days: int, today: date) -> date:
    """Kept `retention_days` after the decision, or after a grant's last day."""
    base = max(today, row.last_day) if row.status == ApplicationStatus.GRANTED else today
    return base + timedelta(days=retention_days)


def _grant(
    session: Session,
    desk: Desk,
    row: ExemptionApplication,
    policy: MunicipalPolicy,
    vehicle: Vehicle | None,
    *,
    actor: str,
    code: str,
    now: datetime,
) -> None:
    """Write the grant to the register, then mark the row (one transaction with the audit).
    A register outage raises `RegisterUnavailable` before anything changes."""
    exemption = grant_of(row, policy)
    write_grants(desk.writer, [exemption])
    row.status = ApplicationStatus.GRANTED
    row.code = code
    row.decided_at = now
    row.decided_by = actor
    row.fee_cents = fee_cents(policy.types[row.type_key], vehicle)
    row.exemption_reference = exemption.reference
    row.purge_after = _retained_until(row, desk.retention_days, now.astimezone(LOCAL_TZ).date())
    _tally(session, row, granted=1, automatic=int(actor == POLICY))
    audit.append(
        session, actor, "desk_grant",
        detail=_detail(session, row, code=code, register_reference=exemption.reference),
        at=now,
    )  # fmt: skip


def _refuse(
    session: Session, desk: Desk, row: ExemptionApplication, *, actor: str, code: str,
    now: datetime, args: Mapping[str, object] | None = None,
) -> None:  # fmt: skip
    row.status = ApplicationStatus.REFUSED
    row.code = code
    row.code_args = stored_args(args or {})
    row.decided_at = now
    row.decided_by = actor
    row.purge_after = _retained_until(row, desk.retention_days, now.astimezone(LOCAL_TZ).date())
    _tally(session, row, refused=1, automatic=int(actor == POLICY))
    audit.append(session, actor, "desk_refuse", detail=_detail(session, row, code=code), at=now)


def submit(
    session: Session,
    desk: Desk,
    policy: MunicipalPolicy,
    *,
    plate_text: str,
    type_key: str,
    first_day: date,
    last_day: date,
    reason: str,
    trips_per_year: int | None,
    now: datetime,
) -> ExemptionApplication:
    """Take one application; the policy decides it at once where it can. Raises `DeskError`
    for a form that cannot be taken (no plate, a period that ends before it starts, a type
    the municipality does not handle, a reason too long)."""
    try:
        plate = normalise_input(plate_text)
    except PlateInputError:
        raise DeskError("plate") from None
    if type_key not in policy.types:
        raise DeskError("type")
    if last_day < first_day:
        raise DeskError("period")
    if len(reason) > REASON_MAX:
        raise DeskError("reason")
    if trips_per_year is not None and not 0 <= trips_per_year <= 100_000:
        raise DeskError("trips")
    application = Application(plate, type_key, first_day, last_day, trips_per_year)
    facts = desk.facts(plate)
    verdict = desk.assess(policy, application, facts, now.astimezone(LOCAL_TZ).date())
    row = ExemptionApplication(
        reference=new_reference(policy),
        municipality=policy.municipality,
        type_key=type_key,
        plate=plate,
        first_day=first_day,
        last_day=last_day,
        trips_per_year=trips_per_year,
        reason=reason.strip(),
        submitted_at=now,
        policy_code=verdict.code,
        status=ApplicationStatus.REVIEW,
        code_args={},
        officer_note="",
    )
    session.add(row)
    session.flush()
    _tally(session, row, received=1)
    audit.append(
        session, APPLICANT, "desk_apply",
        detail=_detail(session, row, verdict=verdict.verdict.value, code=verdict.code),
        at=now,
    )  # fmt: skip
    if verdict.verdict is Verdict.REFUSED:
        _refuse(session, desk, row, actor=POLICY, code=verdict.code, now=now, args=verdict.args)
    elif verdict.verdict is Verdict.GRANTED:
        try:
            _grant(
                session, desk, row, policy, facts.vehicle, actor=POLICY, code=verdict.code,
                now=now,
            )  # fmt: skip
        except RegisterUnavailable:
            row.policy_code = "register_unavailable"  # an officer grants it when it is back
    return row


def decide(
    session: Session,
    desk: Desk,
    row: ExemptionApplication,
    user: User,
    *,
    action: str,
    code: str,
    note: str,
    now: datetime,
) -> ExemptionApplication:
    """An officer's grant or refusal. Four-eyes: a type that asks it needs a second,
    different officer to grant after the first. Raises `DeskError` for a decision that
    cannot be taken and `RegisterUnavailable` when the grant cannot be written."""
    policy = desk.policy_of(row.municipality)
    if policy is None or row.type_key not in policy.types:
        raise DeskError("no_policy")
    if row.status not in (ApplicationStatus.REVIEW, ApplicationStatus.APPROVING):
        raise DeskError("decided")
    if len(note) > REASON_MAX:
        raise DeskError("reason")
    row.officer_note = note.strip()
    if action == "refuse":
        if code not in REFUSE_CODES:
            raise DeskError("code")
        _refuse(session, desk, row, actor=user.username, code=f"officer_{code}", now=now)
        return row
    if action != "grant":
        raise DeskError("action")
    if row.status == ApplicationStatus.APPROVING and row.first_officer_id == user.id:
        raise DeskError("four_eyes")
    if row.status == ApplicationStatus.REVIEW and policy.types[row.type_key].four_eyes:
        row.status = ApplicationStatus.APPROVING
        row.first_officer_id = user.id
        audit.append(
            session, user.username, "desk_grant_first", detail=_detail(session, row), at=now
        )
        return row
    facts = desk.facts(row.plate)
    if not facts.up:
        raise RegisterUnavailable("the register cannot be reached")
    _grant(session, desk, row, policy, facts.vehicle, actor=user.username,
           code="officer_grant", now=now)  # fmt: skip
    return row


def granted(session: Session, policy: MunicipalPolicy) -> list[Exemption]:
    """The municipality's granted exemptions (still held: not yet purged), as the register
    holds them, in a stable order (the export's)."""
    rows = session.scalars(
        select(ExemptionApplication)
        .where(
            ExemptionApplication.municipality == policy.municipality,
            ExemptionApplication.status == ApplicationStatus.GRANTED,
        )
        .order_by(ExemptionApplication.id)
    )
    return [grant_of(row, policy) for row in rows]


@dataclass(frozen=True, slots=True)
class DeskPurge:
    applications: int
    """Applications past retention removed (their counts stay in `exemption_tallies`)."""


def purge(session: Session, today: date, *, actor: str) -> DeskPurge:
    """Remove decided applications past their retention date; audited with the count."""
    removed = session.execute(
        delete(ExemptionApplication).where(
            ExemptionApplication.status.in_(
                [ApplicationStatus.GRANTED.value, ApplicationStatus.REFUSED.value]
            ),
            ExemptionApplication.purge_after.is_not(None),
            ExemptionApplication.purge_after < today,
        )
    )
    count = int(getattr(removed, "rowcount", 0) or 0)
    audit.append(session, actor, "desk_purge", detail={"applications": count})
    log.info("desk purge: %d applications past retention removed (counts kept)", count)
    return DeskPurge(count)


@dataclass(frozen=True, slots=True)
class TallyRow:
    municipality: str
    type_key: str
    month: date
    received: int
    granted: int
    refused: int
    automatic: int


def tallies(
    session: Session, municipalities: frozenset[str] | None, *, since: date | None = None
) -> list[TallyRow]:
    """Applications, grants and refusals by municipality, type and month (None: every
    municipality); the policy view's table."""
    query = select(ExemptionTally).order_by(
        ExemptionTally.municipality, ExemptionTally.month, ExemptionTally.type_key
    )
    if municipalities is not None:
        query = query.where(ExemptionTally.municipality.in_(sorted(municipalities)))
    if since is not None:
        query = query.where(ExemptionTally.month >= since)
    return [
        TallyRow(t.municipality, t.type_key, t.month, t.received, t.granted, t.refused,
                 t.automatic)
        for t in session.scalars(query)
    ]  # fmt: skip


def display_plate(row: ExemptionApplication) -> str:
    return plates.format_plate(row.plate)


def desk_from(
    zones: Sequence[Zone],
    desk_settings: DeskSettings,
    register: Register,
    writer: ExemptionWriter,
) -> Desk:
    """The desk of the policy folder the settings name; raises `PolicyError` (every problem)
    for a folder with problems, so a desk never runs on a half-read policy."""
    policies = load_policies(
        desk_settings.policy_dir, municipalities=frozenset(z.municipality for z in zones)
    )
    return Desk(
        policies, tuple(zones), register, writer, desk_settings.retention_days,
        desk_settings.applications_per_minute,
    )  # fmt: skip
