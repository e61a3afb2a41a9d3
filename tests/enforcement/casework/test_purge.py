"""Retention on SQLite and PostgreSQL: a compliant passage leaves nothing once its hold
ends; rejected and closed cases leave only anonymous counts once retention ends."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, update

from enforcement.casework import audit
from enforcement.casework.models import (
    Case,
    EvidenceBlob,
    EvidenceItem,
    RetiredCases,
    Sighting,
)
from enforcement.casework.purge import PurgeResult, purge
from tests.enforcement.casework.conftest import SEEN, CaseDB, evidence_for, violation

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
