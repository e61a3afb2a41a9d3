"""The supervisors' page: throughput per reviewer (from the audit log, which is the record of
who decided what), the oldest open case, the reject reasons of a period, and what became of
the period's cases per zone and per camera (confirmed, rejected by reason, exported,
objections, annulled: where we err), with a chart (server-side SVG, as Stromen)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import func, select
from starlette.responses import Response

from enforcement.casework import review
from enforcement.casework.models import ACTIVE_STATUSES, AuditEntry, Case, CaseStatus
from enforcement.casework.outcomes import OutcomeStats, outcome_stats
from enforcement.casework.tenancy import CaseScope
from enforcement.web import charts
from enforcement.web.core.templating import lang_of, render
from enforcement.web.deps import Context, Db, Scope, Supervisor
from enforcement.web.texts import ui_text

router = APIRouter()

DECISIONS = ("confirm", "approve", "reject", "escalate", "correct")
PERIODS = (1, 7, 30, 90)


@router.get("/supervisor")
def supervisor_page(
    request: Request,
    ctx: Context,
    db: Db,
    user: Supervisor,
    scope: Scope,  # only the cases of the supervisor's municipalities
    days: Annotated[int, Query(ge=1, le=366)] = 7,
) -> Response:
    now = ctx.clock()
    since = now - timedelta(days=days)
    rows = db.execute(
        select(AuditEntry.actor, AuditEntry.action, func.count())
        .join(Case, Case.id == AuditEntry.case_id)
        .where(AuditEntry.action.in_(DECISIONS), AuditEntry.at >= since, scope.cases())
        .group_by(AuditEntry.actor, AuditEntry.action)
    ).all()
    oldest_at = review.oldest_open(db, scope.within)
    oldest = (
        db.scalars(
            select(Case)
            .where(Case.status.in_([s.value for s in ACTIVE_STATUSES]), scope.cases())
            .order_by(Case.first_seen_at, Case.id)
            .limit(1)
        ).first()
        if oldest_at is not None
        else None
    )
    reasons = db.execute(
        select(Case.reject_reason, func.count())
        .where(Case.status == CaseStatus.REJECTED.value, Case.closed_at >= since, scope.cases())
        .group_by(Case.reject_reason)
        .order_by(func.count().desc())
    ).all()
    throughput: dict[str, dict[str, int]] = {}
    for actor, action, count in rows:
        throughput.setdefault(actor, dict.fromkeys(DECISIONS, 0))[action] = int(count)
    table = sorted(
        ((actor, counts, sum(counts.values())) for actor, counts in throughput.items()),
        key=lambda row: (-row[2], row[0]),
    )
    oldest_hours = (
        int((now - oldest.first_seen_at).total_seconds() // 3600) if oldest is not None else 0
    )
    outcomes = outcome_stats(db, since, now, scope=scope.cases())
    return render(
        request,
        "supervisor.html",
        outcomes=outcomes,
        days=days,
        periods=PERIODS,
        decisions=DECISIONS,
        throughput=table,
        oldest=oldest,
        oldest_hours=oldest_hours,
        reasons=[(str(reason or "-"), int(count)) for reason, count in reasons],
    )


_SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
#: The chart's bars, in the table's order (OutcomeTally attributes).
CHART_PARTS = ("cases", "confirmed", "rejected_total", "exported", "objections", "annulled")
_PART_TEXT = {"rejected_total": "col_rejected"}


def _outcomes(db: Db, scope: CaseScope, ctx: Context, days: int) -> OutcomeStats:
    now = ctx.clock()
    return outcome_stats(db, now - timedelta(days=days), now, scope=scope.cases())


@router.get("/supervisor/outcomes.svg")
def outcomes_chart(
    request: Request,
    ctx: Context,
    db: Db,
    user: Supervisor,
    scope: Scope,
    days: Annotated[int, Query(ge=1, le=366)] = 7,
) -> Response:
    """The page's chart: per zone, the cases of the period and what became of them."""
    stats = _outcomes(db, scope, ctx, days)
    lang = lang_of(request)
    zones = list(stats.zones)
    series = [
        (
            ui_text(_PART_TEXT.get(part, f"col_{part}"), lang),
            [int(getattr(stats.zones[z], part)) for z in zones],
        )
        for part in CHART_PARTS
    ]
    response = Response(charts.grouped_bars(zones, series), media_type="image/svg+xml")
    response.headers["content-security-policy"] = _SVG_POLICY
    return response
