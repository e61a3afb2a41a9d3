"""The audit log page for supervisors and admins, newest first, scoped like everything else:
a municipality's supervisor sees the entries about its cases and those of its own officers
(logins, account changes); a regional account sees every entry. Reading it is audited too."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import ColumnElement, and_, or_, select
from starlette.responses import Response

from enforcement.casework import audit
from enforcement.casework.models import AuditEntry, Case, User, UserMunicipality
from enforcement.casework.tenancy import CaseScope
from enforcement.web.core.templating import render
from enforcement.web.deps import Context, Db, Scope, Supervisor

router = APIRouter()

PAGE_SIZE = 100


def _visible(scope: CaseScope) -> ColumnElement[bool]:
    """Entries about a case of the scope, or without a case by an officer of the scope."""
    cases = select(Case.id).where(scope.cases())
    officers = (
        select(User.username)
        .join(UserMunicipality, UserMunicipality.user_id == User.id)
        .where(UserMunicipality.municipality.in_(sorted(scope.municipalities)))
    )
    return or_(
        AuditEntry.case_id.in_(cases),
        and_(AuditEntry.case_id.is_(None), AuditEntry.actor.in_(officers)),
    )


@router.get("/audit")
def audit_page(
    request: Request,
    ctx: Context,
    db: Db,
    user: Supervisor,
    scope: Scope,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(PAGE_SIZE + 1)
    if not scope.everything:
        query = query.where(_visible(scope))
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    rows = list(db.scalars(query))
    shown, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    audit.append(
        db, user.username, "view_audit", detail={"before": before, "shown": len(shown)},
        at=ctx.clock(),
    )  # fmt: skip
    db.commit()
    entries = [
        (e.seq, e.at, e.actor, e.action, e.case_id, json.dumps(e.detail, ensure_ascii=False))
        for e in shown
    ]
    return render(
        request,
        "audit.html",
        entries=entries,
        older=f"/audit?before={shown[-1].seq}" if more and shown else None,
    )
