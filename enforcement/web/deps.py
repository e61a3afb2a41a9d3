"""The review app's FastAPI dependencies: the app's context, a database session, the client's
address, the logged-in user, roles and the municipalities a user may see.

Routes declare what they need (`ctx: Context`, `db: Db`, `user: CurrentUser`,
`scope: Scope`) instead of reaching into the app's state or opening sessions themselves. One
request has one `Db` session, closed when the route returns (before the response is sent): a
route that writes commits it; anything not committed is rolled back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Annotated, Any

from annotated_types import Interval
from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from enforcement.casework.models import Role, User
from enforcement.casework.tenancy import CaseScope, scope_of
from enforcement.web.core.security import (
    ForbiddenError,
    LoginPolicy,
    LoginRequiredError,
    PasswordChangeRequiredError,
    client_of,
    login_expired,
    new_token,
)
from enforcement.web.core.state import WebContext, context_of

# -- bounded values: out of range is a 4xx, never an overflow in the database (issue 23) --------
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Interval(ge=1, le=MAX_ROW_ID)]
"""A row id in a path: `/cases/99999999999999999999` was a 500 (SQLite and PostgreSQL
integers are 64-bit); now a 400 like any malformed request."""
FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(2199, 12, 31)
Day = Annotated[dt.date, Interval(ge=FIRST_DAY, le=LAST_DAY)]
"""A date a person asks for: 9999-12-31 was a 500 (the day after it overflows)."""


def web_context(request: Request) -> WebContext:
    return context_of(request)


Context = Annotated[WebContext, Depends(web_context)]


def db_session(ctx: Context) -> Iterator[Session]:
    """One session per request, closed as the route returns (`scope="function"`), so a
    SQLite transaction never outlives the route while the response is sent."""
    with ctx.sessions() as db:
        yield db


Db = Annotated[Session, Depends(db_session, scope="function")]


def login_policy(ctx: Context) -> LoginPolicy:
    return ctx.login_policy


Policy = Annotated[LoginPolicy, Depends(login_policy)]


def client_address(request: Request) -> str:
    """The client's address as `core.security.client_of` finds it behind the app's
    `trusted_proxies`."""
    peer = request.client.host if request.client else "unknown"
    trusted = context_of(request).trusted_proxies
    return client_of(peer, request.headers.getlist("x-forwarded-for"), trusted)


ClientAddress = Annotated[str, Depends(client_address)]


# -- sessions and users ----------------------------------------------------------------------
def start_session(request: Request, ctx: WebContext, user: User, now: datetime) -> None:
    """A fresh session on login (no fixation: nothing of the anonymous one survives but the
    chosen language), with a new CSRF token and a new row in `web_sessions`."""
    lang = request.session.get("lang")
    request.session.clear()
    sid = ctx.logins.start(user, now, session_hours=ctx.cases.session_hours)
    request.session.update(uid=user.id, sid=sid, login_at=now.timestamp(), csrf=new_token())
    if isinstance(lang, str):
        request.session["lang"] = lang


def end_session(request: Request, ctx: WebContext, now: datetime) -> None:
    sid = request.session.get("sid")
    if isinstance(sid, str):
        ctx.logins.end(sid, now)
    lang = request.session.get("lang")
    request.session.clear()
    if isinstance(lang, str):
        request.session["lang"] = lang


def session_user(request: Request, ctx: Context) -> User | None:
    """The logged-in, active user of this request, or None."""
    session: dict[str, Any] = request.session
    uid, sid, login_at = session.get("uid"), session.get("sid"), session.get("login_at")
    if not (isinstance(uid, int) and isinstance(sid, str) and isinstance(login_at, float)):
        return None
    now = ctx.clock()
    if login_expired(login_at, now.timestamp(), ctx.cases.session_hours):
        return None
    live = ctx.logins.live(
        sid, uid, now, session_hours=ctx.cases.session_hours, idle_minutes=ctx.cases.idle_minutes
    )
    if not live:
        return None
    with ctx.sessions() as db:
        user = db.scalar(select(User).where(User.id == uid))
    if user is None or not user.active:
        return None
    return user


MaybeUser = Annotated[User | None, Depends(session_user)]
"""The logged-in user, or None (the login pages)."""


#: What a user whose password an admin reset may still open (`PasswordChangeRequiredError`).
PASSWORD_CHANGE_PATHS = frozenset({"/account/password", "/logout"})


def current_user(request: Request, user: MaybeUser) -> User:
    if user is None:
        raise LoginRequiredError
    request.state.user = user
    if user.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise PasswordChangeRequiredError
    return user


def require_role(*roles: Role) -> Callable[..., Awaitable[User]]:
    allowed = {r.value for r in roles}

    async def dependency(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in allowed:
            raise ForbiddenError
        return user

    return dependency


LoggedIn = Annotated[User, Depends(current_user)]
"""Any logged-in user, whatever the role."""
#: An officer: every case page (policy staff see the flow statistics only, never a case).
CurrentUser = Annotated[User, Depends(require_role(Role.REVIEWER, Role.SUPERVISOR, Role.ADMIN))]
Supervisor = Annotated[User, Depends(require_role(Role.SUPERVISOR, Role.ADMIN))]
PolicyReader = Annotated[User, Depends(require_role(Role.POLICY, Role.SUPERVISOR, Role.ADMIN))]


def case_scope(ctx: Context, db: Db, user: LoggedIn) -> CaseScope:
    """The municipalities whose cases the user may see (tenancy), read in the request's
    session. Routes declare it after their role (`user: CurrentUser, scope: Scope`), so the
    role is checked first."""
    return scope_of(db, user, ctx.zones)


Scope = Annotated[CaseScope, Depends(case_scope)]
