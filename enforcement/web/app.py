"""The review app: `create_app` builds it, `serve` runs it (`zes enforce serve`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import start_http_server
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from enforcement.casework.accounts import TotpCipher
from enforcement.casework.audit import ChainWatch
from enforcement.casework.db import make_engine, migrate, session_factory
from enforcement.casework.evidence import EvidenceVault
from enforcement.casework.logins import SessionStore, SharedCounters
from enforcement.casework.notes import NoteCipher
from enforcement.casework.recheck import Rechecker, rechecker_from
from enforcement.casework.settings import CaseSettings, review_keys
from enforcement.settings import Settings, require_keys
from enforcement.web.core.security import (
    SESSION_COOKIE,
    CsrfError,
    ForbiddenError,
    LoginPolicy,
    LoginRequiredError,
    PasswordChangeRequiredError,
    parse_networks,
)
from enforcement.web.core.state import WebContext, context_of
from enforcement.web.core.templating import render
from enforcement.web.metrics import ReviewMetrics
from enforcement.web.middleware import AccessLog, SecurityHeaders, csrf_protect
from enforcement.web.routes import audit_log, auth, desk, flows, platecheck, queue, supervisor
from enforcement.web.routes import cases as case_pages

log = logging.getLogger("zes.review")

STATIC = Path(__file__).resolve().parent / "static"


def create_app(
    settings: Settings,
    cases: CaseSettings,
    *,
    engine: Engine | None = None,
    rechecker: Rechecker | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The review app. Without `engine` it migrates and opens `cases.url(work_dir)`; without
    `rechecker` it uses the Redis register of `settings`."""
    if engine is None:
        url = cases.url(settings.work_dir)
        migrate(url)
        engine = make_engine(url)
    sessions = session_factory(engine, audit_key=cases.audit_hmac_key())
    now = clock or (lambda: datetime.now(UTC))
    counters = SharedCounters(sessions, now)
    checker = rechecker or rechecker_from(settings)
    ctx = WebContext(
        settings=settings,
        cases=cases,
        engine=engine,
        sessions=sessions,
        rechecker=checker,
        vault=EvidenceVault(cases.evidence_cipher_key()),
        clock=now,
        metrics=ReviewMetrics(sessions, now),
        counters=counters,
        login_policy=LoginPolicy(
            counters,
            cases.login_attempts,
            cases.login_window_s,
            cases.login_delay_s,
            cases.login_max_delay_s,
            cases.login_account_per_hour,
        ),
        logins=SessionStore(sessions),
        trusted_proxies=parse_networks(cases.trusted_proxies),
        totp=TotpCipher(cases.evidence_cipher_key()),
        notes=NoteCipher(cases.evidence_cipher_key()),
        zones=checker.zones,
        chain=ChainWatch(),
    )
    app = FastAPI(
        title="zes review",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # Every state-changing request of every route, present and future, needs the token.
        dependencies=[Depends(csrf_protect)],
    )
    app.state.zes = ctx
    app.add_middleware(
        SessionMiddleware,
        secret_key=cases.session_secret.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=max(60, int(cases.session_hours * 3600)),
        same_site="strict",
        https_only=cases.cookie_secure,
    )
    # Outermost of ours: error pages get the headers too, and it answers unhandled errors
    # itself (Starlette's last-resort 500 sits outside every middleware).
    app.add_middleware(SecurityHeaders, hsts_seconds=cases.hsts_seconds)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (auth, queue, case_pages, supervisor, audit_log, desk, flows, platecheck):
        app.include_router(module.router)
    app.mount("/api/v1", platecheck.api_app(ctx))
    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_middleware(AccessLog)
    _install_error_pages(app)
    return app


def healthz(request: Request) -> Response:
    """Liveness and readiness: the case database answers."""
    ctx = context_of(request)
    try:
        with ctx.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except SQLAlchemyError:
        return PlainTextResponse("case database unavailable", status_code=503)
    return PlainTextResponse("ok")


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(LoginRequiredError)
    async def login_required(request: Request, exc: LoginRequiredError) -> Response:
        # Images and other non-page requests get a bare 401; pages go to the login form.
        if request.method != "GET" or "/evidence/" in request.url.path:
            return PlainTextResponse("login required", status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)

    @app.exception_handler(PasswordChangeRequiredError)
    async def password_change(request: Request, exc: PasswordChangeRequiredError) -> Response:
        return RedirectResponse("/account/password", status_code=303)

    @app.exception_handler(ForbiddenError)
    async def forbidden(request: Request, exc: ForbiddenError) -> Response:
        return render(request, "error.html", status_code=403, errors=("error_forbidden",))

    @app.exception_handler(CsrfError)
    async def csrf_rejected(request: Request, exc: CsrfError) -> Response:
        log.warning("request without a valid CSRF token refused: %s", request.url.path)
        return render(request, "error.html", status_code=403, errors=("error_csrf",))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return render(request, "error.html", status_code=400, errors=("error_bad_request",))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        key = {404: "error_not_found", 403: "error_forbidden"}.get(exc.status_code)
        if exc.status_code == 500 and exc.detail in ("error_evidence_integrity",
                                                     "error_record_unreadable"):  # fmt: skip
            key = exc.detail
        return render(
            request,
            "error.html",
            status_code=exc.status_code,
            errors=(key or "error_bad_request",),
        )


def serve(settings: Settings, cases: CaseSettings, *, dev: bool = False) -> None:
    """Run the review app on `cases.host:cases.port` (127.0.0.1 by default) and its
    Prometheus metrics on 127.0.0.1:`cases.review_metrics_port` (0: none). Development
    secrets are refused whatever the address, unless `dev` (`--dev`)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    require_keys("the review app", review_keys(settings, cases), dev=dev)
    app = create_app(settings, cases)
    ctx: WebContext = app.state.zes
    if cases.review_metrics_port:
        start_http_server(
            cases.review_metrics_port, addr=cases.metrics_host, registry=ctx.metrics.registry
        )
    uvicorn.run(
        app,
        host=cases.host,
        port=cases.port,
        workers=1,  # more capacity: more replicas (logins and limits are in the database)
        # The client address is read by `deps.client_address` from the TCP peer and,
        # only from a peer in `trusted_proxies`, from X-Forwarded-For: uvicorn must not
        # rewrite it first.
        proxy_headers=False,
        server_header=False,
        log_level="info",
        access_log=False,  # AccessLog writes paths without query strings (no plates)
    )
