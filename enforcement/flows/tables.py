"""The flow tables policy staff read, as sums of persisted base cells. Pure.

Each base cell (a day and kind of vehicle, or a day and hour) is placed in one row and column
of each table it belongs to (`placements`). The back office adds the counts exactly
(`exact`); the open data publishes each figure from the same placements with small cells
suppressed (`enforcement.flows.suppression`), so every published figure is a function of the
published base cells alone.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from typing import Literal, NamedTuple, TypeVar

Granularity = Literal["day", "week", "month", "year"]
GRANULARITIES: tuple[Granularity, ...] = ("day", "week", "month", "year")

TABLES = ("vehicle_class", "emission_fuel", "zero_emission", "hour_weekday", "window", "origin")
"""The tables, in page order: entries by vehicle class per period; by emission class and fuel
group; the zero-emission share per period; by local hour and weekday; loading-window use per
period (areas); Dutch and foreign plates per period."""

TOTAL = "total"


class DayCell(NamedTuple):
    local_date: dt.date
    origin: str
    vehicle_class: str
    fuel_group: str
    emission_class: str
    window: str
    entries: int
    """Passages into the zone or area (the figure published)."""
    vehicles: int
    """Distinct vehicles among them, a lower bound (what small-cell suppression compares
    with k: five entries of one tractor are one vehicle)."""


class HourCell(NamedTuple):
    local_date: dt.date
    local_hour: int
    entries: int
    vehicles: int


Placement = tuple[str, str, str]
"""table, row label, column label."""


def period_start(day: dt.date, granularity: Granularity) -> dt.date:
    if granularity == "day":
        return day
    if granularity == "week":
        return day - dt.timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


@functools.lru_cache(maxsize=16_384)
def period_label(day: dt.date, granularity: Granularity) -> str:
    """2026-11-30, 2026-W49, 2026-11 or 2026 for the period `day` falls in."""
    start = period_start(day, granularity)
    if granularity == "day":
        return start.isoformat()
    if granularity == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if granularity == "month":
        return f"{start:%Y-%m}"
    return f"{start:%Y}"


def periods(start: dt.date, end: dt.date, granularity: Granularity) -> list[str]:
    """The labels of every period that local days [start, end) touch, in order."""
    labels: list[str] = []
    day = start
    while day < end:
        label = period_label(day, granularity)
        if not labels or labels[-1] != label:
            labels.append(label)
        day += dt.timedelta(days=1)
    return labels


def day_placements(cell: DayCell, granularity: Granularity, area: bool) -> Iterator[Placement]:
    period = period_label(cell.local_date, granularity)
    yield "origin", period, cell.origin
    if area:
        yield "window", period, cell.window
    if cell.origin != "nl":
        return  # the register knows Dutch vehicles only (R34): kinds are for NL plates
    yield "vehicle_class", period, cell.vehicle_class
    yield "emission_fuel", cell.emission_class, cell.fuel_group
    ze = "zero_emission" if cell.fuel_group == "zero_emission" else "other"
    yield "zero_emission", period, ze


def hour_placements(cell: HourCell) -> Iterator[Placement]:
    yield "hour_weekday", f"{cell.local_hour:02d}", str(cell.local_date.isoweekday())


V = TypeVar("V")
Table = dict[str, dict[str, V]]


def _placed(
    days: tuple[DayCell, ...], hours: tuple[HourCell, ...], granularity: Granularity, area: bool
) -> Iterator[tuple[str, str, str, int, int]]:
    """table, row, column, entries, vehicles of every placement of every base cell."""
    for day in days:
        for table, row, column in day_placements(day, granularity, area):
            yield table, row, column, day.entries, day.vehicles
    for hour in hours:
        for table, row, column in hour_placements(hour):
            yield table, row, column, hour.entries, hour.vehicles


def exact(
    days: tuple[DayCell, ...], hours: tuple[HourCell, ...], granularity: Granularity, area: bool
) -> dict[str, Table[int]]:
    """The tables with exact sums (the back office, for staff entitled to them), with a
    `total` column per row."""
    tables: dict[str, Table[int]] = {name: {} for name in TABLES}
    for table, row, column, count, _ in _placed(days, hours, granularity, area):
        cells = tables[table].get(row)
        if cells is None:
            cells = tables[table][row] = {}
        cells[column] = cells.get(column, 0) + count
        cells[TOTAL] = cells.get(TOTAL, 0) + count
    return tables


def published(
    days: tuple[DayCell, ...],
    hours: tuple[HourCell, ...],
    granularity: Granularity,
    area: bool,
    figure: Callable[[int, int], V],
    k: int,
) -> dict[str, Table[V]]:
    """The tables for the open data: each figure from the exact part of its base cells and
    how many of them are small, which is all `figure` may see. A base cell is small when it
    holds entries but fewer than k distinct vehicles (its `vehicles`, a lower bound), however
    many entries: so every exact figure is a sum of cells of at least k vehicles each."""
    parts: dict[str, Table[list[int]]] = {name: {} for name in TABLES}
    for table, row, column, count, vehicles in _placed(days, hours, granularity, area):
        if count <= 0:
            continue
        small = vehicles < k
        cells = parts[table].setdefault(row, {})
        for key in (column, TOTAL):
            part = cells.get(key)
            if part is None:
                part = cells[key] = [0, 0]
            if small:
                part[1] += 1
            else:
                part[0] += count
    return {
        name: {row: {c: figure(*p) for c, p in cols.items()} for row, cols in t.items()}
        for name, t in parts.items()
    }
