"""The audit chain on SQLite and PostgreSQL: HMAC under a key the database never holds, the
anchor kept outside it, and (PostgreSQL) a table the application can only append to.

Tampering is done as a database owner would: on PostgreSQL with the append-only trigger
switched off first (the owner can; the HMAC and the anchor still catch it)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from enforcement.casework import audit
from enforcement.casework.db import session_factory
from enforcement.casework.models import AuditEntry, AuditHead, FailedLoginName
from enforcement.casework.purge import purge
from tests.enforcement.casework.conftest import SEEN, CaseDB

AT = SEEN + timedelta(days=1)


@contextmanager
def tampering(db: CaseDB) -> Iterator[Session]:
    """A transaction that may rewrite `audit_log` (the owner lifting the trigger)."""
    with db.sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        yield session
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


def _log(db: CaseDB, n: int = 6) -> audit.Anchor:
    with db.sessions.begin() as session:
        audit.append(session, "anna", "login", at=AT)
        for i in range(n - 1):
            audit.append(session, "anna", "view_evidence", case_id=i + 1, at=AT, detail={"n": i})
        return audit.anchor(session)


def _edit_actor(db: CaseDB, seq: int) -> None:
    """The database owner changes who wrote entry `seq`."""
    with tampering(db) as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(actor="mallory"))


def _plain_sha256(prev: str, e: AuditEntry) -> str:
    """The chain as it was (no key): what anyone with write access can recompute."""
    body = json.dumps(
        [e.seq, e.at.astimezone(UTC).isoformat(), e.actor, e.action, e.case_id, e.detail],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    )  # fmt: skip
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


def test_an_intact_chain_verifies_and_reaches_its_anchor(case_db: CaseDB) -> None:
    anchor = _log(case_db)
    assert anchor.count == 6 and len(anchor.head) == 64
    with case_db.sessions() as session:
        assert audit.verify(session) == audit.ChainReport(6, True, last_hash=anchor.head)
        assert audit.verify(session, anchor).ok
        assert audit.verify(session, audit.Anchor(0, audit.GENESIS)).ok


def test_an_edited_entry_fails_at_that_entry(case_db: CaseDB) -> None:
    _log(case_db)
    _edit_actor(case_db, 4)
    with case_db.sessions() as session:
        report = audit.verify(session)
    assert not report.ok and report.first_bad_seq == 4


def test_a_rewritten_chain_recomputed_with_sha256_fails(case_db: CaseDB) -> None:
    """The probe of the issue: rewrite an actor and recompute every hash after it (and the
    head) the way the old plain SHA-256 chain allowed. Without the key it cannot fit."""
    _log(case_db)
    with tampering(case_db) as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        prev = entries[0].hash
        for entry in entries[1:]:
            if entry.seq == 2:
                entry.actor = "mallory"
            entry.prev_hash = prev
            entry.hash = prev = _plain_sha256(prev, entry)
        session.flush()
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))
    with case_db.sessions() as session:
        report = audit.verify(session)
    assert not report.ok and report.first_bad_seq == 2
    assert "content was changed" in report.problem


def test_a_truncated_log_with_its_head_moved_back_fails_against_the_anchor(
    case_db: CaseDB,
) -> None:
    """The other probe: delete the two newest `view_evidence` entries and move `audit_head`
    back to the genuine hash before them. The chain itself is then consistent; the anchor
    taken earlier (outside the database) is what it no longer reaches."""
    anchor = _log(case_db)
    with tampering(case_db) as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq > anchor.count - 2))
        last = session.scalars(select(AuditEntry).where(AuditEntry.seq == anchor.count - 2)).one()
        session.execute(
            update(AuditHead).where(AuditHead.id == 1).values(seq=last.seq, hash=last.hash)
        )
    with case_db.sessions() as session:
        assert audit.verify(session).ok  # without the anchor nothing shows: hence the anchor
        report = audit.verify(session, anchor)
    assert not report.ok and report.first_bad_seq == anchor.count - 1
    assert "removed" in report.problem


def test_a_forked_tail_does_not_match_the_anchor(case_db: CaseDB) -> None:
    """Entries replaced behind the anchor by new genuine ones (the key holder's app wrote
    them) do not carry the anchored hash."""
    anchor = _log(case_db)
    with tampering(case_db) as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == anchor.count))
        last = session.scalars(select(AuditEntry).where(AuditEntry.seq == anchor.count - 1)).one()
        session.execute(
            update(AuditHead).where(AuditHead.id == 1).values(seq=last.seq, hash=last.hash)
        )
    with case_db.sessions.begin() as session:
        audit.append(session, "anna", "login", at=AT + timedelta(hours=1))
    with case_db.sessions() as session:
        report = audit.verify(session, anchor)
    assert not report.ok and report.first_bad_seq == anchor.count
    assert "anchor" in report.problem


def test_another_key_does_not_verify(case_db: CaseDB) -> None:
    _log(case_db, 2)
    other = session_factory(case_db.engine, audit_key=b"\x01" * 16 + b"\x02" * 16)
    with other() as session:
        report = audit.verify(session)
    assert not report.ok and report.first_bad_seq == 1
    with session_factory(case_db.engine)() as session, pytest.raises(audit.AuditKeyMissingError):
        audit.verify(session)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 2",
        "TRUNCATE audit_log",
    ],
)
def test_postgres_refuses_to_change_the_audit_log(postgres_db: CaseDB, statement: str) -> None:
    _log(postgres_db, 3)
    with pytest.raises(DBAPIError, match="append-only"), postgres_db.sessions.begin() as s:
        s.execute(text(statement))
    with postgres_db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 3
        assert audit.verify(session).ok


def test_failed_login_names_stay_out_of_the_chain_and_go_after_a_week(case_db: CaseDB) -> None:
    with case_db.sessions.begin() as session:
        audit.append(session, "anna hunter2", "login_failed", at=AT)  # a mistyped password
        audit.append(session, "-", "login_failed", at=AT)  # an empty user name
    with case_db.sessions() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert [e.actor for e in entries] == ["-", "-"]
        assert "hunter2" not in json.dumps([e.detail for e in entries])
        assert entries[0].detail["user_digest"] == audit.digest(session, "anna hunter2")
        assert session.scalars(select(FailedLoginName.username)).all() == ["anna hunter2"]
    for days, left in ((6, 1), (8, 0)):
        with case_db.sessions.begin() as session:
            purge(
                session, AT + timedelta(days=days), retention_days=28, hold_hours=6,
                failed_login_days=7, actor="purge",
            )  # fmt: skip
        with case_db.sessions() as session:
            assert session.scalar(select(func.count()).select_from(FailedLoginName)) == left
            assert audit.verify(session).ok


def test_anchor_files_are_the_printed_line_or_an_export_manifest(tmp_path: Path) -> None:
    anchor = audit.Anchor(7, "ab" * 32)
    line = tmp_path / "anchor.json"
    line.write_text(anchor.to_json() + "\n")
    manifest = tmp_path / "zes-fines-haarlem-000001.json"
    body: dict[str, Any] = {"batch": 1, "audit_anchor": anchor.as_dict()}
    manifest.write_text(json.dumps(body))
    assert audit.read_anchor(line) == anchor == audit.read_anchor(manifest)
    bad = tmp_path / "bad.json"
    bad.write_text('{"count": -1, "head": "x"}')
    with pytest.raises(audit.AnchorError, match="count must be"):
        audit.read_anchor(bad)


def test_appenders_never_fork_the_chain(case_db: CaseDB) -> None:
    _log(case_db, 3)
    with case_db.sessions.begin() as session:
        head = session.get(AuditHead, 1)
        assert head is not None and head.seq == 3
        entry = audit.append(session, "bart", "claim", case_id=9, at=datetime.now(UTC))
        assert entry.seq == 4 and entry.prev_hash != audit.GENESIS


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_chain_watch_walks_the_whole_chain_once_then_only_what_was_appended(
    case_db: CaseDB,
) -> None:
    _log(case_db)
    clock = Clock()
    watch = audit.ChainWatch(full_every_s=600.0, clock=clock)
    with case_db.sessions() as session:
        assert watch.check(session).ok and watch.whole_walks == 1
    _log(case_db, 3)
    with case_db.sessions() as session:
        report = watch.check(session)
        assert report.ok and report.entries == 9 and watch.whole_walks == 1
        assert report.last_hash == audit.anchor(session).head
        # The tail alone, from the hash verified before: what the page pays per view.
        assert audit.verify(session, start=audit.Anchor(6, _hash_of(session, 6))).ok
    clock.now += 601
    with case_db.sessions() as session:
        assert watch.check(session).ok and watch.whole_walks == 2


def _hash_of(session: Session, seq: int) -> str:
    return session.scalars(select(AuditEntry.hash).where(AuditEntry.seq == seq)).one()


def test_the_chain_watch_sees_an_appended_entry_that_does_not_fit_at_once(
    case_db: CaseDB,
) -> None:
    _log(case_db)
    watch = audit.ChainWatch(clock=Clock())
    with case_db.sessions() as session:
        assert watch.check(session).ok
    _log(case_db, 2)
    _edit_actor(case_db, 8)
    with case_db.sessions() as session:
        report = watch.check(session)
    assert not report.ok and report.first_bad_seq == 8


def test_the_chain_watch_sees_an_older_change_at_its_next_whole_walk(case_db: CaseDB) -> None:
    """The trade-off, pinned: an entry changed behind the last intact walk (only the
    database owner can) shows at the next whole walk, at most `full_every_s` later."""
    _log(case_db)
    clock = Clock()
    watch = audit.ChainWatch(full_every_s=600.0, clock=clock)
    with case_db.sessions() as session:
        assert watch.check(session).ok
    _edit_actor(case_db, 2)
    with case_db.sessions() as session:
        assert watch.check(session).ok
    clock.now += 601
    with case_db.sessions() as session:
        report = watch.check(session)
    assert not report.ok and report.first_bad_seq == 2


def test_verify_from_a_start_and_against_an_anchor_at_once_is_refused(case_db: CaseDB) -> None:
    anchor = _log(case_db)
    with case_db.sessions() as session, pytest.raises(ValueError, match="expected or start"):
        audit.verify(session, anchor, start=anchor)
