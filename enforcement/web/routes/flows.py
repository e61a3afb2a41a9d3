"""Stromen: the logistics-flow statistics for policy staff (and supervisors and admins).

Per zone or area and period: entries by vehicle class, by emission class and fuel group, the
zero-emission share over time, entries by local hour and weekday, loading-window use and the
foreign share. Charts are SVG images rendered here; each has its numbers in a table beside it
and a CSV download. The public, suppressed version of the same tables is `GET /api/v1/flows`.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.routing import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.responses import PlainTextResponse, Response

from enforcement.casework.tenancy import CaseScope
from enforcement.flows.opendata import COLUMNS, to_csv
from enforcement.flows.query import (
    FlowQueryError,
    FlowScope,
    FlowTables,
    busiest,
    exact_tables,
    open_data,
    resolve,
    scopes,
)
from enforcement.flows.settings import FlowSettings
from enforcement.flows.tables import GRANULARITIES, TOTAL
from enforcement.model import LOCAL_TZ, fold_name
from enforcement.settings import load_areas
from enforcement.web.charts import share_line, stacked_bars
from enforcement.web.core.state import WebContext
from enforcement.web.core.templating import lang_of, render
from enforcement.web.deps import ClientAddress, Context, Day, Db, PolicyReader, Scope
from enforcement.web.problems import PROBLEM_RESPONSES, ProblemError
from enforcement.web.texts import category, ui_text

router = APIRouter()
CACHE_SECONDS = 60.0

PERIODS = ("day", "week", "month", "year", "custom")
CHARTS = ("vehicle_class", "emission_fuel", "zero_emission", "hour_weekday", "window", "origin")
"""Page order; `window` only for an access-window area."""
_DEFAULT_GRANULARITY = {"day": "day", "week": "day", "month": "day", "year": "month"}
# An SVG shown as an <img> runs no script; its own styles are inline (pygal), nothing else.
_SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


def flow_scopes(request: Request, ctx: WebContext) -> list[FlowScope]:
    """Zones and areas, built once per app (the law file is read at start-up)."""
    state = request.app.state
    found: list[FlowScope] | None = getattr(state, "flow_scopes", None)
    if found is None:
        found = scopes(ctx.rechecker.zones, load_areas(ctx.settings))
        state.flow_scopes = found
    return found


class NotYoursError(FlowQueryError):
    """A zone or area of a municipality the user does not belong to (answered 404, as a case
    of another municipality is)."""


def visible_scopes(request: Request, ctx: WebContext, cases: CaseScope) -> list[FlowScope]:
    """The zones and areas of the user's municipalities (every one for a regional account)."""
    if cases.everything:
        return flow_scopes(request, ctx)
    mine = {fold_name(m) for m in cases.municipalities}
    return [s for s in flow_scopes(request, ctx) if fold_name(s.municipality) in mine]


#: The first view opens on the zone most vehicles entered in this many days.
BUSIEST_DAYS = 30
_LAST_ZONE = "flows_zone"


def _scope(reader: Reader, zone: str | None) -> FlowScope:
    """The asked zone or area; without one, the last one this user chose (kept in the
    session), else the busiest of the user's own, else the first of them that has a zone."""
    request, ctx = reader.request, reader.ctx
    available = visible_scopes(request, ctx, reader.cases)
    if not zone:
        if not available:
            raise NotYoursError("no zone or area of your municipalities")
        last = request.session.get(_LAST_ZONE)
        for candidate in available:
            if candidate.id == last:
                return candidate
        today = ctx.clock().astimezone(LOCAL_TZ).date()
        found = busiest(reader.db, available, today - dt.timedelta(days=BUSIEST_DAYS))
        if found is not None:
            return found
        started = {z.id for z in ctx.rechecker.zones if z.start is not None}
        return next((s for s in available if s.id in started), available[0])
    found = resolve(zone, ctx.rechecker.zones, load_areas(ctx.settings))
    if found not in available:
        raise NotYoursError(f"unknown zone or area {zone!r}")
    return found


def period_bounds(
    period: str, on: dt.date, start: dt.date | None, end: dt.date | None
) -> tuple[dt.date, dt.date]:
    """First and last local day (inclusive) of the chosen period around `on`."""
    if period == "day":
        return on, on
    if period == "week":
        first = on - dt.timedelta(days=on.weekday())
        return first, first + dt.timedelta(days=6)
    if period == "month":
        first = on.replace(day=1)
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return first, following - dt.timedelta(days=1)
    if period == "year":
        return on.replace(month=1, day=1), on.replace(month=12, day=31)
    if start is None or end is None:
        raise FlowQueryError("a custom period needs a first and a last day")
    return start, end


def _granularity(period: str, start: dt.date, end: dt.date, chosen: str | None) -> str:
    if chosen:
        return chosen
    if period in _DEFAULT_GRANULARITY:
        return _DEFAULT_GRANULARITY[period]
    span = (end - start).days
    return "day" if span <= 62 else "week" if span <= 370 else "month"


@dataclass(frozen=True, slots=True)
class FlowAsk:
    """What the page, its charts and its CSV files are asked for (the same query string)."""

    zone: str | None
    period: str
    on: dt.date | None
    start: dt.date | None
    end: dt.date | None
    granularity: str | None


def flow_ask(
    zone: Annotated[str | None, Query(max_length=64)] = None,
    period: Annotated[str, Query(max_length=16)] = "month",
    on: Annotated[Day | None, Query()] = None,
    start: Annotated[Day | None, Query(alias="from")] = None,
    end: Annotated[Day | None, Query(alias="to")] = None,
    granularity: Annotated[str | None, Query(max_length=8)] = None,
) -> FlowAsk:
    return FlowAsk(zone, period, on, start, end, granularity)


Ask = Annotated[FlowAsk, Depends(flow_ask)]


@dataclass(frozen=True, slots=True)
class Reader:
    """Who asks for flow tables, with the request's dependencies."""

    request: Request
    ctx: WebContext
    db: Session
    cases: CaseScope


def _tables(reader: Reader, ask: FlowAsk) -> FlowTables:
    request, ctx = reader.request, reader.ctx
    today = ctx.clock().astimezone(LOCAL_TZ).date()
    period = ask.period
    if period not in PERIODS:
        raise FlowQueryError(f"unknown period {period!r}")
    first, last = period_bounds(period, ask.on or today, ask.start, ask.end)
    if first <= today < last:
        last = today  # no bars for days that have not happened (they would read as zeros)
    scope = _scope(reader, ask.zone)
    chosen = _granularity(period, first, last, ask.granularity)
    # A page view asks for the same tables seven times (the page, its charts): keep them a
    # minute. Flows arrive per stream batch; a minute late is still news for policy staff.
    cache: dict[tuple[object, ...], tuple[float, FlowTables]] = (
        request.app.state.__dict__.setdefault("flow_tables", {})
    )
    key = (scope.id, first, last, chosen)
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    flows = exact_tables(reader.db, scope, first, last, chosen)
    if len(cache) > 256:
        cache.clear()
    cache[key] = (now + CACHE_SECONDS, flows)
    return flows


def _columns(table: dict[str, dict[str, int]]) -> list[str]:
    found = sorted({c for row in table.values() for c in row if c != TOTAL})
    return [*found, TOTAL]


_PERIOD_TABLES = ("vehicle_class", "zero_emission", "window", "origin")


def _short(labels: list[str], granularity: str) -> list[str]:
    """Axis labels: 03-02 for a day (the table beside the chart has the full date)."""
    return [label[5:] for label in labels] if granularity == "day" else labels


def _rows(flows: FlowTables, name: str) -> list[str]:
    """Period tables list every period (empty ones too); the others what was seen."""
    table = flows.tables[name]
    if name in _PERIOD_TABLES:
        return flows.periods
    if name == "hour_weekday":
        return [f"{h:02d}" for h in range(24)]
    return sorted(table)


def _chart_names(flows: FlowTables) -> list[str]:
    return [c for c in CHARTS if c != "window" or flows.scope.scope == "area"]


def _query_string(flows: FlowTables) -> str:
    return (
        f"zone={flows.scope.id}&period=custom&from={flows.start}&to={flows.end}"
        f"&granularity={flows.granularity}"
    )


@router.get("/flows")
def flows_page(
    request: Request, ctx: Context, db: Db, user: PolicyReader, scope: Scope, ask: Ask
) -> Response:
    period = ask.period
    try:
        flows = _tables(Reader(request, ctx, db, scope), ask)
        if ask.zone:
            request.session[_LAST_ZONE] = flows.scope.id
    except FlowQueryError as exc:
        return render(
            request, "flows.html", status_code=_status(exc), problem=str(exc), flows=None,
            scopes=visible_scopes(request, ctx, scope), periods=PERIODS,
            granularities=GRANULARITIES, period=period, charts=[], query="",
        )  # fmt: skip
    charts_shown = [
        (name, _rows(flows, name), _columns(flows.tables[name]), flows.tables[name])
        for name in _chart_names(flows)
    ]
    return render(
        request,
        "flows.html",
        problem=None,
        flows=flows,
        scopes=visible_scopes(request, ctx, scope),
        periods=PERIODS,
        granularities=GRANULARITIES,
        period=period,
        charts=charts_shown,
        query=_query_string(flows),
    )


def _svg(flows: FlowTables, name: str, lang: str) -> bytes:
    table = flows.tables[name]
    rows = _rows(flows, name)
    if name in ("zero_emission", "origin"):
        part = "zero_emission" if name == "zero_emission" else "foreign"
        shares: list[float | None] = []
        for row in rows:
            cells = table.get(row, {})
            total = cells.get(TOTAL, 0)
            shares.append(round(100 * cells.get(part, 0) / total, 1) if total else None)
        labels = _short(rows, flows.granularity)
        return share_line(labels, [(ui_text(f"flows_share_{part}", lang), shares)])
    columns = [c for c in _columns(table) if c != TOTAL]
    labels = (
        _short(rows, flows.granularity)
        if name in _PERIOD_TABLES
        else [category(row, lang) for row in rows]
    )
    if name == "hour_weekday":
        series_names = [ui_text(f"weekday_{c}", lang) for c in columns]
    else:
        series_names = [category(c, lang) for c in columns]
    series = [
        (series_name, [table.get(row, {}).get(column, 0) for row in rows])
        for series_name, column in zip(series_names, columns, strict=True)
    ]
    return stacked_bars(labels, series)


def _status(problem: FlowQueryError) -> int:
    return 404 if isinstance(problem, NotYoursError) else 400


def _one_table(reader: Reader, ask: FlowAsk, name: str) -> FlowTables | Response:
    """The tables for one chart or CSV file, or the plain-text answer why not."""
    if name not in CHARTS:
        return PlainTextResponse("unknown chart or table", status_code=404)
    try:
        return _tables(reader, ask)
    except FlowQueryError as exc:
        return PlainTextResponse(str(exc), status_code=_status(exc))


@router.get("/flows/chart/{name}.svg")
def flows_chart(
    request: Request,
    name: str,
    ctx: Context,
    db: Db,
    user: PolicyReader,
    scope: Scope,
    ask: Ask,
) -> Response:
    flows = _one_table(Reader(request, ctx, db, scope), ask, name)
    if isinstance(flows, Response):
        return flows
    response = Response(_svg(flows, name, lang_of(request)), media_type="image/svg+xml")
    response.headers["content-security-policy"] = _SVG_POLICY
    return response


@router.get("/flows/{name}.csv")
def flows_csv(
    request: Request,
    name: str,
    ctx: Context,
    db: Db,
    user: PolicyReader,
    scope: Scope,
    ask: Ask,
) -> Response:
    """One table's exact numbers (staff only; the public CSV is suppressed)."""
    flows = _one_table(Reader(request, ctx, db, scope), ask, name)
    if isinstance(flows, Response):
        return flows
    table = flows.tables[name]
    columns = _columns(table)
    lines = [",".join(["row", *columns])]
    for row in _rows(flows, name):
        lines.append(",".join([row, *(str(table.get(row, {}).get(c, 0)) for c in columns)]))
    filename = f"flows-{flows.scope.id}-{name}-{flows.start}-{flows.end}.csv"
    return Response(
        "\r\n".join(lines) + "\r\n",
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


# -- open data (mounted in the public API beside the plate check) ------------------------------


class OpenFlowRow(BaseModel):
    scope: str = Field(description="`zone` or `area` (an access-window area).")
    id: str = Field(description="The zone's or area's id.")
    from_: str = Field(alias="from", description="First local day of the request.")
    to: str = Field(description="Last local day of the request (inclusive).")
    granularity: str = Field(description="day, week, month or year.")
    table: str = Field(
        description="vehicle_class (row: period), emission_fuel (row: emission class, column: "
        "fuel group), zero_emission (row: period, column: zero_emission/other), hour_weekday "
        "(row: local hour 00-23, column: ISO weekday 1-7), window (areas; row: period, column: "
        "in/privilege/exempt/out/out_of_scope/undetermined), origin (row: period, column: "
        "nl/foreign). Every table has a `total` column per row."
    )
    row: str = Field(description="Period label (2026-11-30, 2026-W49, 2026-11, 2026) or key.")
    column: str = Field(description="Category, or `total`.")
    count: int | None = Field(
        description="Entering vehicles; null when fewer than k (suppressed, shown as `<k` in CSV)."
    )
    suppressed: bool = Field(description="True when fewer than k vehicles: `count` is null.")
    rounded: bool = Field(
        description="True when the figure holds suppressed cells: it is then rounded to a "
        "multiple of k, each suppressed cell counted as k/2 (so it reveals none of them)."
    )


class OpenFlows(BaseModel):
    min_cell: int = Field(description="k: figures from fewer vehicles are shown as `<k`.")
    rows: list[OpenFlowRow]


def open_flows_api(
    ctx: Context,
    db: Db,
    address: ClientAddress,
    zone: Annotated[str, Query(max_length=64, description="Zone or area id.")],
    start: Annotated[Day, Query(alias="from", description="First local day.")],
    end: Annotated[Day, Query(alias="to", description="Last local day (inclusive).")],
    granularity: Annotated[
        str, Query(max_length=8, description="day, week, month or year.")
    ] = "month",
    output: Annotated[str, Query(alias="format", pattern="^(json|csv)$")] = "json",
) -> Any:
    k = FlowSettings().min_cell
    # Rate-limited like the plate check: every answer is a query over years of rows.
    if not ctx.counters.allow(f"flows-api:{address}", ctx.cases.flows_api_per_minute, 60.0):
        raise ProblemError(429, "flows_error_rate")
    try:
        scope = resolve(zone, ctx.rechecker.zones, load_areas(ctx.settings))
        rows = open_data(db, scope, start, end, granularity, k)
    except FlowQueryError as exc:
        raise ProblemError(400, "problem_flows", problem=str(exc)) from None
    if output == "csv":
        return Response(
            to_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="flows-{scope.id}.csv"'},
        )
    return {"min_cell": k, "rows": [r.as_json() for r in rows]}


def add_open_data(api: FastAPI) -> None:
    """`GET /flows` on the public API (documented in its OpenAPI document)."""
    api.add_api_route(
        "/flows",
        open_flows_api,
        methods=["GET"],
        response_model=OpenFlows,
        responses={
            **PROBLEM_RESPONSES,
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        },
        summary="Logistics flows into a zone (open data, small cells suppressed)",
        description="Entering vehicles per zone or access-window area and period, by vehicle "
        "class, emission class and fuel group, zero-emission share, hour and weekday, window use "
        f"and origin. CSV columns: {', '.join(COLUMNS)}. Method: any figure from fewer than k "
        "vehicles is `<k`; a figure holding such cells is rounded to a multiple of k with each "
        "counted as k/2, so no subtraction recovers one.",
    )
