"""Logins, sessions, CSRF, login rate limiting, roles and security headers.

Sessions are Starlette's signed cookie (itsdangerous, `CaseSettings.session_secret`):
HttpOnly, SameSite=Strict, Secure unless `cookie_secure` is off. The cookie holds only the
user id, a random session id, the login instant, the CSRF token and the language; the user
is loaded from the database on every request, so disabling an account ends its sessions.
A login lasts at most `session_hours` from the moment of login and ends after `idle_minutes`
without a request; both are checked against its row in `web_sessions`, which logout ends, so
a copy of the cookie taken before logout works on no replica, also after a restart. Login
failures and plate checks are counted in `rate_counters`, shared by every replica too.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enforcement.casework.models import RateCounter, Role, User, WebSession
from enforcement.casework.tenancy import CaseScope, scope_of
from enforcement.web.core.state import context_of

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

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


# -- shared counters: login limits and plate-check limits -------------------------------------
class SharedCounters:
    """Events per key in the case database, shared by every replica and kept over restarts.

    Fixed windows with the previous window weighted by how much of it still overlaps the
    sliding window (the usual two-window estimate): one row per key and window, one upsert
    per event, and no event list to grow under a flood. Old rows go as new ones come."""

    SWEEP_EVERY = 200
    """Delete expired rows every this many events of this process."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.sessions = sessions
        self.clock = clock
        self._events = 0
        self._lock = threading.Lock()

    def recent(self, key: str, window_s: float) -> float:
        now = self.clock().timestamp()
        current = int(now // window_s)
        with self.sessions() as db:
            found = db.execute(
                select(RateCounter.window, RateCounter.count).where(
                    RateCounter.key == key[:160], RateCounter.window.in_((current - 1, current))
                )
            )
            rows: dict[int, int] = {int(row[0]): int(row[1]) for row in found}
        overlap = 1.0 - (now - current * window_s) / window_s
        return rows.get(current, 0) + rows.get(current - 1, 0) * overlap

    def add(self, key: str, window_s: float) -> None:
        at = self.clock()
        window = int(at.timestamp() // window_s)
        expires = at + timedelta(seconds=2 * window_s)
        with self.sessions.begin() as db:
            insert = sqlite_insert if db.get_bind().dialect.name == "sqlite" else pg_insert
            statement = insert(RateCounter).values(
                key=key[:160], window=window, count=1, expires_at=expires
            )
            db.execute(
                statement.on_conflict_do_update(
                    index_elements=["key", "window"],
                    set_={"count": RateCounter.count + 1, "expires_at": expires},
                )
            )
            with self._lock:
                self._events += 1
                sweep = self._events % self.SWEEP_EVERY == 0
            if sweep:
                db.execute(delete(RateCounter).where(RateCounter.expires_at < at))

    def allow(self, key: str, limit: int, window_s: float) -> bool:
        """Count one event for `key` unless `limit` was already reached in the window."""
        if self.recent(key, window_s) >= limit:
            return False
        self.add(key, window_s)
        return True


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """Failed logins are counted per client address and per user name, apart.

    - An address with `attempts` failures in the window is refused (429) before any
      password is checked: one source cannot spray guesses over many accounts.
    - A user name with `attempts` failures is not locked: its next attempts, from any
      address that is not itself refused, are answered after a delay that doubles with each
      further failure (`delay_s`, capped at `max_delay_s`), and the right password still
      logs in. So whoever shares an address with an attacker, or is targeted by one, can
      always still log in, while guessing stays slow.
    - A wrong second-factor code counts for the address and the user name; after
      `attempts` of them the user name gets no code checked for the window (429): only
      someone who already has the password gets there, so this refusal is theirs alone."""

    counters: SharedCounters
    attempts: int
    window_s: float
    delay_s: float
    max_delay_s: float

    @staticmethod
    def _address(address: str) -> str:
        return f"login-addr:{address}"

    @staticmethod
    def _user(username: str) -> str:
        return f"login-user:{username.strip().lower()[:64]}"

    def address_blocked(self, address: str) -> bool:
        return self.counters.recent(self._address(address), self.window_s) >= self.attempts

    def user_delay(self, username: str) -> float:
        failures = self.counters.recent(self._user(username), self.window_s)
        if failures < self.attempts:
            return 0.0
        return float(min(self.max_delay_s, self.delay_s * 2 ** (failures - self.attempts)))

    def failed(self, address: str, username: str) -> None:
        self.counters.add(self._address(address), self.window_s)
        self.counters.add(self._user(username), self.window_s)

    def code_blocked(self, username: str) -> bool:
        return self.counters.recent(f"totp-user:{username}", self.window_s) >= self.attempts

    def code_failed(self, address: str, username: str) -> None:
        self.counters.add(self._address(address), self.window_s)
        self.counters.add(f"totp-user:{username}", self.window_s)


# -- the client's address ----------------------------------------------------------------------
def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(request: Request) -> str:
    """The client: the TCP peer, unless the peer is a trusted proxy (`trusted_proxies`,
    CIDR list); then the right-most `X-Forwarded-For` entry that is not a trusted proxy
    itself. Entries left of it are whatever the client chose to send and are never used."""
    peer = request.client.host if request.client else "unknown"
    trusted = context_of(request).trusted_proxies
    peer_ip = _ip(peer)
    if peer_ip is None or not any(peer_ip in net for net in trusted):
        return peer
    hops = [h for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")]
    for hop in reversed(hops):
        hop_ip = _ip(hop)
        if hop_ip is None:
            return peer  # a garbled header: the proxy itself is all we know
        if not any(hop_ip in net for net in trusted):
            return str(hop_ip)
    return peer


# -- logins in the database ----------------------------------------------------------------------
def _sid_key(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionStore:
    """Logins in `web_sessions`: shared by every replica, kept over restarts. A login works
    while its row exists, is not ended, is younger than `session_hours` and was used within
    `idle_minutes`; logout ends it everywhere at once."""

    TOUCH_S = 30.0
    """`last_seen_at` is written at most this often per login (one write per request would
    serialise every page view on SQLite's write lock)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def start(self, user: User, now: datetime, *, session_hours: float) -> str:
        sid = secrets.token_urlsafe(32)
        with self.sessions.begin() as db:
            db.execute(
                delete(WebSession).where(
                    WebSession.last_seen_at < now - timedelta(hours=session_hours)
                )
            )
            db.add(WebSession(id=_sid_key(sid), user_id=user.id, created_at=now, last_seen_at=now))
        return sid

    def live(
        self, sid: str, user_id: int, now: datetime, *, session_hours: float, idle_minutes: float
    ) -> bool:
        key = _sid_key(sid)
        with self.sessions() as db:
            row = db.get(WebSession, key)
            if row is None or row.user_id != user_id or row.ended_at is not None:
                return False
            if now - row.created_at > timedelta(hours=session_hours):
                return False
            if now - row.last_seen_at > timedelta(minutes=idle_minutes):
                return False
            stale = (now - row.last_seen_at).total_seconds() > self.TOUCH_S
        if stale:
            with self.sessions.begin() as db:
                db.execute(
                    update(WebSession)
                    .where(WebSession.id == key, WebSession.ended_at.is_(None))
                    .values(last_seen_at=now)
                )
        return True

    def end(self, sid: str, now: datetime) -> None:
        with self.sessions.begin() as db:
            db.execute(
                update(WebSession)
                .where(WebSession.id == _sid_key(sid), WebSession.ended_at.is_(None))
                .values(ended_at=now)
            )


# -- sessions and users ----------------------------------------------------------------------
def start_session(request: Request, user: User, now: datetime) -> None:
    """A fresh session on login (no fixation: nothing of the anonymous one survives but the
    chosen language), with a new CSRF token and a new row in `web_sessions`."""
    ctx = context_of(request)
    lang = request.session.get("lang")
    request.session.clear()
    sid = ctx.logins.start(user, now, session_hours=ctx.cases.session_hours)
    request.session.update(
        uid=user.id,
        sid=sid,
        login_at=now.timestamp(),
        csrf=secrets.token_urlsafe(32),
    )
    if isinstance(lang, str):
        request.session["lang"] = lang


def end_session(request: Request, now: datetime) -> None:
    sid = request.session.get("sid")
    if isinstance(sid, str):
        context_of(request).logins.end(sid, now)
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
    now = ctx.clock()
    stamp = now.timestamp()
    if stamp - login_at > ctx.cases.session_hours * 3600 or stamp < login_at - 300:
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


def scope_of_user(request: Request, user: User) -> CaseScope:
    """The municipalities whose cases `user` may see (tenancy), cached for the request."""
    cached = getattr(request.state, "scope", None)
    if isinstance(cached, CaseScope):
        return cached
    ctx = context_of(request)
    with ctx.sessions() as db:
        scope = scope_of(db, user, ctx.zones)
    request.state.scope = scope
    return scope


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
