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
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from enforcement.flows.models import (
    FlowBatchLog,
    FlowDay,
    FlowDayHour,
    FlowHour,
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
    return counts


def purge(session: Session, before: dt.date, batch_log_before: dt.datetime) -> int:
    """Delete rows of days before `before` (retention, years) and the batch log's old ids."""
    removed = 0
    for model in (FlowHour, FlowDay, FlowDayHour):
        result = session.execute(delete(model).where(model.local_date < before))
        removed += int(getattr(result, "rowcount", 0) or 0)
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
    return BaseCells(
        scope,
        scope_id,
        start,
        end,
        tuple(DayCell(d, o, c, f, e, w, int(n)) for d, o, c, f, e, w, n in day_rows),
        tuple(HourCell(d, h, int(n)) for d, h, n in hour_rows),
    )


def entries_total(session: Session) -> int:
    """All entries (entering or of unknown direction) persisted in zone cells, for `zes up`'s
    check against the stream's own count."""
    total = session.scalar(
        select(func.sum(FlowHour.count)).where(
            FlowHour.scope == "zone", FlowHour.direction != "leaving"
        )
    )
    return int(total or 0)
