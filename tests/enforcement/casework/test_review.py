"""The review workflow on SQLite and PostgreSQL with a real Redis register: claims,
four-eyes, late exemptions, export exactly once, the audit chain and retention."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import select, update

from enforcement.casework import audit, review
from enforcement.casework.accounts import add_user, authenticate, disable_user
from enforcement.casework.export import export
from enforcement.casework.models import AuditEntry, Case, CaseStatus, EvidenceItem, User
from enforcement.casework.purge import purge
from enforcement.casework.recheck import Rechecker
from enforcement.casework.review import QueueFilter, ReviewError
from enforcement.model import Exemption
from enforcement.register.redis import RedisRegister
from enforcement.zones import DEFAULT_ZONES, ZoneCatalog
from tests.enforcement.casework.conftest import (
    SEEN,
    CaseDB,
    _electric,
    _van,
    evidence_for,
    violation,
)

pytestmark = pytest.mark.redis

NOW = SEEN + timedelta(days=2)
PASSWORD = "correct horse battery"


def _users(db: CaseDB) -> tuple[User, User]:
    with db.sessions.begin() as session:
        a = add_user(session, "anna", PASSWORD, "reviewer", actor="test")
        b = add_user(session, "bart", PASSWORD, "reviewer", actor="test")
    return a, b


def test_four_eyes_then_export_exactly_once(
    case_db: CaseDB, rechecker: Rechecker, tmp_path: Path
) -> None:
    case_db.intake().apply([violation("VNB12X"), violation("VNB12X", first=False)])
    anna, bart = _users(case_db)
    with case_db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None and case.plate == "VNB12X"
        assert review.recheck_exemptions(session, case, rechecker, NOW, actor="anna").decision
        assert case.status == CaseStatus.OPEN
        # Bart cannot take Anna's claimed case.
        assert review.next_case(session, bart, QueueFilter(), NOW, 15) is None
        review.confirm(session, case, anna, NOW, four_eyes=True, attested=True)
        assert case.status == CaseStatus.CONFIRMED
        # Anna never gets her own confirmation to approve, and a forced approve fails.
        assert review.next_case(session, anna, QueueFilter(), NOW, 15) is None
        with pytest.raises(ReviewError, match="four_eyes_same_reviewer"):
            review.claim(session, case, anna, NOW, 15)
        case.claimed_by, case.claim_expires_at = anna.id, NOW + timedelta(minutes=15)
        with pytest.raises(ReviewError, match="four_eyes_same_reviewer"):
            review.approve(session, case, anna, NOW)
        review.release(session, case, anna)
    with case_db.sessions.begin() as session:
        case = review.next_case(session, bart, QueueFilter(), NOW, 15)
        assert case is not None
        review.approve(session, case, bart, NOW)
        assert case.status == CaseStatus.APPROVED
    first = export(case_db.sessions, tmp_path, rechecker, actor="export")
    assert [(b.kind, b.municipality, b.number, b.cases) for b in first.batches] == [
        ("fine", "Utrecht", 1, 1)
    ]
    path = first.batches[0].path
    assert path.name == "zes-fines-utrecht-000001.csv"
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert [r["case_key"] for r in rows] == ["VNB12X:utrecht:2026-03-02"]
    assert rows[0]["sightings"] == "2" and rows[0]["amount_eur"] == "120"
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["cases"] == 1 and manifest["batch"] == 1
    import hashlib

    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    again = export(case_db.sessions, tmp_path, rechecker, actor="export")
    assert again.batches == [] and again.closed == 0
    with case_db.sessions() as session:
        assert audit.verify(session).ok


def test_without_four_eyes_a_confirmation_approves(case_db: CaseDB, rechecker: Rechecker) -> None:
    case_db.intake().apply([violation("VNB12X", sanction="warning")])
    anna, _ = _users(case_db)
    with case_db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None
        review.confirm(session, case, anna, NOW, four_eyes=False, attested=True)
        assert case.status == CaseStatus.APPROVED and case.sanction_kind == "warning"


def test_claims_expire_and_grace_period_holds_cases(case_db: CaseDB) -> None:
    case_db.intake(grace=timedelta(hours=1)).apply([violation("VNB12X")])
    anna, bart = _users(case_db)
    with case_db.sessions.begin() as session:
        assert (
            review.next_case(session, anna, QueueFilter(), SEEN + timedelta(minutes=30), 15) is None
        )
        case = review.next_case(session, anna, QueueFilter(), SEEN + timedelta(hours=2), 15)
        assert case is not None
        later = SEEN + timedelta(hours=2, minutes=20)
        with pytest.raises(ReviewError, match="claim_required"):
            review.confirm(session, case, anna, later, four_eyes=True, attested=True)
        assert review.next_case(session, bart, QueueFilter(), later, 15) is case


def test_undetermined_needs_identification_and_plate_correction_redecides(
    case_db: CaseDB, rechecker: Rechecker
) -> None:
    case_db.intake().apply([violation("VN812X", decision="undetermined", sanction="none")])
    anna, _ = _users(case_db)
    with case_db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None
        with pytest.raises(ReviewError, match="identify_first"):
            review.confirm(session, case, anna, NOW, four_eyes=True, attested=True)
        result = review.correct_plate(session, case, anna, NOW, "vn-b1-2x", rechecker)
        assert result.decision is not None and result.decision.outcome.value == "violation"
        assert case.corrected_plate == "VNB12X" and case.plate == "VN812X"
        assert not case.needs_identification
        assert case.correction and case.correction["from"] == "VN812X"


def test_late_exemption_closes_the_case(case_db: CaseDB, rechecker: Rechecker) -> None:
    case_db.intake().apply([violation("VNC44K")])
    permit = Exemption.day_permit("VNC44K", "Utrecht", SEEN.date())
    assert isinstance(rechecker.register, RedisRegister)
    rechecker.register.add_exemptions([permit])
    anna, _ = _users(case_db)
    with case_db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None
        result = review.recheck_exemptions(session, case, rechecker, NOW, actor="anna")
        assert result.covered
        assert case.status == CaseStatus.CLOSED and case.close_reason == "covered_later"


def test_register_outage_changes_nothing(case_db: CaseDB, tmp_path: Path) -> None:
    from zes.embedded import free_port

    dead = RedisRegister(
        redis.Redis(port=free_port(), socket_connect_timeout=0.2), "x", secret=b"s" * 16
    )
    rechecker = Rechecker(dead, ZoneCatalog(DEFAULT_ZONES))
    case_db.intake().apply([violation("VNB12X")])
    anna, _ = _users(case_db)
    with case_db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None
        review.confirm(session, case, anna, NOW, four_eyes=False, attested=True)
    result = export(case_db.sessions, tmp_path, rechecker, actor="export")
    assert result.held == 1 and result.batches == []
    with case_db.sessions() as session:
        assert session.scalars(select(Case.status)).one() == CaseStatus.APPROVED


def test_reject_needs_a_known_reason(case_db: CaseDB) -> None:
    case_db.intake().apply([violation("VNB12X")])
    anna, _ = _users(case_db)
    with case_db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None
        with pytest.raises(ReviewError, match="bad_reason"):
            review.reject(session, case, anna, NOW, "because")
        with pytest.raises(ReviewError, match="reason_text_required"):
            review.reject(session, case, anna, NOW, "other", "  ")
        review.reject(session, case, anna, NOW, "misread")
        assert case.status == CaseStatus.REJECTED and case.closed_at == NOW


def test_purge_removes_only_what_it_should(case_db: CaseDB) -> None:
    old_rejected, open_case, compliant, fresh_hold = (uuid.uuid4() for _ in range(4))
    intake = case_db.intake()
    intake.apply(
        [violation("VNB12X", passage_id=old_rejected), violation("VNB99Z", passage_id=open_case)]
    )
    intake.apply(evidence=[evidence_for(old_rejected), evidence_for(open_case)])
    old = datetime.now(UTC) - timedelta(days=40)
    case_db.intake(now=old).apply(evidence=[evidence_for(compliant)])
    intake.apply(evidence=[evidence_for(fresh_hold)])
    with case_db.sessions.begin() as session:
        session.execute(
            update(Case).where(Case.plate == "VNB12X")
            .values(status="rejected", closed_at=old, reject_reason="misread")
        )  # fmt: skip
    with case_db.sessions.begin() as session:
        result = purge(
            session, datetime.now(UTC), retention_days=28, hold_hours=6, failed_login_days=7,
            actor="t",
        )  # fmt: skip
    assert (result.cases, result.evidence_items, result.pending_items, result.blobs) == (1, 1, 1, 2)
    with case_db.sessions() as session:
        left = set(session.scalars(select(EvidenceItem.passage_id)))
        assert left == {str(open_case), str(fresh_hold)}
        assert case_db.vault.load(session, evidence_for(open_case).sha256) is not None
        assert case_db.vault.load(session, evidence_for(old_rejected).sha256) is None


def test_accounts(case_db: CaseDB) -> None:
    _users(case_db)
    with case_db.sessions.begin() as session:
        assert authenticate(session, "anna", PASSWORD) is not None
        assert authenticate(session, "anna", "wrong password!") is None
        assert authenticate(session, "nobody", PASSWORD) is None
        disable_user(session, "anna", actor="admin")
        assert authenticate(session, "anna", PASSWORD) is None
        user = session.scalars(select(User).where(User.username == "bart")).one()
        assert user.password_hash.startswith("$argon2id$")


def test_a_correction_records_the_plate_before_and_after(
    case_db: CaseDB, rechecker: Rechecker
) -> None:
    case_db.intake().apply([violation("VN812X", decision="undetermined", sanction="none")])
    anna, _ = _users(case_db)
    with case_db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None
        review.correct_plate(session, case, anna, NOW, "VNB12X", rechecker)
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "correct")).one()
        assert entry.detail["plate_before"] == audit.digest(session, "VN812X")
        assert entry.detail["plate_after"] == audit.digest(session, "VNB12X")
        assert "VN812X" not in json.dumps(entry.detail)  # kept for ever: no plate text
        assert "VNB12X" not in json.dumps(entry.detail)
        assert case.correction is not None and case.correction["before"] == "VN812X"


def test_a_correction_that_closes_the_case_needs_a_second_reviewer(
    case_db: CaseDB, rechecker: Rechecker
) -> None:
    """A correction to a compliant plate closed the case with no second reviewer: one
    officer could end any case alone by typing a plate that may enter."""
    assert isinstance(rechecker.register, RedisRegister)
    rechecker.register.replace_vehicles([_van("VNB12X"), _electric("VNB12Y")])
    case_db.intake().apply([violation("VNB12X")])
    anna, bart = _users(case_db)
    with case_db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None
        result = review.correct_plate(session, case, anna, NOW, "VNB12Y", rechecker)
        assert result.covered
        assert case.status == CaseStatus.CONFIRMED and case.closed_at is None
        assert case.confirmed_by == anna.id and case.correction and case.correction["closes"]
        # Anna cannot approve her own correction.
        assert review.next_case(session, anna, QueueFilter(), NOW, 15) is None
    with case_db.sessions.begin() as session:
        case = review.next_case(session, bart, QueueFilter(), NOW, 15)
        assert case is not None
        review.approve(session, case, bart, NOW)
        assert case.status == CaseStatus.REJECTED and case.reject_reason == "misread"
        assert case.closed_at == NOW and case.approved_by == bart.id
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)).all()
        assert actions[-2:] == ["claim", "approve"] and "correct" in actions


def test_without_four_eyes_a_closing_correction_closes_at_once(
    case_db: CaseDB, rechecker: Rechecker
) -> None:
    assert isinstance(rechecker.register, RedisRegister)
    rechecker.register.replace_vehicles([_van("VNB12X"), _electric("VNB12Y")])
    case_db.intake().apply([violation("VNB12X")])
    anna, _ = _users(case_db)
    with case_db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None
        review.correct_plate(session, case, anna, NOW, "VNB12Y", rechecker, four_eyes=False)
        assert case.status == CaseStatus.REJECTED and case.closed_at == NOW
