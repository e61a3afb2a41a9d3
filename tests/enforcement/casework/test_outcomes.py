"""Outcomes after the export on SQLite and PostgreSQL: an import is idempotent, a file with a
bad row is refused whole (every bad line named, never a plate), the case follows its newest
outcome, and the per-camera counts show where cases are annulled or misread."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from enforcement.casework import audit, review
from enforcement.casework.export import WrittenBatch, export
from enforcement.casework.models import AuditEntry, Case, CaseOutcome, CaseStatus, RejectReason
from enforcement.casework.outcomes import (
    MisreadShareCollector,
    OutcomeError,
    OutcomeImportError,
    import_outcome_bytes,
    misread_shares,
    outcome_stats,
    record_outcome,
)
from enforcement.casework.recheck import Rechecker
from enforcement.casework.review import QueueFilter
from tests.enforcement.casework.conftest import SEEN, CaseDB, violation
from tests.enforcement.casework.test_review import NOW, _users

pytestmark = pytest.mark.redis

CLOCK = SEEN + timedelta(days=60)


def exported(
    db: CaseDB, rechecker: Rechecker, out: Path, *plates: str, reject: str = ""
) -> list[WrittenBatch]:
    """Cases of `plates` (Utrecht) opened, approved and exported; `reject` is opened and
    rejected as misread instead."""
    db.intake().apply([violation(p) for p in (*plates, *([reject] if reject else []))])
    anna, _ = _users(db)
    with db.sessions.begin() as session:
        while (case := review.next_case(session, anna, QueueFilter(), NOW, 15)) is not None:
            if case.plate == reject:
                review.reject(session, case, anna, NOW, RejectReason.MISREAD)
            else:
                review.confirm(session, case, anna, NOW, four_eyes=False)
    return export(db.sessions, out, rechecker, actor="anna").batches


def _import(db: CaseDB, text: str, name: str = "cjib.csv") -> tuple[int, int, int]:
    result = import_outcome_bytes(
        db.sessions, text.encode(), name, actor="import", clock=lambda: CLOCK
    )
    return result.rows, result.recorded, result.already


def _status(db: CaseDB, plate: str) -> str:
    with db.sessions() as session:
        return session.scalars(select(Case.status).where(Case.plate == plate)).one()


def test_an_import_is_idempotent_and_the_case_follows_its_newest_outcome(
    case_db: CaseDB, rechecker: Rechecker, tmp_path: Path
) -> None:
    (batch,) = exported(case_db, rechecker, tmp_path, "VNB12X", "VNB99Z")
    key = violation("VNB12X").case_key
    text = (
        "case_reference,batch_file,batch_line,status,reason_code,date\n"
        f"{key},,,objection,,2026-03-20\n"
        f",{batch.path.name},2,paid,,2026-03-25\n"
        f"{key},,,annulled,misread,2026-04-02\n"
    )
    assert _import(case_db, text) == (3, 3, 0)
    assert _status(case_db, "VNB12X") == CaseStatus.ANNULLED
    assert _status(case_db, "VNB99Z") == CaseStatus.PAID  # line 2 of the batch: by case id
    assert _import(case_db, text) == (3, 0, 3)  # the same file again adds nothing
    with case_db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CaseOutcome)) == 3
        case = session.scalars(select(Case).where(Case.plate == "VNB12X")).one()
        assert case.outcome_at == CLOCK
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.case_id == case.id)
        ).all()
        assert actions.count("outcome") == 2
        assert audit.verify(session).ok


def test_a_file_with_bad_rows_is_refused_whole_naming_each_line(
    case_db: CaseDB, rechecker: Rechecker, tmp_path: Path
) -> None:
    exported(case_db, rechecker, tmp_path, "VNB12X", reject="VNC44K")
    good, misread = violation("VNB12X").case_key, violation("VNC44K").case_key
    text = (
        "case_reference,status,reason_code,date\n"
        f"{good},paid,,2026-03-25\n"  # line 2: fine on its own
        f"{good},settled,,2026-03-25\n"  # 3: no such status
        "XX999X:utrecht:2026-03-02,paid,,2026-03-25\n"  # 4: no such case
        f"{good},paid,,25-03-2026\n"  # 5: not a date
        f"{misread},paid,,2026-03-25\n"  # 6: never exported
        f"{good},annulled,bad code!,2026-03-25\n"  # 7: reason code
        f"{good},paid,,2099-01-01\n"  # 8: future
    )
    with pytest.raises(OutcomeImportError) as refused:
        _import(case_db, text)
    assert [r.line for r in refused.value.rows] == [3, 4, 5, 6, 7, 8]
    assert "XX999X" not in str(refused.value) and "VNB12X" not in str(refused.value)
    assert _status(case_db, "VNB12X") == CaseStatus.EXPORTED  # line 2 was not imported
    with case_db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CaseOutcome)) == 0
    with pytest.raises(OutcomeImportError, match="unknown columns plate"):
        _import(case_db, "plate,status,date\nVNB12X,paid,2026-03-25\n")


def test_the_same_event_with_another_reason_is_a_bad_row(
    case_db: CaseDB, rechecker: Rechecker, tmp_path: Path
) -> None:
    exported(case_db, rechecker, tmp_path, "VNB12X")
    key = violation("VNB12X").case_key
    _import(case_db, f"case_reference,status,reason_code,date\n{key},annulled,misread,2026-04-02\n")
    with pytest.raises(OutcomeImportError) as refused:
        _import(
            case_db, f"case_reference,status,reason_code,date\n{key},annulled,late,2026-04-02\n"
        )
    assert [r.line for r in refused.value.rows] == [2]


def test_by_hand_only_after_the_export(
    case_db: CaseDB, rechecker: Rechecker, tmp_path: Path
) -> None:
    exported(case_db, rechecker, tmp_path, "VNB12X", reject="VNC44K")
    with case_db.sessions.begin() as session:
        rejected = session.scalars(select(Case).where(Case.plate == "VNC44K")).one()
        with pytest.raises(OutcomeError, match="not exported"):
            record_outcome(session, rejected, "paid", "", date(2026, 3, 25), actor="sam", now=CLOCK)
        case = session.scalars(select(Case).where(Case.plate == "VNB12X")).one()
        assert record_outcome(
            session, case, "objection", "", date(2026, 3, 20), actor="sam", now=CLOCK
        )
        assert case.status == CaseStatus.OBJECTION


def test_stats_and_the_misread_gauge_per_camera(
    case_db: CaseDB, rechecker: Rechecker, tmp_path: Path
) -> None:
    exported(case_db, rechecker, tmp_path, "VNB12X", "VNB99Z", reject="VNC44K")
    key = violation("VNB12X").case_key
    _import(
        case_db,
        "case_reference,status,reason_code,date\n"
        f"{key},objection,,2026-03-20\n{key},annulled,misread,2026-04-02\n",
    )
    with case_db.sessions() as session:
        stats = outcome_stats(session, SEEN - timedelta(days=1), SEEN + timedelta(days=1))
        shares = misread_shares(session, SEEN - timedelta(days=1), SEEN + timedelta(days=1))
    tally = stats.cameras["site-1/cam-1"]
    assert (tally.cases, tally.confirmed, tally.exported) == (3, 2, 2)
    assert dict(tally.rejected) == {"misread": 1}
    assert (tally.objections, tally.annulled, tally.annulled_rate) == (1, 1, 0.5)
    assert stats.zones["utrecht"].cases == 3
    # One annulled and one misread out of three decided cases.
    assert shares == {"site-1/cam-1": pytest.approx(2 / 3)}
    registry = CollectorRegistry()
    registry.register(
        MisreadShareCollector(case_db.sessions, clock=lambda: SEEN + timedelta(days=3))
    )
    value = registry.get_sample_value("zes_camera_misread_share", {"camera": "site-1/cam-1"})
    assert value == pytest.approx(2 / 3)
    later = CollectorRegistry()
    later.register(MisreadShareCollector(case_db.sessions, clock=lambda: datetime.now(UTC)))
    assert later.get_sample_value("zes_camera_misread_share", {"camera": "site-1/cam-1"}) is None


def test_append_many_makes_the_chain_that_append_would(case_db: CaseDB) -> None:
    with case_db.sessions.begin() as session:
        audit.append(session, "x", "first", at=CLOCK)
        n = audit.append_many(
            session, "imp", "outcome", [(None, {"a": 1}), (None, {"b": date(2026, 3, 2)})],
            at=CLOCK,
        )  # fmt: skip
        assert n == 2 and audit.append_many(session, "imp", "outcome", [], at=CLOCK) == 0
        with pytest.raises(ValueError, match="failed logins"):
            audit.append_many(session, "-", audit.FAILED_LOGIN, [(None, {})], at=CLOCK)
        audit.append(session, "x", "last", at=CLOCK)
    with case_db.sessions() as session:
        report = audit.verify(session)
        assert report.ok and report.entries == 4
        details = session.scalars(select(AuditEntry.detail).order_by(AuditEntry.seq)).all()
        assert details[1:3] == [{"a": 1}, {"b": "2026-03-02"}]
