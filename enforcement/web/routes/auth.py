"""Login, logout and the language switch."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from enforcement.casework import audit
from enforcement.casework.accounts import authenticate
from enforcement.casework.models import Role
from enforcement.messages import LANGUAGES
from enforcement.web.core.security import end_session, session_user, start_session
from enforcement.web.core.state import context_of
from enforcement.web.core.templating import flash, render

log = logging.getLogger("zes.review")

router = APIRouter()

DEFAULT_NEXT = "/queue"


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


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login")
def login_page(request: Request, next: str = DEFAULT_NEXT) -> Response:
    if session_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), username="")


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=1024)] = DEFAULT_NEXT,
) -> Response:
    ctx = context_of(request)
    address = client_address(request)
    target = safe_next(next)
    username = username.strip()
    if ctx.limiter.blocked(address, username):
        log.warning("login refused by the rate limit")
        return render(
            request,
            "login.html",
            status_code=429,
            errors=("login_rate_limited",),
            next=target,
            username=username,
        )
    now = ctx.clock()
    with ctx.sessions.begin() as db:
        user = authenticate(db, username, password) if username and password else None
        if user is None:
            audit.append(db, username[:64] or "-", "login_failed", at=now)
        else:
            audit.append(db, user.username, "login", at=now)
    if user is None:
        ctx.limiter.failed(address, username)
        return render(
            request,
            "login.html",
            status_code=401,
            errors=("login_failed",),
            next=target,
            username=username,
        )
    start_session(request, user, now)
    if user.role == Role.POLICY.value and target == DEFAULT_NEXT:
        target = "/flows"  # policy staff have no queue
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    ctx = context_of(request)
    user = session_user(request)
    now = ctx.clock()
    if user is not None:
        with ctx.sessions.begin() as db:
            audit.append(db, user.username, "logout", at=now)
    end_session(request, now.timestamp() + ctx.cases.session_hours * 3600)
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
