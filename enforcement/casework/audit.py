"""The append-only audit log: every login, evidence view, decision and export, HMAC-chained.

Each entry's hash is HMAC-SHA256, under `ZES_CASES_AUDIT_KEY`, over the previous entry's
hash and the entry's own fields in a canonical JSON form. The key is a setting the database
never holds, so whoever can write the database can neither edit, insert nor delete an entry
and recompute the chain (a plain SHA-256 chain could be recomputed by anyone). What a
database writer can still do without the key is cut the newest entries off and move
`audit_head` back to an older, genuine hash; the *anchor* catches that: `anchor()` is
`{"count": N, "head": "<hex>"}`, printed by `zes enforce audit anchor` and written into every
export manifest, kept outside the database, and `verify(anchor=…)` fails when the chain no
longer reaches it. On PostgreSQL a trigger (migration 0002) refuses UPDATE, DELETE and
TRUNCATE of `audit_log` outright.

Appenders first bump the single `audit_head` row, which serialises them (row lock on
PostgreSQL, write lock on SQLite): the chain never forks. Audit entries are never purged.
The user names of failed logins are personal data of the person who mistyped, so they are not
in the chain: `failed_login` puts a keyed digest of the name in the entry and the name itself
in `failed_login_names`, which `purge` empties after `failed_login_days`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from enforcement.casework.db import AUDIT_KEY_INFO
from enforcement.casework.models import AuditEntry, AuditHead, FailedLoginName
from enforcement.plates import plate_hash

GENESIS = "0" * 64
FAILED_LOGIN = "login_failed"
ANONYMOUS = "-"


class AuditKeyMissingError(RuntimeError):
    """A session without the audit key tried to write or check the chain."""


def audit_key(session: Session) -> bytes:
    key = session.info.get(AUDIT_KEY_INFO)
    if not isinstance(key, bytes) or not key:
        raise AuditKeyMissingError(
            "this database session has no audit key: open it with "
            "session_factory(engine, audit_key=CaseSettings.audit_hmac_key())"
        )
    return key


def entry_hash(
    key: bytes,
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    case_id: int | None,
    detail: dict[str, Any],
) -> str:
    body = json.dumps(
        [seq, at.astimezone(UTC).isoformat(), actor, action, case_id, detail],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hmac.new(key, f"{prev_hash}\n{body}".encode(), hashlib.sha256).hexdigest()


def digest(session: Session, value: str) -> str:
    """A keyed digest of personal data for an entry's detail (a plate, a mistyped user
    name): whoever holds the audit key can test a value against it, nobody else can."""
    return plate_hash(audit_key(session), value, 32)


def append(
    session: Session,
    actor: str,
    action: str,
    *,
    case_id: int | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (it commits with the change it logs).
    A `login_failed` entry never names its actor (the name typed): see `failed_login`."""
    if action == FAILED_LOGIN and actor != ANONYMOUS:
        return failed_login(session, actor, at=at, **(detail or {}))
    key = audit_key(session)
    at = at or datetime.now(UTC)
    detail = json.loads(json.dumps(detail or {}, default=str))  # what the JSON column returns
    head = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=AuditHead.seq + 1)
        .returning(AuditHead.seq, AuditHead.hash)
    ).one()
    seq, prev = int(head.seq), str(head.hash)
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        case_id=case_id,
        detail=detail,
        prev_hash=prev,
        hash=entry_hash(key, prev, seq, at, actor, action, case_id, detail),
    )
    session.add(entry)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=entry.hash))
    session.flush()
    return entry


def append_many(
    session: Session,
    actor: str,
    action: str,
    entries: Sequence[tuple[int | None, dict[str, Any]]],
    *,
    at: datetime,
) -> int:
    """Append one entry per (case id, detail), in order, with one bump of the head and one
    INSERT for all (an import of 500 outcomes: 79 rows/s with `append` per row). The chain is
    the same as `append` one by one would make it. Returns how many."""
    if not entries:
        return 0
    if action == FAILED_LOGIN:
        raise ValueError("failed logins go through failed_login, one at a time")
    key = audit_key(session)
    head = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=AuditHead.seq + len(entries))
        .returning(AuditHead.seq, AuditHead.hash)
    ).one()
    seq, prev = int(head.seq) - len(entries), str(head.hash)
    rows = []
    for case_id, detail in entries:
        seq += 1
        stored = json.loads(json.dumps(detail, default=str))  # what the JSON column returns
        digest_ = entry_hash(key, prev, seq, at, actor, action, case_id, stored)
        rows.append(
            {"seq": seq, "at": at, "actor": actor, "action": action, "case_id": case_id,
             "detail": stored, "prev_hash": prev, "hash": digest_}
        )  # fmt: skip
        prev = digest_
    session.execute(insert(AuditEntry), rows)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))
    return len(rows)


def failed_login(
    session: Session, username: str, *, at: datetime | None = None, **detail: Any
) -> AuditEntry:
    """A failed login: the entry names no one (actor `-`, a keyed digest of the name); the
    typed name is kept apart, in `failed_login_names`, until `purge` removes it."""
    at = at or datetime.now(UTC)
    name = username[:64]
    entry = append(
        session,
        ANONYMOUS,
        FAILED_LOGIN,
        detail={**detail, "user_digest": digest(session, name) if name else None},
        at=at,
    )
    if name:
        session.add(FailedLoginName(at=at, username=name, audit_seq=entry.seq))
        session.flush()
    return entry


# -- the anchor --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Anchor:
    """The chain's length and newest hash at one moment, kept outside the database."""

    count: int
    head: str

    def to_json(self) -> str:
        return json.dumps({"count": self.count, "head": self.head})

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "head": self.head}


class AnchorError(ValueError):
    """An anchor file that cannot be read; the message says why."""


def anchor(session: Session) -> Anchor:
    head = session.get(AuditHead, 1)
    if head is None:
        return Anchor(0, GENESIS)
    return Anchor(int(head.seq), str(head.hash))


def read_anchor(path: Path) -> Anchor:
    """An anchor from `path`: the line `zes enforce audit anchor` printed, or an export
    manifest (its `audit_anchor`)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AnchorError(f"anchor file {path}: {exc}") from None
    if isinstance(raw, dict) and isinstance(raw.get("audit_anchor"), dict):
        raw = raw["audit_anchor"]
    try:
        count, head = raw["count"], raw["head"]
    except (KeyError, TypeError):
        raise AnchorError(f"anchor file {path}: expected {{'count': N, 'head': '<hex>'}}") from None
    if not isinstance(count, int) or count < 0 or not isinstance(head, str) or len(head) != 64:
        raise AnchorError(f"anchor file {path}: count must be ≥ 0 and head 64 hex digits")
    return Anchor(count, head)


# -- verification ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChainReport:
    entries: int
    ok: bool
    first_bad_seq: int | None = None
    problem: str = ""
    last_hash: str = GENESIS
    """The hash of the last entry walked (of an intact chain: its head)."""


def _entries(session: Session, chunk: int = 5000, after: int = 0) -> Iterator[AuditEntry]:
    last = after
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(chunk)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify(
    session: Session, expected: Anchor | None = None, start: Anchor | None = None
) -> ChainReport:
    """Walk the chain from the genesis hash; report the first entry that does not fit, and,
    with an anchor, whether the chain still reaches it unchanged. With `start` (an anchor
    this process verified before) only the entries after it are walked, from its hash."""
    if expected is not None and start is not None:
        raise ValueError("an anchor is checked by a whole walk: give expected or start")
    key = audit_key(session)
    prev, count = (start.head, start.count) if start is not None else (GENESIS, 0)
    expected_seq = count + 1
    at_anchor: str | None = GENESIS if expected is not None and expected.count == 0 else None
    for entry in _entries(session, after=count):
        count += 1
        if entry.seq != expected_seq:
            return ChainReport(count, False, expected_seq, "an entry is missing")
        if entry.prev_hash != prev:
            return ChainReport(count, False, entry.seq, "it does not link to the entry before")
        recomputed = entry_hash(
            key, prev, entry.seq, entry.at, entry.actor, entry.action, entry.case_id, entry.detail
        )
        if not hmac.compare_digest(recomputed, entry.hash):
            return ChainReport(
                count, False, entry.seq,
                "its content was changed (or ZES_CASES_AUDIT_KEY is not the key it was "
                "written with)",
            )  # fmt: skip
        if expected is not None and entry.seq == expected.count:
            at_anchor = entry.hash
        prev, expected_seq = entry.hash, expected_seq + 1
    if expected is not None:
        if expected.count > count:
            return ChainReport(
                count, False, count + 1,
                f"the log ends before the anchor ({expected.count} entries): entries were "
                "removed",
            )  # fmt: skip
        if at_anchor != expected.head:
            return ChainReport(count, False, expected.count, "it does not match the anchor")
    head = session.get(AuditHead, 1)
    if head is None or head.seq != expected_seq - 1 or head.hash != prev:
        return ChainReport(count, False, expected_seq, "the newest entries were removed")
    return ChainReport(count, True, last_hash=prev)


class ChainWatch:
    """The chain's state for a page that shows it on every view, without walking a year of
    entries each time: the whole chain at most once per `full_every_s`, and in between only
    the entries appended since the last intact walk, from its hash. A change to an older
    entry therefore shows at the next whole walk, minutes later, not at once (the app's
    database role cannot change an entry at all: deploy/postgres/roles.sql); a removal of
    the newest entries shows at once (the head no longer fits). One per process."""

    def __init__(
        self, full_every_s: float = 600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.full_every_s = full_every_s
        self.clock = clock
        self._lock = threading.Lock()
        self._verified: Anchor | None = None
        self._whole_at = 0.0
        self.whole_walks = 0

    def check(self, session: Session) -> ChainReport:
        with self._lock:
            now = self.clock()
            start = self._verified if now - self._whole_at < self.full_every_s else None
            report = verify(session, start=start)
            if report.ok:
                if start is None:
                    self._whole_at = now
                    self.whole_walks += 1
                self._verified = Anchor(report.entries, report.last_hash)
            else:
                self._verified, self._whole_at = None, 0.0
            return report
