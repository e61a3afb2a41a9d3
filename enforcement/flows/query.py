"""One entry point for every reader of the flow statistics (back office, open-data API,
`zes flows export`): resolve the zone or area, check the period, read the base cells."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from enforcement.areas import AreaCatalog
from enforcement.flows import store
from enforcement.flows.models import FlowDay
from enforcement.flows.opendata import OpenRow, open_rows
from enforcement.flows.tables import GRANULARITIES, Granularity, Table, exact, periods
from enforcement.zones import ZoneCatalog

MAX_DAYS = 3700
"""About ten years: the longest period one request may ask for."""


class FlowQueryError(ValueError):
    """A request for flows that cannot be answered (unknown zone, bad period)."""


@dataclass(frozen=True, slots=True)
class FlowScope:
    scope: str
    """"zone" or "area"."""
    id: str
    name: str
    municipality: str


def scopes(zones: ZoneCatalog, areas: AreaCatalog) -> list[FlowScope]:
    """Every zone and area that flows can be asked for, zones first."""
    found = [FlowScope("zone", z.id, z.name, z.municipality) for z in zones]
    found += [FlowScope("area", a.id, a.name, a.municipality) for a in areas]
    return found


def resolve(name_or_id: str, zones: ZoneCatalog, areas: AreaCatalog) -> FlowScope:
    area = areas.get(name_or_id)
    if area is not None:
        return FlowScope("area", area.id, area.name, area.municipality)
    zone = zones.get(name_or_id)
    if zone is not None:
        return FlowScope("zone", zone.id, zone.name, zone.municipality)
    raise FlowQueryError(f"unknown zone or area {name_or_id!r}")


def check_period(start: dt.date, end: dt.date, granularity: str) -> Granularity:
    """`end` is inclusive for people ("1 to 31 January"); the store reads [start, end + 1)."""
    if granularity not in GRANULARITIES:
        raise FlowQueryError(
            f"granularity must be one of {', '.join(GRANULARITIES)}, not {granularity!r}"
        )
    if end < start:
        raise FlowQueryError(f"the period ends ({end}) before it starts ({start})")
    if end >= dt.date.max:  # the store reads up to the day after `end` (issue 23: a 500)
        raise FlowQueryError(f"the period must end before {dt.date.max.isoformat()}")
    if (end - start).days >= MAX_DAYS:
        raise FlowQueryError(f"a period is at most {MAX_DAYS} days")
    return granularity


@dataclass(frozen=True, slots=True)
class FlowTables:
    """The exact tables of one zone or area and period (the back office)."""

    scope: FlowScope
    start: dt.date
    end: dt.date
    granularity: Granularity
    periods: list[str]
    tables: dict[str, Table[int]]

    def total(self) -> int:
        return sum(row.get("total", 0) for row in self.tables["origin"].values())


def exact_tables(
    session: Session, scope: FlowScope, start: dt.date, end: dt.date, granularity: str
) -> FlowTables:
    g = check_period(start, end, granularity)
    base = store.fetch(session, scope.scope, scope.id, start, end + dt.timedelta(days=1))
    tables = exact(base.days, base.hours, g, area=scope.scope == "area")
    return FlowTables(scope, start, end, g, periods(start, end + dt.timedelta(days=1), g), tables)


def busiest(session: Session, candidates: list[FlowScope], since: dt.date) -> FlowScope | None:
    """Of `candidates`, the zone or area most vehicles entered from `since` on (the page's
    first view); None when none has any."""
    if not candidates:
        return None
    ids = {(c.scope, c.id): c for c in candidates}
    totals = session.execute(
        select(FlowDay.scope, FlowDay.scope_id, func.sum(FlowDay.count))
        .where(
            FlowDay.scope_id.in_(sorted({c.id for c in candidates})),
            FlowDay.local_date >= since,
            FlowDay.direction != "leaving",
        )
        .group_by(FlowDay.scope, FlowDay.scope_id)
    ).all()
    ranked = sorted(
        ((int(total or 0), scope, scope_id) for scope, scope_id, total in totals
         if (scope, scope_id) in ids),
        key=lambda row: (-row[0], row[1] != "zone", row[2]),
    )  # fmt: skip
    return ids[ranked[0][1], ranked[0][2]] if ranked and ranked[0][0] > 0 else None


def open_data(
    session: Session, scope: FlowScope, start: dt.date, end: dt.date, granularity: str, k: int
) -> list[OpenRow]:
    g = check_period(start, end, granularity)
    base = store.fetch(session, scope.scope, scope.id, start, end + dt.timedelta(days=1))
    return open_rows(
        scope.scope, scope.id, start.isoformat(), end.isoformat(), base.days, base.hours, g, k
    )
