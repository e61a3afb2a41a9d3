"""Persisting flow batches exactly once, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from enforcement.flows import store
from enforcement.flows.models import FlowDay, FlowHour, FlowVehicleCount, FlowVehicleDigest
from enforcement.flows.opendata import OpenRow
from enforcement.flows.query import FlowScope, exact_tables, open_data
from tests.enforcement.casework.conftest import CaseDB
from tests.enforcement.flows.helpers import HOUR, batch, key

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
UTRECHT = FlowScope("zone", "utrecht", "Utrecht", "Utrecht")


def _apply(db: CaseDB, *batches: object) -> store.ApplyCounts:
    with db.sessions.begin() as session:
        return store.apply(session, batches, NOW)  # type: ignore[arg-type]


def _total(db: CaseDB, model: type[FlowHour] | type[FlowDay] = FlowHour) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.sum(model.count))) or 0)


def test_a_batch_adds_its_cells_to_hour_and_day_rows(case_db: CaseDB) -> None:
    counts = _apply(case_db, batch(range(10), [key(), key(fuel="zero_emission", emission="Z")]))
    assert (counts.batches, counts.entries, counts.passages, counts.decided_entries) == (
        1,
        10,
        20,
        20,
    )
    assert _total(case_db) == _total(case_db, FlowDay) == 20
    with case_db.sessions() as session:
        row = session.scalars(select(FlowHour).where(FlowHour.fuel_group == "diesel")).one()
    assert (row.local_date, row.local_hour, row.weekday, row.count) == (
        dt.date(2026, 3, 2), 8, 1, 10,
    )  # fmt: skip


def test_redelivering_the_same_batch_changes_no_total(case_db: CaseDB) -> None:
    b = batch(range(10), [key()])
    _apply(case_db, b)
    again = _apply(case_db, b)
    assert (again.batches, again.duplicate_batches) == (0, 1)
    _apply(case_db, b, b)  # twice in one poll, too
    assert _total(case_db) == _total(case_db, FlowDay) == 10


def test_rereading_with_other_batch_boundaries_counts_each_envelope_once(case_db: CaseDB) -> None:
    """A worker that crashed after producing 0-9 re-reads from 0 and batches 0-14 (or another
    worker does, after a rebalance): only 10-14 are new."""
    _apply(case_db, batch(range(10), [key()], worker="w1"))
    counts = _apply(case_db, batch(range(15), [key()], worker="w2"))
    assert (counts.entries, counts.skipped_entries, counts.passages) == (5, 10, 5)
    _apply(case_db, batch(range(15, 20), [key()], worker="w2"))
    assert _total(case_db) == 20
    # another partition has its own watermark
    _apply(case_db, batch(range(3), [key()], partition=1))
    assert _total(case_db) == 23


def test_hours_across_midnight_and_dst_land_on_their_local_day(case_db: CaseDB) -> None:
    late = dt.datetime(2026, 3, 28, 23, 0, tzinfo=dt.UTC)  # 00:00 on the 29th in Amsterdam
    dst = dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC)  # 03:00 CEST (02:00 does not exist)
    _apply(case_db, batch(range(1), [key(hour=late), key(hour=dst)]))
    with case_db.sessions() as session:
        rows = session.execute(select(FlowHour.local_date, FlowHour.local_hour)).all()
    assert sorted(rows) == [(dt.date(2026, 3, 29), 0), (dt.date(2026, 3, 29), 3)]


def test_exact_tables_read_what_was_persisted(case_db: CaseDB) -> None:
    _apply(
        case_db,
        batch(range(6), [key(), key(origin="foreign", vehicle_class="unknown", fuel="unknown")]),
        batch(range(2), [key(direction="leaving")], partition=1),
    )
    with case_db.sessions() as session:
        flows = exact_tables(session, UTRECHT, dt.date(2026, 3, 1), dt.date(2026, 3, 31), "week")
    assert flows.periods == ["2026-W09", "2026-W10", "2026-W11", "2026-W12", "2026-W13", "2026-W14"]
    assert flows.tables["origin"]["2026-W10"] == {"nl": 6, "foreign": 6, "total": 12}
    assert flows.tables["vehicle_class"]["2026-W10"] == {"van": 6, "total": 6}
    assert flows.tables["hour_weekday"]["08"]["1"] == 12  # leaving passages are not entries
    assert flows.total() == 12


def test_retention_removes_old_days_and_keeps_the_rest(case_db: CaseDB) -> None:
    old = HOUR.replace(year=2014)
    _apply(case_db, batch(range(2), [key(), key(hour=old)]))
    with case_db.sessions.begin() as session:
        removed = store.purge(session, dt.date(2016, 1, 1), NOW - dt.timedelta(days=30))
    assert removed == 3  # the 2014 hour row, its day row and its day-hour row
    assert _total(case_db) == 2


def _tractor_row(db: CaseDB) -> OpenRow:
    with db.sessions() as session:
        rows = open_data(session, UTRECHT, HOUR.date(), HOUR.date(), "day", 5)
    (row,) = [r for r in rows if r.table == "vehicle_class" and r.column == "tractor"]
    return row


def test_open_data_counts_vehicles_not_entries(case_db: CaseDB) -> None:
    """Issue 23: one LPG tractor entering five times was published as `5` (not rounded),
    and as `6` after one more entry. Its cell holds one vehicle: `<5` however often it
    enters; five tractors are published exactly. The sink holds day digests, never a plate,
    and only until the day closes."""
    tractor = key(vehicle_class="tractor", fuel="lpg", emission="6")
    _apply(case_db, batch(range(6), [tractor], plate="VZ123X"))
    row = _tractor_row(case_db)
    assert (row.count, row.rounded) == ("<5", False)
    with case_db.sessions() as session:
        digests = session.scalars(select(FlowVehicleDigest.digest)).all()
    assert len(set(digests)) == 1 and all("VZ123X" not in d for d in digests)

    _apply(case_db, batch(range(10, 14), [tractor]))  # four other tractors
    assert (_tractor_row(case_db).count, _tractor_row(case_db).rounded) == ("10", False)

    # The day closes: digests go, the distinct counts stay and still publish the same.
    with case_db.sessions.begin() as session:
        assert store.close_days(session, HOUR.date() + dt.timedelta(days=1)) > 0
    with case_db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(FlowVehicleDigest)) == 0
        query = select(FlowVehicleCount.cell, FlowVehicleCount.vehicles)
        counts = {str(cell): int(n) for cell, n in session.execute(query)}
    assert counts[store.day_cell("nl", "tractor", "lpg", "6", "none")] == 5
    assert _tractor_row(case_db).count == "10"
    # A late entry of a known tractor after the close: a lower bound still, never 6 vehicles.
    _apply(case_db, batch(range(20, 21), [tractor], plate="VZ123X"))
    with case_db.sessions.begin() as session:
        store.close_days(session, HOUR.date() + dt.timedelta(days=1))
    assert _tractor_row(case_db).count == "11"
    with case_db.sessions() as session:
        assert (
            session.scalar(
                select(FlowVehicleCount.vehicles).where(
                    FlowVehicleCount.cell == store.day_cell("nl", "tractor", "lpg", "6", "none")
                )
            )
            == 5
        )
