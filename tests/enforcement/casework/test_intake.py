"""Intake on SQLite and PostgreSQL: idempotency, sightings, undetermined, evidence order."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from enforcement.casework.models import Case, EvidenceItem, Sighting
from tests.enforcement.casework.conftest import SEEN, CaseDB, evidence_for, violation


def _count(db: CaseDB, model: type) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_redelivered_batch_changes_nothing(case_db: CaseDB) -> None:
    records = [violation(), violation("VNB99Z")]
    first = case_db.intake().apply(records)
    assert (first.new_cases, first.sightings, first.duplicates) == (2, 2, 0)
    again = case_db.intake().apply(records)
    assert (again.new_cases, again.sightings, again.duplicates) == (0, 0, 2)
    assert _count(case_db, Case) == 2
    assert _count(case_db, Sighting) == 2


def test_later_sightings_attach_to_the_case(case_db: CaseDB) -> None:
    opener = violation(seen_at=SEEN + timedelta(hours=2))
    later = violation(seen_at=SEEN + timedelta(hours=5), first=False)
    earlier = violation(seen_at=SEEN, first=False)  # arrives last, happened first
    intake = case_db.intake(grace=timedelta(hours=1))
    intake.apply([opener])
    counts = intake.apply([later, earlier])
    assert (counts.new_cases, counts.sightings) == (0, 2)
    with case_db.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert case.sightings_count == 3
        assert case.first_seen_at == SEEN
        assert case.last_seen_at == SEEN + timedelta(hours=5)
        assert case.reviewable_after == SEEN + timedelta(hours=1)


def test_undetermined_records_need_identification(case_db: CaseDB) -> None:
    case_db.intake().apply([violation("ZZ999Z", decision="undetermined", sanction="none")])
    with case_db.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert case.needs_identification
        assert case.decision == "undetermined"
        assert case.record["rules"][0]["nl"].startswith("Bestelauto")


def test_evidence_before_or_after_its_violation(case_db: CaseDB) -> None:
    early, late, compliant = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    intake = case_db.intake()
    got = intake.apply(evidence=[evidence_for(early), evidence_for(compliant)])
    assert got.evidence_pending == 2
    intake.apply([violation(passage_id=early), violation("VNB99Z", passage_id=late)])
    got = intake.apply(evidence=[evidence_for(late), evidence_for(late, "plate_crop")])
    assert got.evidence_stored == 2
    assert intake.apply(evidence=[evidence_for(late)]).evidence_duplicates == 1
    with case_db.sessions() as session:
        items = session.execute(
            select(EvidenceItem.passage_id, EvidenceItem.kind, EvidenceItem.pending)
        ).all()
        by = {(p, k): pend for p, k, pend in items}
        assert by[str(early), "overview"] is False
        assert by[str(compliant), "overview"] is True
        assert by[str(late), "plate_crop"] is False
        image = case_db.vault.load(session, evidence_for(late).sha256)
        assert image is not None and image.data == evidence_for(late).data


def test_a_case_carries_every_rule_its_sightings_broke(case_db: CaseDB) -> None:
    import msgspec

    opener = violation(seen_at=SEEN)
    later = msgspec.structs.replace(
        violation(seen_at=SEEN + timedelta(hours=3), first=False), rule_ids=("R8", "W4", "W3")
    )
    same_batch = msgspec.structs.replace(
        violation("VNB99Z", seen_at=SEEN + timedelta(hours=1)), rule_ids=("W4",)
    )
    intake = case_db.intake()
    intake.apply([opener, violation("VNB99Z", seen_at=SEEN), same_batch])
    intake.apply([later])
    with case_db.sessions() as session:
        rules = dict(session.execute(select(Case.plate, Case.rule_ids)).all())
    assert rules == {"VNB12X": "R8 R12 W4 W3", "VNB99Z": "R8 R12 W4"}
