"""The append-only, hash-chained audit log: every login, evidence view, decision and export.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own fields in a
canonical JSON form, so editing, deleting or inserting a row breaks the chain from there on;
`verify` finds the first broken entry. Appenders first bump the single `audit_head` row,
which serialises them (row lock on PostgreSQL, write lock on SQLite): the chain never forks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from enforcement.casework.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def entry_hash(
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
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def append(
    session: Session,
    actor: str,
    action: str,
    *,
    case_id: int | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (it commits with the change it logs)."""
    at = at or datetime.now(UTC)
    detail = json.loads(json.dumps(detail or {}, default=str))  # what the JSON column returns
    head = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=AuditHead.seq + 1)
        .returning(AuditHead.seq, AuditHead.hash)
    ).one()
    seq, prev = int(head.seq), str(head.hash)
    digest = entry_hash(prev, seq, at, actor, action, case_id, detail)
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        case_id=case_id,
        detail=detail,
        prev_hash=prev,
        hash=digest,
    )
    session.add(entry)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=digest))
    session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class ChainReport:
    entries: int
    ok: bool
    first_bad_seq: int | None = None
    problem: str = ""


def _entries(session: Session, chunk: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(chunk)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify(session: Session) -> ChainReport:
    """Walk the chain from the genesis hash; report the first entry that does not fit."""
    prev, expected_seq, count = GENESIS, 1, 0
    for entry in _entries(session):
        count += 1
        if entry.seq != expected_seq:
            return ChainReport(count, False, expected_seq, "an entry is missing")
        if entry.prev_hash != prev:
            return ChainReport(count, False, entry.seq, "it does not link to the entry before")
        digest = entry_hash(
            prev, entry.seq, entry.at, entry.actor, entry.action, entry.case_id, entry.detail
        )
        if digest != entry.hash:
            return ChainReport(count, False, entry.seq, "its content was changed")
        prev, expected_seq = entry.hash, expected_seq + 1
    head = session.get(AuditHead, 1)
    if head is None or head.seq != expected_seq - 1 or head.hash != prev:
        return ChainReport(count, False, expected_seq, "the newest entries were removed")
    return ChainReport(count, True)
