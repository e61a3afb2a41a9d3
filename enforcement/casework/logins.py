"""The review app's shared login state in the case database, beside the other casework
tables: logins (`web_sessions`) and event counters (`rate_counters`), shared by every
replica and kept over restarts. What these counts and rows mean for a login is decided in
`enforcement.web.core.security` (pure); these stores only read and write them."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from enforcement.casework.models import RateCounter, User, WebSession


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

    def reserve(self, key: str, limit: float, window_s: float) -> Reservation | None:
        """Count one event for `key` and return its reservation, or None (nothing counted)
        when that would pass `limit` in the window. Atomic: the count is raised and read in
        one statement of one transaction (a row lock on PostgreSQL, the write lock on
        SQLite), so N concurrent requests for the last free place get it once, not N times.
        Checking first and counting after, with the password check between them, let 34 of
        40 concurrent guesses through a limit of 5 (issue 23)."""
        at = self.clock()
        now = at.timestamp()
        window = int(now // window_s)
        expires = at + timedelta(seconds=2 * window_s)
        name = key[:160]
        overlap = 1.0 - (now - window * window_s) / window_s
        table = RateCounter.__table__
        with self.sessions.begin() as db:
            insert = sqlite_insert if db.get_bind().dialect.name == "sqlite" else pg_insert
            statement = insert(RateCounter).values(
                key=name, window=window, count=1, expires_at=expires
            )
            current = db.execute(
                statement.on_conflict_do_update(
                    index_elements=["key", "window"],
                    set_={"count": RateCounter.count + 1, "expires_at": expires},
                ).returning(table.c.count)
            ).scalar_one()
            before = db.scalar(
                select(RateCounter.count).where(
                    RateCounter.key == name, RateCounter.window == window - 1
                )
            )
            if current + (before or 0) * overlap > limit:
                db.execute(
                    update(RateCounter)
                    .where(RateCounter.key == name, RateCounter.window == window)
                    .values(count=RateCounter.count - 1)
                )
                return None
        return Reservation(name, window)

    def release(self, reservation: Reservation) -> None:
        """Take a reserved event back (a login that succeeded is no failure)."""
        with self.sessions.begin() as db:
            db.execute(
                update(RateCounter)
                .where(
                    RateCounter.key == reservation.key,
                    RateCounter.window == reservation.window,
                    RateCounter.count > 0,
                )
                .values(count=RateCounter.count - 1)
            )

    def allow(self, key: str, limit: int, window_s: float) -> bool:
        """Count one event for `key` unless `limit` was already reached in the window
        (atomically: `reserve`)."""
        return self.reserve(key, limit, window_s) is not None


@dataclass(frozen=True, slots=True)
class Reservation:
    """One counted event (`SharedCounters.reserve`): its key and fixed window."""

    key: str
    window: int


def _sid_key(sid: str) -> str:
    """The row key of a login: a digest, so the table holds no usable session id."""
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
