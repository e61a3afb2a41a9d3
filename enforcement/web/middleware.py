"""What wraps every request of the review app: the security headers, the CSRF check and the
access log (paths, never query strings)."""

from __future__ import annotations

import logging
import time

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enforcement.web.core.security import (
    CSRF_FIELD,
    SECURITY_HEADERS,
    CsrfError,
    csrf_matches,
    csrf_required,
    new_token,
)

access_log = logging.getLogger("zes.review.access")


log = logging.getLogger("zes.review")


class SecurityHeaders:
    """Adds the security headers to every response, 4xx and 500 included; nothing but
    /static may be cached, since case pages and evidence images must not stay on a shared
    office computer. HSTS unless `hsts_seconds` is 0 (a TLS proxy that sets it itself).

    An exception no handler turned into a response is answered here, with the headers, as
    a plain 500: Starlette's own last-resort handler sits outside every middleware, so its
    500s carried none of them (issue 23)."""

    def __init__(self, app: ASGIApp, hsts_seconds: int = 31_536_000) -> None:
        self.app = app
        self.headers = [*SECURITY_HEADERS]
        if hsts_seconds > 0:
            self.headers.append(
                ("strict-transport-security", f"max-age={hsts_seconds}; includeSubDomains")
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    headers[name] = value
                if not static:
                    headers["cache-control"] = "no-store"
                    headers["pragma"] = "no-cache"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # The path only (a query string can hold a plate); the traceback for the operator.
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await PlainTextResponse("internal error", status_code=500)(
                scope, receive, send_with_headers
            )


class AccessLog:
    """Method, path, status and time of every request — never the query string, which can
    hold a plate (the public plate check, queue filters). Replaces uvicorn's access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            access_log.info(
                "%s %s %d %.1fms", scope.get("method"), scope.get("path", ""), status[0],
                (time.perf_counter() - started) * 1000,
            )  # fmt: skip


# -- CSRF ------------------------------------------------------------------------------------
def csrf_token(request: Request) -> str:
    """This session's token, created on first use (the login form needs one too: login CSRF)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = new_token()
        request.session["csrf"] = token
    return token


async def csrf_protect(request: Request) -> None:
    """App-wide dependency: every request that is not GET/HEAD/OPTIONS must carry the
    session's token in the form field `csrf_token`. Starlette caches the parsed form, so
    the route's own Form parameters read the same body."""
    if not csrf_required(request.method):
        return
    content_type = request.headers.get("content-type", "")
    got: object = None
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        got = (await request.form()).get(CSRF_FIELD)
    if not csrf_matches(request.session.get("csrf"), got):
        raise CsrfError
