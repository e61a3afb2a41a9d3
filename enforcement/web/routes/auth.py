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
from sqlalchemy.orm import Session
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
from enforcement.web.core.state import WebContext
from enforcement.web.core.templating import flash, render
from enforcement.web.deps import (
    ClientAddress,
    Context,
    CurrentUser,
    Db,
    MaybeUser,
    Policy,
    end_session,
    start_session,
)

log = logging.getLogger("zes.review")

router = APIRouter()

DEFAULT_NEXT = "/queue"
PENDING_S = 300.0
"""Time between the right password and the second factor."""

__all__ = ["router", "safe_next"]


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
def login_page(request: Request, user: MaybeUser, next: str = DEFAULT_NEXT) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), username="")


def _check_password(ctx: WebContext, db: Session, username: str, password: str) -> User | None:
    now = ctx.clock()
    user = authenticate(db, username, password) if username and password else None
    if user is None:
        audit.failed_login(db, username, at=now)
    elif not (second_factor_required(user) or user.totp_secret):
        audit.append(db, user.username, "login", at=now)
    db.commit()
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
    ctx: Context,
    db: Db,
    policy: Policy,
    address: ClientAddress,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=1024)] = DEFAULT_NEXT,
) -> Response:
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
    user = await run_in_threadpool(_check_password, ctx, db, username, password)
    if user is None:
        await run_in_threadpool(policy.failed, address, username)
        return render(request, "login.html", status_code=401, errors=("login_failed",), **values)
    target = landing(user, target)
    if second_factor_required(user) or user.totp_secret:
        _pend(request, user, target, ctx.clock().timestamp())
        step = "/login/code" if user.totp_secret else "/login/enrol"
        return RedirectResponse(step, status_code=303)
    start_session(request, ctx, user, ctx.clock())
    return RedirectResponse(target, status_code=303)


def landing(user: User, target: str) -> str:
    """Where a login goes: the asked page, but policy staff and the exemption desk's
    officers have no case queue to land on."""
    if user.role == Role.POLICY.value and target == DEFAULT_NEXT:
        return "/flows"
    if user.role == Role.PERMITS.value and target == DEFAULT_NEXT:
        return "/permits"
    return target


def _pending_user(request: Request, ctx: WebContext, db: Session) -> User | None:
    uid, at = request.session.get("pending_uid"), request.session.get("pending_at")
    if not (isinstance(uid, int) and isinstance(at, float)):
        return None
    if not 0 <= ctx.clock().timestamp() - at <= PENDING_S:
        return None
    user = db.get(User, uid)
    # End the read at once: the login counters come next in their own transaction, and on
    # SQLite every transaction starts by taking the write lock (`casework.db`).
    db.commit()
    return user if user is not None and user.active else None


def _finish(request: Request, ctx: WebContext, db: Session, user: User) -> Response:
    target = safe_next(request.session.get("pending_next"))
    audit.append(db, user.username, "login", detail={"second_factor": True}, at=ctx.clock())
    db.commit()
    start_session(request, ctx, user, ctx.clock())
    return RedirectResponse(target, status_code=303)


@router.get("/login/code")
def code_page(request: Request, ctx: Context, db: Db) -> Response:
    user = _pending_user(request, ctx, db)
    if user is None or user.totp_secret is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "login_code.html")


@router.post("/login/code")
async def code(
    request: Request,
    ctx: Context,
    db: Db,
    policy: Policy,
    address: ClientAddress,
    code: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    user = await run_in_threadpool(_pending_user, request, ctx, db)
    if user is None or user.totp_secret is None:
        return RedirectResponse("/login", status_code=303)
    if await run_in_threadpool(policy.code_blocked, user.username):
        return render(request, "login_code.html", status_code=429, errors=("code_rate_limited",))

    def verify() -> bool:
        now = ctx.clock()
        fresh = db.get(User, user.id, with_for_update=True, populate_existing=True)
        ok = fresh is not None and check_second_factor(fresh, code, ctx.totp, now)
        if not ok:
            audit.append(db, user.username, "login_code_failed", at=now)
        db.commit()
        return ok

    if not await run_in_threadpool(verify):
        await run_in_threadpool(policy.code_failed, address, user.username)
        return render(request, "login_code.html", status_code=401, errors=("code_failed",))
    return await run_in_threadpool(_finish, request, ctx, db, user)


# -- enrolment -------------------------------------------------------------------------------
ENROL_KEY = "enrol"


def _enrolling(
    request: Request, ctx: WebContext, db: Session, user: User | None
) -> tuple[User | None, bool]:
    """Who enrols: a pending user who must (before any session), or a logged-in user who
    has no key yet. A key is never replaced here (a stolen session or password must not
    swap it): an admin resets it (`zes enforce user reset-totp`) and the user enrols anew."""
    pending = _pending_user(request, ctx, db)
    if pending is not None:
        return (pending, True) if pending.totp_secret is None else (None, True)
    return (user if user is not None and user.totp_secret is None else None), False


def _enrol_page(
    request: Request,
    ctx: WebContext,
    user: User,
    *,
    status_code: int = 200,
    errors: tuple[str, ...] = (),
) -> Response:
    """A new key, shown this once; only its encrypted form stays, in the signed cookie."""
    secret = new_totp_secret()
    request.session[ENROL_KEY] = ctx.totp.encrypt(secret, f"enrol:{user.id}")
    qr = segno.make(totp_uri(secret, user.username), error="m")
    svg = Markup(qr.svg_inline(scale=5, border=4, dark="#000", light="#fff", title="TOTP"))
    spaced = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return render(
        request, "enrol.html", status_code=status_code, errors=errors, qr=svg, secret=spaced
    )


@router.get("/login/enrol")
def enrol_page(request: Request, ctx: Context, db: Db, session: MaybeUser) -> Response:
    user, pending = _enrolling(request, ctx, db, session)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if not pending:
        request.state.user = user
    return _enrol_page(request, ctx, user)


@router.post("/login/enrol")
async def enrol(
    request: Request,
    ctx: Context,
    db: Db,
    policy: Policy,
    address: ClientAddress,
    session: MaybeUser,
    code: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    user, pending = await run_in_threadpool(_enrolling, request, ctx, db, session)
    encrypted = request.session.pop(ENROL_KEY, None)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if not pending:
        request.state.user = user
    secret = ctx.totp.decrypt(encrypted, f"enrol:{user.id}") if isinstance(encrypted, str) else None
    if await run_in_threadpool(policy.code_blocked, user.username):
        return _enrol_page(request, ctx, user, status_code=429, errors=("code_rate_limited",))

    def store() -> bool:
        now = ctx.clock()
        fresh = db.get(User, user.id, with_for_update=True, populate_existing=True)
        if fresh is None or secret is None:
            db.rollback()
            return False
        if not enrol_second_factor(fresh, secret, code, ctx.totp, now):
            db.rollback()
            return False
        audit.append(db, user.username, "totp_enrolled", at=now)
        db.commit()
        return True

    username = user.username  # read now: a failed `store` rolls back, which expires `user`
    if not await run_in_threadpool(store):
        await run_in_threadpool(policy.code_failed, address, username)
        return _enrol_page(request, ctx, user, status_code=400, errors=("enrol_failed",))
    if pending:
        return await run_in_threadpool(_finish, request, ctx, db, user)
    flash(request, "enrolled")
    return RedirectResponse("/account", status_code=303)


@router.get("/account")
def account_page(request: Request, user: CurrentUser) -> Response:
    return render(request, "account.html", required=second_factor_required(user))


@router.post("/logout")
def logout(request: Request, ctx: Context, db: Db, user: MaybeUser) -> Response:
    now = ctx.clock()
    if user is not None:
        audit.append(db, user.username, "logout", at=now)
        db.commit()
    end_session(request, ctx, now)
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
