"""Plate corrections that cannot double-sanction (issue 21 item 4), on SQLite and PostgreSQL
with the real Redis register: within the read's reach or a supervisor's, and onto an open case
of the same vehicle, zone and interval they join it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from enforcement.casework import notes, review
from enforcement.casework.accounts import add_user
from enforcement.casework.export import export
from enforcement.casework.models import (
    ACTIVE_STATUSES,
    AuditEntry,
    Case,
    CaseStatus,
    Sighting,
    User,
)
from enforcement.casework.notes import NoteCipher
from enforcement.casework.recheck import Rechecker
from enforcement.casework.review import QueueFilter, ReviewError
from enforcement.plates import correction_within_reach
from tests.enforcement.casework.conftest import KEY, SEEN, CaseDB, violation

pytestmark = pytest.mark.redis

NOW = SEEN + timedelta(days=2)


@pytest.mark.parametrize(
    ("read", "corrected", "within"),
    [
        ("ZZ0238", "N36ZRV", False),  # issue 21's probe: another vehicle altogether
        ("ZZ0238", "ZZ0239", True),  # one character wrong
        ("85DHFR", "86DHFR", True),  # the night clip's misread
        ("VN812X", "VNB12X", True),  # 8 read for B
        ("0B8DQ1", "OBBDOI", True),  # look-alikes at several places: one smudged plate
        ("VNB12X", "VNB1X", True),  # one character missing
        ("VNB12X", "VNC13X", False),  # two edits, neither a look-alike
        ("VNB12X", "", False),
    ],
)
def test_a_correction_is_within_reach_by_look_alikes_or_one_edit(
    read: str, corrected: str, within: bool
) -> None:
    assert correction_within_reach(read, corrected) is within


def _user(db: CaseDB, name: str, role: str) -> User:
    with db.sessions.begin() as session:
        return add_user(session, name, "correct horse battery", role, actor="test")


def test_a_correction_far_from_the_read_needs_a_supervisor(
    case_db: CaseDB, rechecker: Rechecker
) -> None:
    case_db.intake().apply([violation("VNC44K")])
    anna, sara = _user(case_db, "anna", "reviewer"), _user(case_db, "sara", "supervisor")
    with case_db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None
        with pytest.raises(ReviewError, match="correction_too_far"):
            review.correct_plate(session, case, anna, NOW, "VNB99Z", rechecker)
        assert case.corrected_plate is None
        review.escalate(session, case, anna, NOW)
    with case_db.sessions.begin() as session:
        case = review.next_case(session, sara, QueueFilter(), NOW, 15)
        assert case is not None and case.status == CaseStatus.ESCALATED
        cipher = NoteCipher(KEY)
        review.correct_plate(
            session, case, sara, NOW, "VNB99Z", rechecker, note="zie de uitsnede", cipher=cipher
        )
        assert case.corrected_plate == "VNB99Z"
        [written] = notes.notes_of(session, cipher, case)
        assert (written.kind, written.text) == ("correct", "zie de uitsnede")
    with case_db.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "correct")).one()
        assert (entry.actor, entry.detail["within_reach"]) == ("sara", False)


def _van_and_its_misread(case_db: CaseDB) -> tuple[User, dict[str, int]]:
    """Cases of VNB12X and of its misread VN812X three hours later, and reviewer anna: the
    case id by plate."""
    case_db.intake().apply(
        [violation("VNB12X"), violation("VN812X", seen_at=SEEN + timedelta(hours=3))]
    )
    anna = _user(case_db, "anna", "reviewer")
    with case_db.sessions() as session:
        ids = {c.plate: c.id for c in session.scalars(select(Case))}
    return anna, ids


def test_a_correction_onto_an_open_case_joins_it(case_db: CaseDB, rechecker: Rechecker) -> None:
    """Issue 21's probe: a corrected case became a second fine, and "other cases" said none."""
    anna, ids = _van_and_its_misread(case_db)
    with case_db.sessions.begin() as session:
        misread = session.get(Case, ids["VN812X"])
        assert misread is not None
        assert review.claim(session, misread, anna, NOW, 15)
        review.correct_plate(session, misread, anna, NOW, "VNB12X", rechecker)
        assert (misread.status, misread.close_reason) == ("closed", "merged")
        assert misread.correction and misread.correction["merged_into"] == ids["VNB12X"]
    with case_db.sessions() as session:
        kept = session.get(Case, ids["VNB12X"])
        assert kept is not None and kept.status == CaseStatus.OPEN
        assert kept.sightings_count == 2 and kept.last_seen_at == SEEN + timedelta(hours=3)
        cases_of = {s.case_id for s in session.scalars(select(Sighting))}
        assert cases_of == {kept.id}  # one vehicle, zone and interval: one case
        # "Other cases" of the kept case finds the corrected one by its current plate.
        assert [c.id for c, _ in review.other_sightings(session, kept)] == [ids["VN812X"]]
        merged = session.get(Case, ids["VN812X"])
        assert merged is not None
        assert [c.id for c, _ in review.other_sightings(session, merged)] == [kept.id]
        active = session.scalars(
            select(Case).where(Case.status.in_([s.value for s in ACTIVE_STATUSES]))
        ).all()
        assert [c.id for c in active] == [kept.id]


def test_export_refuses_a_second_sanction_for_one_vehicle_zone_and_interval(
    case_db: CaseDB, rechecker: Rechecker, tmp_path: Path
) -> None:
    """The case of VNB12X is exported; a misread of the same van the same day, corrected
    after that export, has no case left to join: the export refuses it."""
    anna, ids = _van_and_its_misread(case_db)
    with case_db.sessions.begin() as session:
        first = session.get(Case, ids["VNB12X"])
        assert first is not None and review.claim(session, first, anna, NOW, 15)
        review.confirm(session, first, anna, NOW, four_eyes=False, attested=True)
    out = tmp_path / "exports"
    done = export(case_db.sessions, out, rechecker, actor="export", clock=lambda: NOW)
    assert [b.cases for b in done.batches] == [1]
    with case_db.sessions.begin() as session:
        second = session.get(Case, ids["VN812X"])
        assert second is not None and review.claim(session, second, anna, NOW, 15)
        review.correct_plate(session, second, anna, NOW, "VNB12X", rechecker)
        assert second.status == CaseStatus.OPEN  # nothing to join: the first is exported
        review.confirm(session, second, anna, NOW, four_eyes=False, attested=True)
    again = export(case_db.sessions, out, rechecker, actor="export", clock=lambda: NOW)
    assert (again.batches, again.duplicates) == ([], 1)
    with case_db.sessions() as session:
        second = session.get(Case, ids["VN812X"])
        assert second is not None
        assert (second.status, second.export_batch_id) == ("approved", None)
        refused = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "export_refused_duplicate")
        ).one()
        assert refused.case_id == second.id
