"""The officers' work on cases: the queue, claiming the next case, and the actions.

Every action checks the case's state (a stale form cannot act twice), writes its audit
entry in the same transaction and returns the case. Four-eyes: a confirmation needs a
second, different reviewer's approval before export (per zone, `CaseSettings.four_eyes_for`).
Never fine on doubt: a case whose register re-check cannot run is not closed or exported
by it, an undetermined case cannot be confirmed before the vehicle is identified, and no
case is confirmed unless the officer attests that the vehicle in the photo matches the one
the register describes (misreads and cloned plates). Notes typed with an action are stored
encrypted with the case (`casework.notes`), never in the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from enforcement.casework import audit, notes
from enforcement.casework.models import (
    ACTIVE_STATUSES,
    Case,
    CaseStatus,
    RejectReason,
    Role,
    Sighting,
    User,
)
from enforcement.casework.notes import NoteCipher
from enforcement.casework.recheck import Recheck, Rechecker
from enforcement.model import LOCAL_TZ
from enforcement.plates import correction_within_reach, normalise

#: Who may correct a plate beyond the read's reach (`plates.correction_within_reach`).
FAR_CORRECTORS = frozenset({Role.SUPERVISOR.value, Role.ADMIN.value})


class ReviewError(Exception):
    """An action that is not allowed now; `key` names the message in the UI catalogue."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True, slots=True)
class QueueFilter:
    zone: str | None = None
    status: str | None = None
    vehicle_class: str | None = None
    older_than_hours: float | None = None
    """Only cases first seen at least this many hours ago (the age filter)."""
    within: frozenset[str] | None = None
    """Only cases of these zones (the user's municipalities, tenancy); None: every zone."""


@dataclass(frozen=True, slots=True)
class QueuePage:
    cases: Sequence[Case]
    total: int


def _filtered(query: Select[Case], f: QueueFilter, now: datetime) -> Select[Case]:
    if f.within is not None:
        query = query.where(Case.zone_id.in_(sorted(f.within)))
    if f.zone:
        query = query.where(Case.zone_id == f.zone)
    if f.status:
        query = query.where(Case.status == f.status)
    if f.vehicle_class:
        query = query.where(Case.vehicle_class == f.vehicle_class)
    if f.older_than_hours is not None:
        query = query.where(Case.first_seen_at <= now - timedelta(hours=f.older_than_hours))
    return query


#: The queue counts at most this many cases: an exact count over a million rows costs more
#: than the page itself, and nobody pages that far ("more than 10,000" is the answer).
COUNT_CAP = 10_000


#: The queue's orders (the sortable columns), each ending on first seen and id so a page
#: boundary is stable.
QUEUE_ORDERS: dict[str, tuple[InstrumentedAttribute[Any], ...]] = {
    "case": (Case.id,),
    "zone": (Case.zone_id,),
    "outcome": (Case.decision,),
    "sanction": (Case.sanction_kind, Case.amount_eur),
    "first_seen": (Case.first_seen_at,),
    "sightings": (Case.sightings_count,),
}


def queue(
    session: Session,
    f: QueueFilter,
    now: datetime,
    *,
    limit: int = 50,
    offset: int = 0,
    order: str = "first_seen",
    descending: bool = False,
) -> QueuePage:
    """The queue, oldest first unless `order` names another of `QUEUE_ORDERS`; by default
    the cases that still need a reviewer. `total` is capped at `COUNT_CAP` + 1."""
    query = _filtered(select(Case), f, now)
    if not f.status:
        query = query.where(Case.status.in_([s.value for s in ACTIVE_STATUSES]))
    capped = query.with_only_columns(Case.id).limit(COUNT_CAP + 1).subquery()
    total = session.scalar(select(func.count()).select_from(capped)) or 0
    columns = QUEUE_ORDERS.get(order, QUEUE_ORDERS["first_seen"])
    keys = [c.desc() if descending else c.asc() for c in columns]
    rows = session.scalars(
        query.order_by(*keys, Case.first_seen_at, Case.id).limit(limit).offset(offset)
    ).all()
    return QueuePage(rows, total)


def _claimable(user: User, now: datetime) -> list[ColumnElement[bool]]:
    return [
        Case.reviewable_after <= now,
        or_(
            Case.claimed_by.is_(None),
            Case.claim_expires_at < now,
            Case.claimed_by == user.id,
        ),
    ]


def next_case(
    session: Session,
    user: User,
    f: QueueFilter,
    now: datetime,
    claim_minutes: int,
    excluding: int | None = None,
) -> Case | None:
    """Claim the oldest reviewable case for `user` (one reviewer per case; claims expire),
    other than the case `excluding` (the one a reviewer skips from its page).

    PostgreSQL: `FOR UPDATE SKIP LOCKED` so concurrent reviewers never wait on each other.
    SQLite: every transaction holds the write lock (BEGIN IMMEDIATE), so the conditional
    UPDATE below is already exclusive; it is kept on both as the compare-and-set."""
    # An approver works on confirmed cases, everyone else on open ones.
    wanted = [CaseStatus.OPEN.value]
    if user.role in (Role.SUPERVISOR, Role.ADMIN):
        wanted.append(CaseStatus.ESCALATED.value)
    wanted.append(CaseStatus.CONFIRMED.value)
    query = _filtered(select(Case), f, now).where(Case.status.in_(wanted), *_claimable(user, now))
    # Never hand a reviewer their own confirmation to approve.
    query = query.where(or_(Case.confirmed_by.is_(None), Case.confirmed_by != user.id))
    if excluding is not None:
        query = query.where(Case.id != excluding)
    query = query.order_by(Case.first_seen_at, Case.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    for _ in range(5):
        case = session.scalars(query).first()
        if case is None:
            return None
        if claim(session, case, user, now, claim_minutes):
            return case
    return None


def claim_problem(case: Case, user: User, now: datetime) -> str | None:
    """Why `user` may not claim `case` now (a message key), or None when they may."""
    if case.status not in {s.value for s in ACTIVE_STATUSES}:
        return "wrong_status"
    if case.status == CaseStatus.ESCALATED and user.role == Role.REVIEWER:
        return "wrong_status"  # escalations are for supervisors
    if case.status == CaseStatus.CONFIRMED and case.confirmed_by == user.id:
        return "four_eyes_same_reviewer"  # never one's own confirmation to approve
    if case.reviewable_after > now:
        return "claim_required"  # still in its grace period (late exemptions)
    held = case.claim_expires_at is not None and case.claim_expires_at >= now
    if case.claimed_by not in (None, user.id) and held:
        return "claim_required"
    return None


def claim(session: Session, case: Case, user: User, now: datetime, minutes: int) -> bool:
    """Claim `case` for `user` (raises `ReviewError` when not allowed); False when another
    reviewer won the race for it."""
    problem = claim_problem(case, user, now)
    if problem is not None:
        raise ReviewError(problem)
    done = session.execute(
        update(Case)
        .where(Case.id == case.id, *_claimable(user, now))
        .values(claimed_by=user.id, claim_expires_at=now + timedelta(minutes=minutes))
        .execution_options(synchronize_session="fetch")
    )
    if getattr(done, "rowcount", 0) != 1:
        return False
    session.refresh(case)
    audit.append(session, user.username, "claim", case_id=case.id, at=now)
    return True


def release(session: Session, case: Case, user: User) -> None:
    if case.claimed_by == user.id:
        case.claimed_by = None
        case.claim_expires_at = None


def holds(case: Case, user: User, now: datetime) -> bool:
    """Whether `user` may act on `case` now: an unexpired claim of theirs (admins always)."""
    if user.role == Role.ADMIN:
        return True
    return (
        case.claimed_by == user.id
        and case.claim_expires_at is not None
        and case.claim_expires_at >= now
    )


def _holding(case: Case, user: User, now: datetime) -> None:
    if not holds(case, user, now):
        raise ReviewError("claim_required")


def _expect(case: Case, *statuses: CaseStatus) -> None:
    if case.status not in {s.value for s in statuses}:
        raise ReviewError("wrong_status")


def _done(
    session: Session,
    case: Case,
    actor: str,
    action: str,
    now: datetime,
    *,
    keep_claim: bool = False,
    **detail: object,
) -> None:
    case.updated_at = now
    if not keep_claim:
        case.claimed_by = None
        case.claim_expires_at = None
    audit.append(session, actor, action, case_id=case.id, detail=dict(detail), at=now)


def confirm(
    session: Session,
    case: Case,
    user: User,
    now: datetime,
    *,
    four_eyes: bool,
    attested: bool,
) -> Case:
    """Confirm the violation. `attested`: the officer ticked that the vehicle in the photo
    matches the registered description (make, colour, body); without it nothing happens."""
    _holding(case, user, now)
    _expect(case, CaseStatus.OPEN, CaseStatus.ESCALATED)
    if case.needs_identification:
        raise ReviewError("identify_first")
    if not attested:
        raise ReviewError("attestation_required")
    if case.correction and case.correction.get("closes"):
        # A confirmation says violation: an escalated closing correction no longer closes.
        case.correction = {**case.correction, "closes": False}
    case.confirmed_by = user.id
    case.status = (CaseStatus.CONFIRMED if four_eyes else CaseStatus.APPROVED).value
    if not four_eyes:
        case.approved_by = user.id
    _done(session, case, user.username, "confirm", now, four_eyes=four_eyes, attested=True)
    return case


def approve(session: Session, case: Case, user: User, now: datetime) -> Case:
    """The second pair of eyes: a different reviewer than the one who confirmed."""
    _holding(case, user, now)
    _expect(case, CaseStatus.CONFIRMED)
    if case.confirmed_by == user.id:
        raise ReviewError("four_eyes_same_reviewer")
    case.approved_by = user.id
    if closing_correction(case):  # the second pair of eyes on a correction: it closes
        _close_as_misread(case, now)
        _done(session, case, user.username, "approve", now, closes=True)
        return case
    case.status = CaseStatus.APPROVED.value
    _done(session, case, user.username, "approve", now)
    return case


def _note(
    session: Session, cipher: NoteCipher | None, case: Case, user: User, kind: str, text: str,
    now: datetime,
) -> bool:  # fmt: skip
    if text.strip() and cipher is None:
        raise ValueError("a note is only stored encrypted: pass the NoteCipher")
    return cipher is not None and notes.write(session, cipher, case, user.username, kind, text, now)


def reject(
    session: Session,
    case: Case,
    user: User,
    now: datetime,
    reason: str,
    text: str = "",
    *,
    cipher: NoteCipher | None = None,
) -> Case:
    """Reject the case; `text` (required for `other`) becomes an encrypted note."""
    _holding(case, user, now)
    _expect(case, CaseStatus.OPEN, CaseStatus.CONFIRMED, CaseStatus.ESCALATED)
    try:
        code = RejectReason(reason)
    except ValueError:
        raise ReviewError("bad_reason") from None
    text = text.strip()[:2000]
    if code is RejectReason.OTHER and not text:
        raise ReviewError("reason_text_required")
    case.status = CaseStatus.REJECTED.value
    case.reject_reason = code.value
    case.closed_at = now
    _note(session, cipher, case, user, "reject", text, now)
    _done(session, case, user.username, "reject", now, reason=code.value)
    return case


def escalate(
    session: Session,
    case: Case,
    user: User,
    now: datetime,
    note: str = "",
    *,
    cipher: NoteCipher | None = None,
) -> Case:
    """Send the case to a supervisor; `note` becomes an encrypted note on the case (the
    audit entry says only whether there was one)."""
    _holding(case, user, now)
    _expect(case, CaseStatus.OPEN, CaseStatus.CONFIRMED)
    case.status = CaseStatus.ESCALATED.value
    noted = _note(session, cipher, case, user, "escalate", note, now)
    _done(session, case, user.username, "escalate", now, noted=noted)
    return case


def correct_plate(
    session: Session,
    case: Case,
    user: User,
    now: datetime,
    plate: str,
    rechecker: Rechecker,
    *,
    four_eyes: bool = True,
    note: str = "",
    cipher: NoteCipher | None = None,
) -> Recheck:
    """Record a corrected plate and re-run the decision for it; both reads stay recorded.

    A corrected plate that is compliant ends the case as a misread: with `four_eyes`
    (`CaseSettings.four_eyes_for(zone)`) only once a second, different reviewer approves it,
    exactly like a confirmation (the case waits as `confirmed` with `correction["closes"]`),
    so no one closes a case alone by typing another plate. One that is still a violation
    makes the case an identified one for the same key; a register outage changes nothing.
    The audit entry records the plate before and after as keyed digests (the case holds
    the text until retention removes it; the audit log is kept for ever).

    A reviewer's correction must be within the read's reach (look-alike characters, or
    one edit: `plates.correction_within_reach`); anything further is a supervisor's. A
    correction onto a plate that has an open case in this zone and interval joins that
    case (one sanction per vehicle, zone and interval, as the intake promises)."""
    _holding(case, user, now)
    _expect(case, CaseStatus.OPEN, CaseStatus.ESCALATED)
    corrected = normalise(plate)
    if not corrected or len(corrected) > 8:
        raise ReviewError("bad_plate")
    reads = {case.plate, str(case.record.get("plate_raw") or "")} - {""}
    within = any(correction_within_reach(read, corrected) for read in reads)
    if not within and user.role not in FAR_CORRECTORS:
        raise ReviewError("correction_too_far")
    result = rechecker.check(corrected, case.zone_id, case.first_seen_at)
    if result.decision is None:
        raise ReviewError("register_unavailable")
    before = plate_for(case)
    case.corrected_plate = corrected
    closes = result.covered
    case.correction = {
        "plate": corrected, "from": case.plate, "before": before, "closes": closes,
        "by": user.username, **result.summary(),
    }  # fmt: skip
    if closes and four_eyes:
        case.status = CaseStatus.CONFIRMED.value  # a second reviewer approves the closing
        case.confirmed_by = user.id
    elif closes:
        _close_as_misread(case, now)
    elif result.decision.outcome.value == "violation":
        case.needs_identification = False
    _note(session, cipher, case, user, "correct", note, now)
    target = None if closes else open_case_of(session, case, corrected)
    _done(
        session, case, user.username, "correct", now,
        keep_claim=case.status == CaseStatus.OPEN and target is None,
        outcome=result.decision.outcome.value, rule_ids=list(result.decision.rule_ids),
        plate_before=audit.digest(session, before), plate_after=audit.digest(session, corrected),
        closes=closes, four_eyes=four_eyes and closes, within_reach=within,
    )  # fmt: skip
    if target is not None:
        _merge(session, case, target, user, now)
    return result


def _interval_day(case: Case) -> object:
    """The local day a case's sanction interval starts on (R35: at least a calendar day)."""
    return case.first_seen_at.astimezone(LOCAL_TZ).date()


def open_case_of(session: Session, case: Case, plate: str) -> Case | None:
    """Another case of `plate` (read or corrected) in the zone and sanction interval of
    `case`, still in the officers' hands or approved and not yet exported: the one a
    correction onto `plate` joins. (An exported one cannot take more sightings; the export
    refuses the second sanction instead.)"""
    candidates = session.scalars(
        select(Case)
        .where(
            or_(Case.plate == plate, Case.corrected_plate == plate),
            Case.zone_id == case.zone_id,
            Case.id != case.id,
            Case.status.in_([*(s.value for s in ACTIVE_STATUSES), CaseStatus.APPROVED.value]),
            Case.export_batch_id.is_(None),
        )
        .order_by(Case.first_seen_at, Case.id)
        .with_for_update()
    ).all()
    return next((c for c in candidates if _interval_day(c) == _interval_day(case)), None)


def _merge(session: Session, case: Case, target: Case, user: User, now: datetime) -> None:
    """`case`'s sightings join `target`, and `case` closes as merged into it: one vehicle,
    zone and interval is one sanction."""
    session.execute(
        update(Sighting)
        .where(Sighting.case_id == case.id)
        .values(case_id=target.id)
        .execution_options(synchronize_session=False)
    )
    target.sightings_count += case.sightings_count
    target.first_seen_at = min(target.first_seen_at, case.first_seen_at)
    target.last_seen_at = max(target.last_seen_at, case.last_seen_at)
    target.updated_at = now
    case.status = CaseStatus.CLOSED.value
    case.close_reason = "merged"
    case.closed_at = now
    case.correction = {**(case.correction or {}), "merged_into": target.id}
    _done(session, case, user.username, "merge", now, into=target.id)
    _done(session, target, user.username, "merge", now, keep_claim=True, merged=case.id)


def _close_as_misread(case: Case, now: datetime) -> None:
    case.status = CaseStatus.REJECTED.value
    case.reject_reason = RejectReason.MISREAD.value
    case.closed_at = now


def closing_correction(case: Case) -> bool:
    """Whether `case` waits for a second reviewer to approve a correction that closes it."""
    return (
        case.status == CaseStatus.CONFIRMED
        and case.correction is not None
        and bool(case.correction.get("closes"))
    )


def plate_for(case: Case) -> str:
    """The plate the case is about now: the corrected one if a reviewer corrected it."""
    return case.corrected_plate or case.plate


def recheck_exemptions(
    session: Session, case: Case, rechecker: Rechecker, now: datetime, *, actor: str
) -> Recheck:
    """Ask the register again (case opened, or about to be exported). A passage that is
    now covered — an exemption or day permit granted after it — closes the case."""
    result = rechecker.check(plate_for(case), case.zone_id, case.first_seen_at)
    if result.covered and case.status in {
        *(s.value for s in ACTIVE_STATUSES),
        CaseStatus.APPROVED.value,
    }:
        assert result.decision is not None
        case.status = CaseStatus.CLOSED.value
        case.close_reason = "covered_later"
        case.closed_at = now
        _done(
            session, case, actor, "close", now,
            reason="covered_later", rule_ids=list(result.decision.rule_ids),
        )  # fmt: skip
    return result


def other_sightings(session: Session, case: Case, limit: int = 20) -> list[tuple[Case, int]]:
    """Other cases of the plate the case is about now (`plate_for`: after a correction, the
    corrected one) in the same zone, by their read or corrected plate, with their sighting
    counts."""
    plate = plate_for(case)
    rows = session.scalars(
        select(Case)
        .where(
            or_(Case.plate == plate, Case.corrected_plate == plate),
            Case.zone_id == case.zone_id,
            Case.id != case.id,
        )
        .order_by(Case.first_seen_at.desc())
        .limit(limit)
    ).all()
    return [(c, c.sightings_count) for c in rows]


def sightings(session: Session, case: Case) -> list[Sighting]:
    return list(
        session.scalars(
            select(Sighting).where(Sighting.case_id == case.id).order_by(Sighting.seen_at)
        )
    )


def oldest_open(session: Session, within: frozenset[str] | None = None) -> datetime | None:
    """When the oldest case a reviewer still has to handle was first seen (of these zones
    only, when `within` is given: tenancy)."""
    query = select(func.min(Case.first_seen_at)).where(
        Case.status.in_([s.value for s in ACTIVE_STATUSES])
    )
    if within is not None:
        query = query.where(Case.zone_id.in_(sorted(within)))
    return session.scalar(query)
