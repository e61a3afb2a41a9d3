"""Exports on SQLite and PostgreSQL: one batch per municipality, files that exist only once
their batch committed (mode 0600), and batch numbers that are never used twice."""

from __future__ import annotations

import csv
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from enforcement.casework import audit, review
from enforcement.casework.export import Owner, export, neutral_cell
from enforcement.casework.models import AuditEntry, Case, CaseStatus, ExportBatch
from enforcement.casework.recheck import Rechecker
from enforcement.casework.review import QueueFilter
from tests.enforcement.casework.conftest import CaseDB, violation
from tests.enforcement.casework.test_review import NOW, _users

pytestmark = pytest.mark.redis


def _approve(db: CaseDB, *cases: tuple[str, str]) -> None:
    """Cases (plate, zone) opened and approved (a confirmation without four-eyes)."""
    db.intake().apply([violation(plate, zone) for plate, zone in cases])
    anna, _ = _users(db)
    with db.sessions.begin() as session:
        while (case := review.next_case(session, anna, QueueFilter(), NOW, 15)) is not None:
            review.confirm(session, case, anna, NOW, four_eyes=False, attested=True)


@pytest.fixture
def failing_commit(case_db: CaseDB) -> Iterator[list[int]]:
    """The next commit that writes an export batch fails (the disk or the database gave
    out at the last moment); yields how many commits it failed."""
    failed: list[int] = []

    def before_flush(session: Session, _context: object, _instances: object) -> None:
        if any(isinstance(o, ExportBatch) for o in session.new):
            session.info["writes_a_batch"] = True

    def before_commit(session: Session) -> None:
        if not failed and session.info.pop("writes_a_batch", False):
            failed.append(1)
            raise RuntimeError("commit failed")

    event.listen(case_db.sessions, "before_flush", before_flush)
    event.listen(case_db.sessions, "before_commit", before_commit)
    yield failed
    event.remove(case_db.sessions, "before_commit", before_commit)
    event.remove(case_db.sessions, "before_flush", before_flush)


def test_the_haarlem_export_holds_no_amsterdam_case(
    case_db: CaseDB, rechecker: Rechecker, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "exports"
    _approve(case_db, ("VNB12X", "haarlem"), ("VNB99Z", "amsterdam"), ("VNC44K", "haarlem"))
    result = export(case_db.sessions, tmp_path, rechecker, actor="anna")
    by_town = {b.municipality: b for b in result.batches}
    assert sorted(by_town) == ["Amsterdam", "Haarlem"]
    assert all(b.number == 1 and b.kind == "fine" for b in result.batches)
    haarlem = list(csv.DictReader(by_town["Haarlem"].path.read_text().splitlines()))
    assert sorted(r["plate"] for r in haarlem) == ["VNB12X", "VNC44K"]
    assert {r["zone_id"] for r in haarlem} == {"haarlem"}
    amsterdam = by_town["Amsterdam"].path.read_text()
    assert "VNB99Z" in amsterdam and "VNB12X" not in amsterdam
    manifest = json.loads(by_town["Haarlem"].path.with_suffix(".json").read_text())
    assert manifest["municipality"] == "Haarlem" and manifest["cases"] == 2
    # Every manifest carries the chain's anchor after its own export entry: kept with the
    # batch outside the database, it later proves the log was not cut back.
    with case_db.sessions() as session:
        anchored = audit.verify(session, audit.Anchor(**manifest["audit_anchor"]))
        assert anchored.ok
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.seq == manifest["audit_anchor"]["count"])
        ).one()
        assert entry.action == "export" and entry.detail["municipality"] == "Haarlem"
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert not path.name.startswith(".")  # nothing left under a staging name


def test_a_failed_export_commit_leaves_no_file_and_burns_its_number(
    case_db: CaseDB, rechecker: Rechecker, tmp_path: Path, failing_commit: list[int]
) -> None:
    tmp_path = tmp_path / "exports"
    _approve(case_db, ("VNB12X", "utrecht"))
    with pytest.raises(RuntimeError, match="commit failed"):
        export(case_db.sessions, tmp_path, rechecker, actor="anna")
    assert failing_commit == [1]
    assert list(tmp_path.iterdir()) == []  # neither the batch nor its staging files
    with case_db.sessions() as session:
        assert session.scalars(select(Case.status)).one() == CaseStatus.APPROVED
        assert session.scalars(select(ExportBatch)).all() == []
    # The next run exports the case again, under a new number: batch 1 may have been seen
    # by someone (a copied staging file); it never names other contents.
    again = export(case_db.sessions, tmp_path, rechecker, actor="anna")
    assert [(b.municipality, b.number) for b in again.batches] == [("Utrecht", 2)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "zes-fines-utrecht-000002.csv", "zes-fines-utrecht-000002.json",
    ]  # fmt: skip
    with case_db.sessions() as session:
        reserved = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "export_reserve")
        ).all()
        assert [d["batches"][0]["number"] for d in reserved] == [1, 2]
        assert audit.verify(session).ok


def test_staged_files_of_a_run_that_stopped_after_its_commit_are_completed(
    case_db: CaseDB, rechecker: Rechecker, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "exports"
    _approve(case_db, ("VNB12X", "utrecht"))
    first = export(case_db.sessions, tmp_path, rechecker, actor="anna")
    (batch,) = first.batches
    # As if the process died between the commit and the rename, and a stray staging file
    # of an uncommitted run lies next to it.
    batch.path.rename(tmp_path / f".{batch.path.name}.staging")
    (tmp_path / ".zes-fines-utrecht-000009.csv.staging").write_text("never committed")
    export(case_db.sessions, tmp_path, rechecker, actor="anna")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "zes-fines-utrecht-000001.csv", "zes-fines-utrecht-000001.json",
    ]  # fmt: skip


class _FormulaOwners:
    """An owner lookup whose references look like formulas (another system's data)."""

    def owner_of(self, plate: str, at: object) -> Owner | None:
        return Owner("@SUM(1+1)*cmd|' /C calc'!A0")


def test_export_cells_that_start_like_a_formula_are_neutralised(
    case_db: CaseDB, rechecker: Rechecker, tmp_path: Path
) -> None:
    """Issue 23: the export CSV wrote `=HYPERLINK(…)` and `@SUM(…)` verbatim, and a
    spreadsheet opened at the fine authority runs them."""
    record = msgspec.structs.replace(
        violation("VNB12X", "haarlem"), vehicle_class='=HYPERLINK("http://e.vil/")'
    )
    case_db.intake().apply([record])
    with case_db.sessions.begin() as session:
        session.execute(update(Case).values(rule_ids="-2+3 R12\tR8"))
    anna, _ = _users(case_db)
    with case_db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None
        review.confirm(session, case, anna, NOW, four_eyes=False, attested=True)
    result = export(case_db.sessions, tmp_path, rechecker, actor="anna", owners=_FormulaOwners())
    (row,) = list(csv.DictReader(result.batches[0].path.read_text().splitlines()))
    assert row["vehicle_class"] == '\'=HYPERLINK("http://e.vil/")'
    assert row["rule_ids"] == "'-2+3 R12\tR8"
    assert row["owner_reference"].startswith("'@SUM(")
    assert row["plate"] == "VNB12X" and row["amount_eur"] == "120"  # the rest unchanged
    for cell in row.values():
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_neutral_cell_leaves_numbers_and_plain_text_alone() -> None:
    assert neutral_cell(-5) == -5 and neutral_cell("VNB12X") == "VNB12X"
    assert neutral_cell("\r=1") == "'\r=1" and neutral_cell("") == ""
