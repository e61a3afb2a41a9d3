"""The queue: filters, pagination and the "next case" button (claims one case)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from enforcement.casework import audit, review
from enforcement.casework.models import Case, CaseStatus, User
from enforcement.casework.tenancy import CaseScope
from enforcement.model import VehicleClass, Zone, fold_name
from enforcement.web.core.state import WebContext
from enforcement.web.core.templating import flash, render
from enforcement.web.deps import Context, CurrentUser, Db, Scope

router = APIRouter()

PAGE_SIZE = 50
MAX_FILTER = 64
MAX_AGE_HOURS = 24 * 365


@dataclass(frozen=True, slots=True)
class Filters:
    """The filter form as typed (echoed back, escaped) and what it means for the query."""

    zone: str = ""
    status: str = ""
    age: str = ""
    vehicle_class: str = ""

    def audited(self, zones: set[str]) -> dict[str, str]:
        """The filters as the audit log keeps them: a zone that is not a known zone id
        (free text could be a plate) is written as `?`."""
        values = {
            "zone": self.zone.strip(),
            "status": self.status.strip(),
            "age": self.age.strip(),
            "vehicle_class": self.vehicle_class.strip(),
        }
        if values["zone"] and values["zone"] not in zones:
            values["zone"] = "?"
        return {k: v for k, v in values.items() if v}

    def zone_id(self, zones: Mapping[str, str]) -> str | None:
        """The zone asked for as its id: by id or name, in any case or spelling
        (`fold_name`); None for none asked or one not among `zones` (folded name -> id)."""
        asked = fold_name(self.zone)
        return zones.get(asked) if asked else None

    def parse(self, zones: Mapping[str, str]) -> tuple[review.QueueFilter, tuple[str, ...]]:
        """The query filter, or the message keys of what is wrong with the form. A bad
        filter shows nothing rather than silently widening the queue. `zones`: the
        officer's zones, folded id and folded name -> id."""
        errors: list[str] = []
        if any(len(v) > MAX_FILTER for v in (self.zone, self.status, self.age, self.vehicle_class)):
            errors.append("filter_too_long")
        zone = self.zone_id(zones)
        if self.zone.strip() and zone is None and "filter_too_long" not in errors:
            errors.append("filter_bad_zone")
        status = self.status.strip()
        if status and status not in {s.value for s in CaseStatus}:
            errors.append("filter_bad_status")
        older: float | None = None
        if self.age.strip():
            try:
                older = float(self.age)
            except ValueError:
                older = math.nan
            if not 0 <= older <= MAX_AGE_HOURS:  # also false for nan
                errors.append("filter_bad_age")
        query = review.QueueFilter(
            zone=zone,
            status=status or None,
            vehicle_class=self.vehicle_class.strip() or None,
            older_than_hours=older,
        )
        return query, tuple(errors)

    def query_string(self, **extra: int | str) -> str:
        values: dict[str, str | int] = {
            k: v
            for k, v in (
                ("zone", self.zone),
                ("status", self.status),
                ("age", self.age),
                ("vehicle_class", self.vehicle_class),
            )
            if v
        }
        values.update(extra)
        return urlencode(values)


@router.get("/")
def home() -> Response:
    return RedirectResponse("/queue", status_code=303)


@router.get("/queue")
def queue_page(
    request: Request,
    ctx: Context,
    db: Db,
    user: CurrentUser,
    scope: Scope,
    zone: Annotated[str, Query(max_length=1000)] = "",
    status: Annotated[str, Query(max_length=1000)] = "",
    age: Annotated[str, Query(max_length=1000)] = "",
    vehicle_class: Annotated[str, Query(max_length=1000)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    sort: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    filters = Filters(zone, status, age, vehicle_class)
    mine = officer_zones(ctx, scope)
    query, errors = filters.parse(zone_lookup(mine))
    order, descending = _sort_of(sort)
    cases: list[Case] = []
    total = 0
    holders: dict[int, str] = {}
    if not errors:
        query = dataclasses.replace(query, within=scope.within)
        found = review.queue(
            db, query, ctx.clock(), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
            order=order, descending=descending,
        )  # fmt: skip
        cases, total = list(found.cases), found.total
        ids = {c.claimed_by for c in cases if c.claimed_by is not None}
        if ids:
            rows = db.execute(select(User.id, User.username).where(User.id.in_(ids)))
            holders = {row[0]: row[1] for row in rows}
    # Who looked at which part of the queue: filters, page and counts, no plates. A refused
    # filter too (an unknown zone could be a plate typed: it is written `?`).
    chosen = filters.zone_id(zone_lookup(mine))
    audit.append(
        db,
        user.username,
        "view_queue",
        detail={
            "filters": dataclasses.replace(filters, zone=chosen or filters.zone).audited(
                {z.id for z in ctx.zones}
            ),
            "page": page,
            "shown": len(cases),
            "total": total,
        },
        at=ctx.clock(),
    )
    db.commit()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return render(
        request,
        "queue.html",
        errors=errors,
        filters=filters,
        cases=cases,
        total=total,
        page=page,
        pages=pages,
        holders=holders,
        now=ctx.clock(),
        zones=mine,
        zone_names={z.id: z.name for z in mine},
        zone_chosen=filters.zone_id(zone_lookup(mine)) or "",
        statuses=[s.value for s in CaseStatus],
        classes=[c.value for c in VehicleClass],
        sort_links={
            column: f"/queue?{filters.query_string(**_sorted_by(column, order, descending))}"
            for column in review.QUEUE_ORDERS
        },
        order=order,
        descending=descending,
        prev_link=f"/queue?{filters.query_string(page=page - 1, **_kept(sort))}"
        if page > 1
        else None,
        next_link=f"/queue?{filters.query_string(page=page + 1, **_kept(sort))}"
        if page < pages
        else None,
    )


def officer_zones(ctx: WebContext, scope: CaseScope) -> list[Zone]:
    """The zones whose cases this officer sees, by name (the zone filter's choices)."""
    return sorted((z for z in ctx.zones if scope.sees_zone(z.id)), key=lambda z: z.name)


def zone_lookup(zones: list[Zone]) -> dict[str, str]:
    """Folded id and folded name -> id: `Utrecht`, `utrecht`, `den haag`, `Den-Haag`."""
    found: dict[str, str] = {}
    for zone in zones:
        found[fold_name(zone.name)] = zone.id
        found[fold_name(zone.id)] = zone.id
    return found


def _sort_of(text: str) -> tuple[str, bool]:
    """`sort=outcome` or `sort=-outcome` (descending); anything else: oldest first."""
    name = text.strip().removeprefix("-")
    if name not in review.QUEUE_ORDERS:
        return "first_seen", False
    return name, text.strip().startswith("-")


def _sorted_by(column: str, order: str, descending: bool) -> dict[str, str]:
    """The link of a column's header: sort by it, or reverse it when it is the order."""
    return {"sort": f"-{column}" if column == order and not descending else column}


def _kept(sort: str) -> dict[str, str]:
    return {"sort": sort} if sort else {}


@router.post("/queue/next")
def next_case(
    request: Request,
    ctx: Context,
    db: Db,
    user: CurrentUser,
    scope: Scope,
    zone: Annotated[str, Form(max_length=1000)] = "",
    status: Annotated[str, Form(max_length=1000)] = "",
    age: Annotated[str, Form(max_length=1000)] = "",
    vehicle_class: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Claim the oldest case this reviewer may take, with the queue's filters."""
    filters = Filters(zone, status, age, vehicle_class)
    query, errors = filters.parse(zone_lookup(officer_zones(ctx, scope)))
    back = f"/queue?{filters.query_string()}".rstrip("?")
    if errors:
        return RedirectResponse(back, status_code=303)
    query = dataclasses.replace(query, within=scope.within)
    case = review.next_case(db, user, query, ctx.clock(), ctx.cases.claim_minutes)
    case_id = case.id if case is not None else None
    db.commit()
    if case_id is None:
        flash(request, "no_case_available")
        return RedirectResponse(back, status_code=303)
    flash(request, "claimed", id=case_id)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)
