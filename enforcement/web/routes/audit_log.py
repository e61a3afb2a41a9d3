"""The audit log page for supervisors and admins, newest first, scoped like everything else:
a municipality's supervisor sees the entries about its cases and those of its own officers
(logins, account changes); a regional account sees every entry. Reading it is audited too.

Filters: case, user, action and a period of local days. Above the table the chain's state:
whether it verifies from the genesis hash to its head, and the anchor (length and newest
hash) to compare with the one kept outside the database (`zes enforce audit anchor`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy import ColumnElement, and_, or_, select
from starlette.responses import Response

from enforcement.casework import audit
from enforcement.casework.models import AuditEntry, Case, User, UserMunicipality
from enforcement.casework.tenancy import CaseScope
from enforcement.model import LOCAL_TZ
from enforcement.web.core.templating import lang_of, render
from enforcement.web.deps import Context, Db, Scope, Supervisor
from enforcement.web.texts import audit_action

router = APIRouter()

PAGE_SIZE = 100

#: The actions the filter offers (others are still listed, and can be typed in the URL).
ACTIONS = (
    "claim", "confirm", "approve", "reject", "escalate", "correct", "close", "note",
    "view_case", "view_evidence", "view_queue", "view_audit", "evidence_integrity_failed",
    "login", "login_failed", "login_code_failed", "logout", "totp_enrolled",
    "user_add", "user_disable", "user_totp_reset", "export_reserve", "export", "purge",
)  # fmt: skip


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


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """The filter form as asked (echoed back) and its query conditions."""

    case: int | None = None
    user: str = ""
    action: str = ""
    start: dt.date | None = None
    end: dt.date | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.case is not None:
            found.append(AuditEntry.case_id == self.case)
        if self.user.strip():
            found.append(AuditEntry.actor == self.user.strip())
        if self.action:
            found.append(AuditEntry.action == self.action)
        if self.start is not None:
            found.append(AuditEntry.at >= _local_midnight(self.start))
        if self.end is not None:
            found.append(AuditEntry.at < _local_midnight(self.end + dt.timedelta(days=1)))
        return found

    def query_string(self, **extra: int) -> str:
        values: dict[str, object] = {
            "case": self.case, "user": self.user.strip(), "action": self.action,
            "from": self.start, "to": self.end, **extra,
        }  # fmt: skip
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})

    def audited(self) -> dict[str, object]:
        return {k: v for k, v in (("case", self.case), ("user", self.user.strip()),
                                  ("action", self.action), ("from", self.start),
                                  ("to", self.end)) if v not in (None, "")}  # fmt: skip


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), LOCAL_TZ)


@router.get("/audit")
def audit_page(
    request: Request,
    ctx: Context,
    db: Db,
    user: Supervisor,
    scope: Scope,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    case: Annotated[str, Query(max_length=20)] = "",
    actor: Annotated[str, Query(alias="user", max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    start: Annotated[str, Query(alias="from", max_length=10)] = "",
    end: Annotated[str, Query(alias="to", max_length=10)] = "",
) -> Response:
    # Plain text in, parsed here: an empty field of the form means "any", not a 422.
    try:
        chosen = AuditFilter(
            int(case) if case.strip() else None, actor, action,
            dt.date.fromisoformat(start) if start else None,
            dt.date.fromisoformat(end) if end else None,
        )  # fmt: skip
    except ValueError:
        raise HTTPException(status_code=400) from None
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(PAGE_SIZE + 1)
    if not scope.everything:
        query = query.where(_visible(scope))
    for condition in chosen.conditions():
        query = query.where(condition)
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    rows = list(db.scalars(query))
    shown, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    # The chain's state on every view: the entries since the last intact walk, and the whole
    # chain every 10 minutes (`ChainWatch`): a whole walk per view took seconds on a year's
    # chain. `zes enforce audit verify --anchor` is the full check.
    report = ctx.chain.check(db)
    head = audit.anchor(db)
    audit.append(
        db, user.username, "view_audit",
        detail={"before": before, "shown": len(shown), "filters": chosen.audited()},
        at=ctx.clock(),
    )  # fmt: skip
    db.commit()
    lang = lang_of(request)
    entries = [
        (e.seq, e.at, e.actor, audit_action(e.action, lang), e.case_id,
         json.dumps(e.detail, ensure_ascii=False) if e.detail else "")
        for e in shown
    ]  # fmt: skip
    extra = {"before": shown[-1].seq} if more and shown else None
    return render(
        request,
        "audit.html",
        entries=entries,
        filters=chosen,
        actions=[(name, audit_action(name, lang)) for name in ACTIONS],
        chain=report,
        anchor=head,
        older=f"/audit?{chosen.query_string(**extra)}" if extra else None,
    )
