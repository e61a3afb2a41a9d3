"""Retention on SQLite and PostgreSQL: a compliant passage leaves nothing once its hold
ends; rejected and closed cases leave only anonymous counts once retention ends."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from enforcement.casework import audit, review
from enforcement.casework.export import export
from enforcement.casework.models import (
    AuditEntry,
    Case,
    CaseOutcome,
    EvidenceBlob,
    EvidenceItem,
    RateCounter,
    RetiredCases,
    Sighting,
    WebSession,
)
from enforcement.casework.outcomes import record_outcome
from enforcement.casework.purge import PurgeResult, purge
from enforcement.casework.recheck import Rechecker
from enforcement.casework.review import QueueFilter
from tests.enforcement.casework.conftest import SEEN, CaseDB, evidence_for, violation
from tests.enforcement.casework.test_review import NOW, _users

HOLD = 6.0


def _purge(db: CaseDB, now: datetime) -> PurgeResult:
    with db.sessions.begin() as session:
        return purge(
            session, now, retention_days=28, hold_hours=HOLD, failed_login_days=7, actor="purge"
        )


def _count(db: CaseDB, model: type) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_compliant_passage_leaves_nothing_after_the_hold(case_db: CaseDB) -> None:
    """The edge sends images of every passage; the stream sends no violation for a compliant
    one, so its images are held (encrypted) and must be gone once the hold ends."""
    arrived = SEEN
    compliant = uuid.uuid4()
    images = [evidence_for(compliant, "overview"), evidence_for(compliant, "plate_crop")]
    case_db.intake(now=arrived).apply(evidence=images)
    assert (_count(case_db, EvidenceItem), _count(case_db, EvidenceBlob)) == (2, 2)

    early = _purge(case_db, arrived + timedelta(hours=HOLD - 0.5))
    assert early.pending_items == 0 and _count(case_db, EvidenceBlob) == 2

    result = _purge(case_db, arrived + timedelta(hours=HOLD + 0.5))
    assert (result.pending_items, result.blobs) == (2, 2)
    for model in (EvidenceItem, EvidenceBlob, Case, Sighting):
        assert _count(case_db, model) == 0, model
    with case_db.sessions() as session:
        assert case_db.vault.load(session, images[0].sha256) is None
        assert audit.verify(session).ok


def test_rejected_and_closed_cases_go_after_retention_leaving_counts(case_db: CaseDB) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=40), now - timedelta(days=3)
    ids = {name: uuid.uuid4() for name in ("rejected", "closed", "young", "open")}
    plates = {"rejected": "VNB12X", "closed": "VNB99Z", "young": "VNC44K", "open": "VNB01X"}
    intake = case_db.intake()
    intake.apply(
        [violation(plates[n], passage_id=pid) for n, pid in ids.items()]
        + [violation("VNB12X", seen_at=SEEN + timedelta(hours=2), first=False)]
    )
    intake.apply(evidence=[evidence_for(pid) for pid in ids.values()])
    with case_db.sessions.begin() as session:
        for name, closed_at, values in (
            ("rejected", old, {"status": "rejected", "reject_reason": "misread"}),
            ("closed", old, {"status": "closed", "close_reason": "covered_later"}),
            ("young", recent, {"status": "rejected", "reject_reason": "misread"}),
        ):
            session.execute(
                update(Case).where(Case.plate == plates[name]).values(closed_at=closed_at, **values)
            )

    result = _purge(case_db, now)
    assert (result.cases, result.sightings, result.evidence_items) == (2, 3, 2)
    with case_db.sessions() as session:
        left = set(session.scalars(select(Case.plate)))
        assert left == {plates["young"], plates["open"]}
        passages = set(session.scalars(select(Sighting.passage_id)))
        assert passages == {str(ids["young"]), str(ids["open"])}
        kept = set(session.scalars(select(EvidenceItem.passage_id)))
        assert kept == {str(ids["young"]), str(ids["open"])}
        counts = {
            (r.day, r.zone_id, r.status, r.reason): (r.cases, r.sightings)
            for r in session.scalars(select(RetiredCases))
        }
        assert counts == {
            (date(2026, 3, 2), "utrecht", "rejected", "misread"): (1, 2),
            (date(2026, 3, 2), "utrecht", "closed", "covered_later"): (1, 1),
        }
        assert audit.verify(session).ok

    # A second run finds nothing more; a later one adds to the same counts row.
    assert _purge(case_db, now).cases == 0
    _purge(case_db, now + timedelta(days=30))
    with case_db.sessions() as session:
        rejected = session.get(RetiredCases, (date(2026, 3, 2), "utrecht", "rejected", "misread"))
        assert rejected is not None and (rejected.cases, rejected.sightings) == (2, 3)
        assert set(session.scalars(select(Case.plate))) == {plates["open"]}


@pytest.mark.redis
def test_an_exported_case_ends_after_its_last_outcome_but_never_under_objection(
    case_db: CaseDB, rechecker: Rechecker, tmp_path: Path
) -> None:
    """Before: purge selected rejected and closed cases only, so an exported case (plate,
    sightings, both images) was kept for ever."""
    paid_id, objected_id = uuid.uuid4(), uuid.uuid4()
    case_db.intake().apply(
        [violation("VNB12X", passage_id=paid_id), violation("VNB99Z", passage_id=objected_id)]
    )
    case_db.intake().apply(
        evidence=[
            evidence_for(pid, kind)
            for pid in (paid_id, objected_id)
            for kind in ("overview", "plate_crop")
        ]
    )
    anna, _ = _users(case_db)
    with case_db.sessions.begin() as session:
        while (case := review.next_case(session, anna, QueueFilter(), NOW, 15)) is not None:
            review.confirm(session, case, anna, NOW, four_eyes=False)
    (batch,) = export(
        case_db.sessions, tmp_path, rechecker, actor="anna", clock=lambda: NOW
    ).batches
    outcome_at = NOW + timedelta(days=30)
    with case_db.sessions.begin() as session:
        for plate, status in (("VNB12X", "paid"), ("VNB99Z", "objection")):
            case = session.scalars(select(Case).where(Case.plate == plate)).one()
            record_outcome(
                session, case, status, "", outcome_at.date(), actor="sam", now=outcome_at
            )
    term = 365

    def run(at: datetime) -> PurgeResult:
        with case_db.sessions.begin() as session:
            return purge(
                session, at, retention_days=28, hold_hours=HOLD, failed_login_days=7,
                actor="purge", exported_retention_days=term,
            )  # fmt: skip

    assert run(outcome_at + timedelta(days=term - 1)).exported_cases == 0
    result = run(outcome_at + timedelta(days=term + 1))
    assert (result.exported_cases, result.sightings, result.evidence_items) == (1, 1, 2)
    with case_db.sessions() as session:
        assert set(session.scalars(select(Case.plate))) == {"VNB99Z"}
        assert set(session.scalars(select(Sighting.passage_id))) == {str(objected_id)}
        assert set(session.scalars(select(EvidenceItem.passage_id))) == {str(objected_id)}
        assert session.scalar(select(func.count()).select_from(EvidenceBlob)) == 2
        assert set(session.scalars(select(CaseOutcome.status))) == {"objection"}
        # Nothing of the paid case names its plate; its count stays.
        assert not any("VNB12X" in str(d) for d in session.scalars(select(AuditEntry.detail)))
        retired = session.get(RetiredCases, (date(2026, 3, 2), "utrecht", "paid", ""))
        assert retired is not None and retired.cases == 1
        assert audit.verify(session).ok
    # Under objection for ten years: still there.
    assert run(outcome_at + timedelta(days=3650)).exported_cases == 0
    assert batch.cases == 2


def test_purge_clears_expired_rate_counters_and_ended_logins(case_db: CaseDB) -> None:
    """Before: rate_counters (client addresses, typed user names) were swept only as new
    web events came, and ended logins stayed; purge touched neither."""
    now = datetime.now(UTC)
    anna, _ = _users(case_db)
    with case_db.sessions.begin() as session:
        session.add_all(
            [
                RateCounter(key="login-ip:192.0.2.7", window=1, count=3,
                            expires_at=now - timedelta(minutes=1)),
                RateCounter(key="login-user:anna", window=2, count=1,
                            expires_at=now + timedelta(minutes=4)),
                WebSession(id="a" * 64, user_id=anna.id, created_at=now - timedelta(hours=1),
                           last_seen_at=now - timedelta(minutes=5)),
                WebSession(id="b" * 64, user_id=anna.id, created_at=now - timedelta(hours=1),
                           last_seen_at=now - timedelta(minutes=5), ended_at=now),
                WebSession(id="c" * 64, user_id=anna.id, created_at=now - timedelta(hours=2),
                           last_seen_at=now - timedelta(minutes=45)),
                WebSession(id="d" * 64, user_id=anna.id, created_at=now - timedelta(hours=11),
                           last_seen_at=now - timedelta(minutes=1)),
            ]
        )  # fmt: skip
    result = _purge(case_db, now)
    assert (result.rate_counters, result.web_sessions) == (1, 3)
    with case_db.sessions() as session:
        assert set(session.scalars(select(RateCounter.key))) == {"login-user:anna"}
        assert set(session.scalars(select(WebSession.id))) == {"a" * 64}
