"""Logins, sessions, CSRF, login rate limiting, roles and security headers.

Sessions are Starlette's signed cookie (itsdangerous, `CaseSettings.session_secret`):
HttpOnly, SameSite=Strict, Secure unless `cookie_secure` is off. The cookie holds only the
user id, a random session id, the login instant, the CSRF token and the language; the user
is loaded from the database on every request, so disabling an account ends its sessions.
A login lasts at most `session_hours` from the moment of login (the cookie's own max-age
slides with every change). A logged-out session id is remembered until it would have
expired, so a copy of the cookie taken before logout no longer works (in this process).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enforcement.casework.models import Role, User
from enforcement.web.core.state import context_of

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "zes_session"

#: No script at all, nothing from elsewhere, never framed. Styles come from /static only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
)


class LoginRequiredError(Exception):
    """No valid session: pages redirect to the login page, images answer 401."""


class ForbiddenError(Exception):
    """Logged in, but this role may not do this."""


class CsrfError(Exception):
    """A state-changing request without this session's CSRF token."""


class SecurityHeaders:
    """Adds the security headers to every response; nothing but /static may be cached, since
    case pages and evidence images must not stay on a shared office computer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS:
                    headers[name] = value
                if not static:
                    headers["cache-control"] = "no-store"
                    headers["pragma"] = "no-cache"
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- CSRF ------------------------------------------------------------------------------------
def csrf_token(request: Request) -> str:
    """This session's token, created on first use (the login form needs one too: login CSRF)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def csrf_protect(request: Request) -> None:
    """App-wide dependency: every request that is not GET/HEAD/OPTIONS must carry the
    session's token in the form field `csrf_token`. Starlette caches the parsed form, so
    the route's own Form parameters read the same body."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    content_type = request.headers.get("content-type", "")
    got: object = None
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        got = (await request.form()).get(CSRF_FIELD)
    if not (
        isinstance(expected, str)
        and isinstance(got, str)
        and hmac.compare_digest(expected.encode(), got.encode())
    ):
        raise CsrfError


# -- login rate limiting ---------------------------------------------------------------------
class RateWindow:
    """Events per key in a sliding window, in memory and bounded (oldest keys go first under
    a flood). One review process (uvicorn, one worker) is the design."""

    MAX_KEYS = 100_000

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> int:
        times = self._events.get(key)
        if times is None:
            return 0
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._events[key]
            return 0
        return len(times)

    def _add(self, key: str, now: float) -> None:
        self._events.setdefault(key, deque()).append(now)
        self._events.move_to_end(key)
        while len(self._events) > self.MAX_KEYS:
            self._events.popitem(last=False)

    def reached(self, keys: tuple[str, ...], limit: int) -> bool:
        now = self.clock()
        with self._lock:
            return any(self._recent(k, now) >= limit for k in keys)

    def add(self, keys: tuple[str, ...]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._add(key, now)

    def allow(self, key: str, limit: int) -> bool:
        """Count one event for `key` unless `limit` were already reached in the window."""
        now = self.clock()
        with self._lock:
            if self._recent(key, now) >= limit:
                return False
            self._add(key, now)
            return True


class LoginLimiter:
    """Failed logins per client address and per user name in a sliding window. Blocked
    attempts are refused before the password is checked, so a guesser learns nothing and
    costs no argon2 run."""

    def __init__(
        self, attempts: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.attempts = attempts
        self._window = RateWindow(window_s, clock)

    @staticmethod
    def _keys(address: str, username: str) -> tuple[str, str]:
        return f"addr:{address}", f"user:{username.strip().lower()[:64]}"

    def blocked(self, address: str, username: str) -> bool:
        return self._window.reached(self._keys(address, username), self.attempts)

    def failed(self, address: str, username: str) -> None:
        self._window.add(self._keys(address, username))


class RevokedSessions:
    """Session ids ended by logout, kept until they would have expired anyway."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def revoke(self, sid: str, until: float) -> None:
        with self._lock:
            self._until[sid] = until

    def revoked(self, sid: str, now: float) -> bool:
        with self._lock:
            for old in [s for s, until in self._until.items() if until < now]:
                del self._until[old]
            return sid in self._until


# -- sessions and users ----------------------------------------------------------------------
def start_session(request: Request, user: User, now: datetime) -> None:
    """A fresh session on login (no fixation: nothing of the anonymous one survives but the
    chosen language), with a new CSRF token."""
    lang = request.session.get("lang")
    request.session.clear()
    request.session.update(
        uid=user.id,
        sid=secrets.token_urlsafe(16),
        login_at=now.timestamp(),
        csrf=secrets.token_urlsafe(32),
    )
    if isinstance(lang, str):
        request.session["lang"] = lang


def end_session(request: Request, until: float) -> None:
    sid = request.session.get("sid")
    if isinstance(sid, str):
        context_of(request).revoked.revoke(sid, until)
    lang = request.session.get("lang")
    request.session.clear()
    if isinstance(lang, str):
        request.session["lang"] = lang


def session_user(request: Request) -> User | None:
    """The logged-in, active user of this request, or None."""
    ctx = context_of(request)
    session: dict[str, Any] = request.session
    uid, sid, login_at = session.get("uid"), session.get("sid"), session.get("login_at")
    if not (isinstance(uid, int) and isinstance(sid, str) and isinstance(login_at, float)):
        return None
    now = ctx.clock().timestamp()
    if now - login_at > ctx.cases.session_hours * 3600 or now < login_at - 300:
        return None
    if ctx.revoked.revoked(sid, now):
        return None
    with ctx.sessions() as db:
        user = db.scalar(select(User).where(User.id == uid))
    if user is None or not user.active:
        return None
    return user


def current_user(request: Request) -> User:
    user = session_user(request)
    if user is None:
        raise LoginRequiredError
    request.state.user = user
    return user


def require_role(*roles: Role) -> Callable[..., Awaitable[User]]:
    allowed = {r.value for r in roles}

    async def dependency(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in allowed:
            raise ForbiddenError
        return user

    return dependency


#: An officer: every case page (policy staff see the flow statistics only, never a case).
CurrentUser = Annotated[User, Depends(require_role(Role.REVIEWER, Role.SUPERVISOR, Role.ADMIN))]
Supervisor = Annotated[User, Depends(require_role(Role.SUPERVISOR, Role.ADMIN))]
PolicyReader = Annotated[User, Depends(require_role(Role.POLICY, Role.SUPERVISOR, Role.ADMIN))]
