"""Flow statistics in the case database: applied exactly once, read per zone and period.

`apply` runs in one transaction per poll of the `flows` topic: for each batch it skips the
entries at or below its source partition's watermark (already persisted by an earlier
delivery of the same envelopes), adds the rest to the hourly and daily rows with one upsert
per table, and moves the watermark. A redelivered batch, or the same envelopes re-read by
another worker after a rebalance in other batch boundaries, changes no total.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from enforcement.flows.models import (
    FlowBatchLog,
    FlowDay,
    FlowDayHour,
    FlowHour,
    FlowVehicleCount,
    FlowVehicleDigest,
    FlowWatermark,
)
from enforcement.flows.records import FlowBatch
from enforcement.flows.tables import DayCell, HourCell
from enforcement.model import LOCAL_TZ

_KIND = (
    "direction",
    "origin",
    "outcome",
    "vehicle_class",
    "fuel_group",
    "emission_class",
    "window",
)


def day_cell(origin: str, vehicle_class: str, fuel: str, emission: str, window: str) -> str:
    """The name of a day-and-kind base cell within its day (`FlowVehicleDigest.cell`)."""
    return f"k|{origin}|{vehicle_class}|{fuel}|{emission}|{window}"


def hour_cell(local_hour: int) -> str:
    """The name of a day-and-hour base cell within its day."""
    return f"h|{local_hour:02d}"


@dataclass(slots=True)
class ApplyCounts:
    batches: int = 0
    duplicate_batches: int = 0
    entries: int = 0
    skipped_entries: int = 0
    cells: int = 0
    passages: int = 0
    decided_entries: int = 0
    """Passages counted into zone cells as entries (entering, or of unknown direction: the
    stream decides both), the stream's `entries decided`."""


def _upsert(
    session: Session, table: Table, rows: list[dict[str, Any]], keys: Sequence[str]
) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={"count": table.c.count + statement.excluded.count}
    )
    session.execute(statement, rows)


def apply(session: Session, batches: Iterable[FlowBatch], now: dt.datetime) -> ApplyCounts:
    """Persist the batches' new entries (the caller commits)."""
    counts = ApplyCounts()
    hours: Counter[tuple[Any, ...]] = Counter()
    digests: set[tuple[str, str, dt.date, str, str]] = set()
    batch_list = list(batches)
    known = set(
        session.scalars(
            select(FlowBatchLog.batch_id).where(
                FlowBatchLog.batch_id.in_({b.batch_id for b in batch_list})
            )
        )
    )
    marks: dict[tuple[str, int], FlowWatermark] = {}
    for batch in batch_list:
        if batch.batch_id in known:
            counts.duplicate_batches += 1
            continue
        known.add(batch.batch_id)
        source = (batch.topic, batch.partition)
        mark = marks.get(source) or session.get(FlowWatermark, source)
        if mark is None:
            mark = FlowWatermark(
                topic=batch.topic, partition=batch.partition, last_offset=-1, updated_at=now
            )
            session.add(mark)
        marks[source] = mark
        skipped = 0
        for entry in batch.entries:
            if entry.offset <= mark.last_offset:
                skipped += 1
                continue
            for cell in entry.cells:
                hours[
                    cell.scope, cell.scope_id, cell.hour, cell.direction, cell.origin, cell.outcome,
                    cell.vehicle_class, cell.fuel_group, cell.emission_class, cell.window,
                ] += cell.count  # fmt: skip
                counts.cells += 1
                if cell.vehicles and cell.direction != "leaving":
                    local = cell.hour.astimezone(LOCAL_TZ)
                    kind_cell = day_cell(cell.origin, cell.vehicle_class, cell.fuel_group,
                                    cell.emission_class, cell.window)  # fmt: skip
                    for name in (kind_cell, hour_cell(local.hour)):
                        digests.update(
                            (cell.scope, cell.scope_id, local.date(), name, digest)
                            for digest in cell.vehicles
                        )
                counts.passages += cell.count if cell.scope == "zone" else 0
                if cell.scope == "zone" and cell.direction != "leaving":
                    counts.decided_entries += cell.count
            mark.last_offset = entry.offset
        mark.updated_at = now
        counts.batches += 1
        counts.entries += len(batch.entries) - skipped
        counts.skipped_entries += skipped
        session.add(
            FlowBatchLog(
                batch_id=batch.batch_id,
                applied_at=now,
                entries=len(batch.entries) - skipped,
                skipped=skipped,
            )
        )
    hour_rows: list[dict[str, Any]] = []
    days: Counter[tuple[Any, ...]] = Counter()
    day_hours: Counter[tuple[Any, ...]] = Counter()
    for (scope, scope_id, hour, *kind), count in hours.items():
        local = hour.astimezone(LOCAL_TZ)
        row = dict(zip(_KIND, kind, strict=True))
        hour_rows.append(
            {
                "scope": scope,
                "scope_id": scope_id,
                "hour": hour,
                "local_date": local.date(),
                "local_hour": local.hour,
                "weekday": local.isoweekday(),
                "count": count,
                **row,
            }
        )
        days[(scope, scope_id, local.date(), *kind)] += count
        day_hours[scope, scope_id, local.date(), local.hour, kind[0]] += count
    day_rows = [
        {"scope": k[0], "scope_id": k[1], "local_date": k[2], "count": c}
        | dict(zip(_KIND, k[3:], strict=True))
        for k, c in days.items()
    ]
    day_hour_rows = [
        dict(zip(("scope", "scope_id", "local_date", "local_hour", "direction"), k, strict=True))
        | {"count": c}
        for k, c in day_hours.items()
    ]
    session.flush()
    _upsert(session, FlowHour.__table__, hour_rows, ("scope", "scope_id", "hour", *_KIND))  # type: ignore[arg-type]
    _upsert(session, FlowDay.__table__, day_rows, ("scope", "scope_id", "local_date", *_KIND))  # type: ignore[arg-type]
    _upsert(
        session,
        FlowDayHour.__table__,  # type: ignore[arg-type]
        day_hour_rows,
        ("scope", "scope_id", "local_date", "local_hour", "direction"),
    )
    _add_digests(session, digests)
    return counts


def _add_digests(session: Session, digests: set[tuple[str, str, dt.date, str, str]]) -> None:
    """The vehicles of open days' base cells; a digest already there (the vehicle seen
    before that day, or a redelivery) adds nothing, so the count of rows is distinct."""
    if not digests:
        return
    names = ("scope", "scope_id", "local_date", "cell", "digest")
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(cast(Table, FlowVehicleDigest.__table__)).on_conflict_do_nothing(
            index_elements=list(names)
        ),
        [dict(zip(names, row, strict=True)) for row in sorted(digests)],
    )


def close_days(session: Session, before: dt.date) -> int:
    """Days before `before` are closed: their vehicle digests become a count of distinct
    vehicles per base cell and are deleted (the caller commits). A digest that arrives for a
    closed day (an edge spool emptied late) opens a fresh set, closed again later; the count
    then keeps the larger of the two (each is a lower bound, their sum might not be)."""
    d = FlowVehicleDigest
    key = (d.scope, d.scope_id, d.local_date, d.cell)
    rows = session.execute(
        select(*key, func.count()).where(d.local_date < before).group_by(*key)
    ).all()
    if not rows:
        return 0
    names = ("scope", "scope_id", "local_date", "cell")
    values = [dict(zip(names, row[:4], strict=True)) | {"vehicles": int(row[4])} for row in rows]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, FlowVehicleCount.__table__)
    statement = insert(table)
    counts = table.c
    larger = func.greatest if dialect == "postgresql" else func.max
    session.execute(
        statement.on_conflict_do_update(
            index_elements=list(names),
            set_={"vehicles": larger(counts.vehicles, statement.excluded.vehicles)},
        ),
        values,
    )
    session.execute(delete(d).where(d.local_date < before))
    return len(values)


def purge(session: Session, before: dt.date, batch_log_before: dt.datetime) -> int:
    """Delete rows of days before `before` (retention, years) and the batch log's old ids."""
    removed = 0
    for model in (FlowHour, FlowDay, FlowDayHour):
        result = session.execute(delete(model).where(model.local_date < before))
        removed += int(getattr(result, "rowcount", 0) or 0)
    for vehicles in (FlowVehicleCount, FlowVehicleDigest):  # their cells' distinct counts
        session.execute(delete(vehicles).where(vehicles.local_date < before))
    session.execute(delete(FlowBatchLog).where(FlowBatchLog.applied_at < batch_log_before))
    return removed


# -- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BaseCells:
    """The persisted counts of entering passages of one zone or area on local days
    [start, end): per day and kind of vehicle, and per day and hour. Every figure the back
    office and the open data show is a sum of these (`enforcement.flows.tables`)."""

    scope: str
    scope_id: str
    start: dt.date
    end: dt.date
    days: tuple[DayCell, ...]
    hours: tuple[HourCell, ...]


def fetch(session: Session, scope: str, scope_id: str, start: dt.date, end: dt.date) -> BaseCells:
    """Two reads: the daily rows (a year of a zone is a few thousand) and the hourly totals
    per day (at most 24 a day)."""
    day_rows = session.execute(
        select(
            FlowDay.local_date,
            FlowDay.origin,
            FlowDay.vehicle_class,
            FlowDay.fuel_group,
            FlowDay.emission_class,
            FlowDay.window,
            func.sum(FlowDay.count),
        )
        .where(
            FlowDay.scope == scope,
            FlowDay.scope_id == scope_id,
            FlowDay.local_date >= start,
            FlowDay.local_date < end,
            FlowDay.direction != "leaving",
        )
        .group_by(
            FlowDay.local_date,
            FlowDay.origin,
            FlowDay.vehicle_class,
            FlowDay.fuel_group,
            FlowDay.emission_class,
            FlowDay.window,
        )
    )
    hour_rows = session.execute(
        select(FlowDayHour.local_date, FlowDayHour.local_hour, FlowDayHour.count).where(
            FlowDayHour.scope == scope,
            FlowDayHour.scope_id == scope_id,
            FlowDayHour.local_date >= start,
            FlowDayHour.local_date < end,
            FlowDayHour.direction != "leaving",
        )
    )
    vehicles = _vehicles(session, scope, scope_id, start, end)
    return BaseCells(
        scope,
        scope_id,
        start,
        end,
        tuple(
            DayCell(d, o, c, f, e, w, int(n), vehicles.get((d, day_cell(o, c, f, e, w)), 0))
            for d, o, c, f, e, w, n in day_rows
        ),
        tuple(HourCell(d, h, int(n), vehicles.get((d, hour_cell(h)), 0)) for d, h, n in hour_rows),
    )


def _vehicles(
    session: Session, scope: str, scope_id: str, start: dt.date, end: dt.date
) -> dict[tuple[dt.date, str], int]:
    """Distinct vehicles per base cell: the digests of open days, the counts of closed ones,
    the larger where a closed day got late digests (each a lower bound)."""
    found: dict[tuple[dt.date, str], int] = {}
    d, c = FlowVehicleDigest, FlowVehicleCount
    open_days = (
        select(d.local_date, d.cell, func.count())
        .where(d.scope == scope, d.scope_id == scope_id, d.local_date >= start, d.local_date < end)
        .group_by(d.local_date, d.cell)
    )
    closed = select(c.local_date, c.cell, c.vehicles).where(
        c.scope == scope, c.scope_id == scope_id, c.local_date >= start, c.local_date < end
    )
    for query in (closed, open_days):
        for day, cell, n in session.execute(query):
            found[day, cell] = max(found.get((day, cell), 0), int(n))
    return found


def entries_total(session: Session) -> int:
    """All entries (entering or of unknown direction) persisted in zone cells, for `zes up`'s
    check against the stream's own count."""
    total = session.scalar(
        select(func.sum(FlowHour.count)).where(
            FlowHour.scope == "zone", FlowHour.direction != "leaving"
        )
    )
    return int(total or 0)
