"""Login (password, then the TOTP second factor), enrolment of the second factor, logout and
the language switch.

After the right password a user who has or needs a second factor is only *pending*: the
signed cookie holds their id for `PENDING_S` and no session exists until a fresh code of
their key is typed. Someone who must have one and has none enrols first: the key is shown
once, as a QR code drawn in inline SVG (the CSP allows no script and no data: images) and as
text, and is stored only once a code of it was typed.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import anyio
import segno
from fastapi import APIRouter, Form, Request
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from enforcement.casework import audit
from enforcement.casework.accounts import (
    authenticate,
    check_second_factor,
    enrol_second_factor,
    new_totp_secret,
    second_factor_required,
    totp_uri,
)
from enforcement.casework.models import Role, User
from enforcement.messages import LANGUAGES
from enforcement.web.core.security import (
    CurrentUser,
    client_address,
    end_session,
    session_user,
    start_session,
)
from enforcement.web.core.state import WebContext, context_of
from enforcement.web.core.templating import flash, render

log = logging.getLogger("zes.review")

router = APIRouter()

DEFAULT_NEXT = "/queue"
PENDING_S = 300.0
"""Time between the right password and the second factor."""

__all__ = ["client_address", "router", "safe_next"]


def safe_next(value: str | None) -> str:
    """Only a path on this site: no scheme, no host, no `//` or `/\\` (open redirects)."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or any(ord(c) < 0x21 or c == "\\" for c in value)
        or len(value) > 512
    ):
        return DEFAULT_NEXT
    return value


@router.get("/login")
def login_page(request: Request, next: str = DEFAULT_NEXT) -> Response:
    if session_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), username="")


def _check_password(ctx: WebContext, username: str, password: str) -> User | None:
    now = ctx.clock()
    with ctx.sessions.begin() as db:
        user = authenticate(db, username, password) if username and password else None
        if user is None:
            audit.failed_login(db, username, at=now)
        elif not (second_factor_required(user) or user.totp_secret):
            audit.append(db, user.username, "login", at=now)
    return user


def _pend(request: Request, user: User, target: str, now: float) -> None:
    """Password right, second factor to come: a fresh cookie naming only the pending user."""
    lang = request.session.get("lang")
    request.session.clear()
    request.session.update(pending_uid=user.id, pending_at=now, pending_next=target)
    if isinstance(lang, str):
        request.session["lang"] = lang


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=1024)] = DEFAULT_NEXT,
) -> Response:
    ctx = context_of(request)
    policy = ctx.login_policy
    address = client_address(request)
    target = safe_next(next)
    username = username.strip()
    values: dict[str, Any] = {"next": target, "username": username}
    if await run_in_threadpool(policy.address_blocked, address):
        log.warning("login refused by the per-address rate limit")
        return render(
            request, "login.html", status_code=429, errors=("login_rate_limited",), **values
        )
    delay = await run_in_threadpool(policy.user_delay, username)
    if delay:  # a user name under attack: slower, never refused (see LoginPolicy)
        await anyio.sleep(delay)
    user = await run_in_threadpool(_check_password, ctx, username, password)
    if user is None:
        await run_in_threadpool(policy.failed, address, username)
        return render(request, "login.html", status_code=401, errors=("login_failed",), **values)
    target = landing(user, target)
    if second_factor_required(user) or user.totp_secret:
        _pend(request, user, target, ctx.clock().timestamp())
        step = "/login/code" if user.totp_secret else "/login/enrol"
        return RedirectResponse(step, status_code=303)
    start_session(request, user, ctx.clock())
    return RedirectResponse(target, status_code=303)


def landing(user: User, target: str) -> str:
    """Where a login goes: the asked page, but policy staff and the exemption desk's
    officers have no case queue to land on."""
    if user.role == Role.POLICY.value and target == DEFAULT_NEXT:
        return "/flows"
    if user.role == Role.PERMITS.value and target == DEFAULT_NEXT:
        return "/permits"
    return target


def _pending_user(request: Request) -> User | None:
    ctx = context_of(request)
    uid, at = request.session.get("pending_uid"), request.session.get("pending_at")
    if not (isinstance(uid, int) and isinstance(at, float)):
        return None
    if not 0 <= ctx.clock().timestamp() - at <= PENDING_S:
        return None
    with ctx.sessions() as db:
        user = db.get(User, uid)
    return user if user is not None and user.active else None


def _finish(request: Request, user: User) -> Response:
    ctx = context_of(request)
    target = safe_next(request.session.get("pending_next"))
    with ctx.sessions.begin() as db:
        audit.append(db, user.username, "login", detail={"second_factor": True}, at=ctx.clock())
    start_session(request, user, ctx.clock())
    return RedirectResponse(target, status_code=303)


@router.get("/login/code")
def code_page(request: Request) -> Response:
    user = _pending_user(request)
    if user is None or user.totp_secret is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "login_code.html")


@router.post("/login/code")
async def code(request: Request, code: Annotated[str, Form(max_length=16)] = "") -> Response:
    ctx = context_of(request)
    user = await run_in_threadpool(_pending_user, request)
    if user is None or user.totp_secret is None:
        return RedirectResponse("/login", status_code=303)
    if await run_in_threadpool(ctx.login_policy.code_blocked, user.username):
        return render(request, "login_code.html", status_code=429, errors=("code_rate_limited",))

    def verify() -> bool:
        now = ctx.clock()
        with ctx.sessions.begin() as db:
            fresh = db.get(User, user.id, with_for_update=True)
            ok = fresh is not None and check_second_factor(fresh, code, ctx.totp, now)
            if not ok:
                audit.append(db, user.username, "login_code_failed", at=now)
        return ok

    if not await run_in_threadpool(verify):
        address = client_address(request)
        await run_in_threadpool(ctx.login_policy.code_failed, address, user.username)
        return render(request, "login_code.html", status_code=401, errors=("code_failed",))
    return await run_in_threadpool(_finish, request, user)


# -- enrolment -------------------------------------------------------------------------------
ENROL_KEY = "enrol"


def _enrolling(request: Request) -> tuple[User | None, bool]:
    """Who enrols: a pending user who must (before any session), or a logged-in user who
    has no key yet. A key is never replaced here (a stolen session or password must not
    swap it): an admin resets it (`zes enforce user reset-totp`) and the user enrols anew."""
    pending = _pending_user(request)
    if pending is not None:
        return (pending, True) if pending.totp_secret is None else (None, True)
    user = session_user(request)
    return (user if user is not None and user.totp_secret is None else None), False


def _enrol_page(
    request: Request, user: User, *, status_code: int = 200, errors: tuple[str, ...] = ()
) -> Response:
    """A new key, shown this once; only its sealed form stays, in the signed cookie."""
    ctx = context_of(request)
    secret = new_totp_secret()
    request.session[ENROL_KEY] = ctx.totp.seal(secret, f"enrol:{user.id}")
    qr = segno.make(totp_uri(secret, user.username), error="m")
    svg = Markup(qr.svg_inline(scale=5, border=4, dark="#000", light="#fff", title="TOTP"))
    spaced = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return render(
        request, "enrol.html", status_code=status_code, errors=errors, qr=svg, secret=spaced
    )


@router.get("/login/enrol")
def enrol_page(request: Request) -> Response:
    user, pending = _enrolling(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if not pending:
        request.state.user = user
    return _enrol_page(request, user)


@router.post("/login/enrol")
async def enrol(request: Request, code: Annotated[str, Form(max_length=16)] = "") -> Response:
    ctx = context_of(request)
    user, pending = await run_in_threadpool(_enrolling, request)
    sealed = request.session.pop(ENROL_KEY, None)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if not pending:
        request.state.user = user
    secret = ctx.totp.open(sealed, f"enrol:{user.id}") if isinstance(sealed, str) else None
    if await run_in_threadpool(ctx.login_policy.code_blocked, user.username):
        return _enrol_page(request, user, status_code=429, errors=("code_rate_limited",))

    def store() -> bool:
        now = ctx.clock()
        with ctx.sessions.begin() as db:
            fresh = db.get(User, user.id, with_for_update=True)
            if fresh is None or secret is None:
                return False
            if not enrol_second_factor(fresh, secret, code, ctx.totp, now):
                return False
            audit.append(db, user.username, "totp_enrolled", at=now)
            return True

    if not await run_in_threadpool(store):
        address = client_address(request)
        await run_in_threadpool(ctx.login_policy.code_failed, address, user.username)
        return _enrol_page(request, user, status_code=400, errors=("enrol_failed",))
    if pending:
        return await run_in_threadpool(_finish, request, user)
    flash(request, "enrolled")
    return RedirectResponse("/account", status_code=303)


@router.get("/account")
def account_page(request: Request, user: CurrentUser) -> Response:
    return render(request, "account.html", required=second_factor_required(user))


@router.post("/logout")
def logout(request: Request) -> Response:
    ctx = context_of(request)
    user = session_user(request)
    now = ctx.clock()
    if user is not None:
        with ctx.sessions.begin() as db:
            audit.append(db, user.username, "logout", at=now)
    end_session(request, now)
    flash(request, "logged_out")
    return RedirectResponse("/login", status_code=303)


@router.post("/lang")
def switch_language(
    request: Request,
    lang: Annotated[str, Form(max_length=8)] = "",
    next: Annotated[str, Form(max_length=1024)] = DEFAULT_NEXT,
) -> Response:
    if lang in LANGUAGES:
        request.session["lang"] = lang
    return RedirectResponse(safe_next(next), status_code=303)
