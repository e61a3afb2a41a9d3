"""The durable store-and-forward spool: every passage is on disk before it is sent.

SQLite in WAL mode: one file, crash-safe commits, readers never block the writer, and the
standard library has it. A row is removed only by an ack, i.e. after the broker acknowledged
the record that carried it, so a crash or an outage at any point loses nothing; at worst a
passage is sent twice, and its `passage_id` lets downstream drop the repeat.

Passages and their evidence are acked separately: the publisher sends passages ahead of
evidence (a thin uplink drains the enforcement facts first; intake holds evidence that comes
before its violation and the other way round).

Acked plates do not linger: `secure_delete` overwrites deleted rows with zeros and every ack
ends with `wal_checkpoint(TRUNCATE)`, so neither the database file nor its WAL keeps the
bytes of a passage the broker has (privacy: no-hit passages are deleted, not hidden).

Disk policy (decided here, because "never die, never lose silently" needs a rule):
- before a write the spool checks the budget (payload bytes) and the free disk (statvfs,
  keeping `min_free_bytes`); a write that does not fit, or that SQLite refuses with a full
  disk, is *held*: the passage (with its images while they fit a memory budget) waits in a
  bounded in-memory queue, is counted and logged, and is written as soon as space returns
  (each append and each ack tries). Only when that queue is full is a passage refused, and
  that is counted (`lost`) and logged at ERROR: never silent;
- evidence images (100-300 KB each) are the bulk: once stored bytes plus the new images
  would pass 90 % of the budget the images of new passages are not stored (logged, counted
  as `dropped_evidence`); the passage keeps its SHA-256 references, so a reviewer sees that
  evidence is missing instead of the passage being lost. The last 10 % is for passages.

A row the broker can never take (too large, undecodable, an old schema) is moved to the
`quarantine` table with the reason (`zes edge spool list|requeue|drop`), so it never blocks
the rows behind it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge.metrics import EdgeMetrics
from enforcement.records import Evidence, Passage, encode_evidence, encode_passage

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS passages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    passage_id TEXT NOT NULL UNIQUE,
    camera_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    passage_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_by_passage ON evidence(passage_id);
CREATE TABLE IF NOT EXISTS quarantine (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    passage_id TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    size INTEGER NOT NULL,
    reason TEXT NOT NULL,
    quarantined_at REAL NOT NULL
);
"""

EVIDENCE_SHARE = 0.9
RowKind = Literal["passage", "evidence"]


@dataclass(frozen=True, slots=True)
class SpooledPassage:
    seq: int
    passage_id: str
    camera_id: str
    payload: bytes
    """The encoded passage (JSON), exactly as it goes into the envelope."""


@dataclass(frozen=True, slots=True)
class SpooledEvidence:
    passage_id: str
    payload: bytes
    """The encoded evidence record (msgpack)."""
    seq: int = 0


@dataclass(frozen=True, slots=True)
class QuarantinedRow:
    seq: int
    kind: RowKind
    passage_id: str
    camera_id: str
    size: int
    reason: str
    quarantined_at: float
    """Unix time."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    stored: bool
    """On disk now. False: held in memory (`held`) or refused (`lost`)."""
    evidence_dropped: int
    held: bool = False
    lost: bool = False


@dataclass(frozen=True, slots=True)
class _Held:
    passage: Passage
    evidence: tuple[Evidence, ...]


class Spool:
    """Thread-safe: the camera workers append, the publisher takes and acks."""

    def __init__(
        self,
        path: Path,
        budget_bytes: int,
        *,
        min_free_bytes: int = 0,
        held_max_passages: int = 10_000,
        held_max_evidence_bytes: int = 32_000_000,
        metrics: EdgeMetrics | None = None,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.budget_bytes = budget_bytes
        self.min_free_bytes = min_free_bytes
        self.held_max_passages = held_max_passages
        self.held_max_evidence_bytes = held_max_evidence_bytes
        self.metrics = metrics
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # Before any table is written: deleted rows are overwritten, not just unlinked.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss, which is the point of the spool.
        self._db.execute("PRAGMA synchronous=FULL")
        # Checkpoint every 64 pages (256 kB) instead of 1000: rows in the WAL take their
        # space twice once checkpointed into the database, and on a small disk the default
        # 4 MB WAL was what filled it (found on a 2 MB tmpfs: the checkpoint after an ack
        # failed with "database or disk is full").
        self._db.execute("PRAGMA wal_autocheckpoint=64")
        self._db.executescript(_SCHEMA)
        self.refused_passages = 0
        """Passages that could not be written when they came (held or lost)."""
        self.lost_passages = 0
        """Refused with the memory queue full too: gone, counted and logged."""
        self.dropped_evidence = 0
        self._held: deque[_Held] = deque()
        self._held_evidence_bytes = 0
        self._bytes = self._stored_bytes()

    # -- sizes ---------------------------------------------------------------------------------
    def _stored_bytes(self) -> int:
        row = self._db.execute(
            "SELECT (SELECT COALESCE(SUM(size), 0) FROM passages)"
            " + (SELECT COALESCE(SUM(size), 0) FROM evidence)"
        ).fetchone()
        return int(row[0])

    def free_bytes(self) -> int:
        """Free disk for an unprivileged writer on the spool's file system."""
        stat = os.statvfs(self.path.parent)
        return int(stat.f_bavail * stat.f_frsize)

    def _fits(self, nbytes: int) -> str | None:
        """Why `nbytes` more cannot be written now, or None when they can."""
        if self._bytes + nbytes > self.budget_bytes:
            return f"spool budget reached ({self._bytes} of {self.budget_bytes} bytes)"
        # WAL, index and page overhead: a row costs about twice its payload until checkpoint.
        free = self.free_bytes()
        if free - 2 * nbytes - 65_536 < self.min_free_bytes:
            return f"disk full ({free} bytes free, {self.min_free_bytes} kept free)"
        return None

    # -- append ----------------------------------------------------------------------------------
    def append(self, passage: Passage, evidence: Sequence[Evidence] = ()) -> AppendResult:
        """Store a passage and its evidence in one transaction (both or neither); when the
        disk or the budget has no room, hold them in memory (see the module doc)."""
        with self._lock:
            self._write_held()
            if self._held:  # keep the order: nothing jumps the queue
                return self._hold(passage, tuple(evidence), "older passages still held")
            return self._append(passage, tuple(evidence))

    def _append(self, passage: Passage, evidence: tuple[Evidence, ...]) -> AppendResult:
        payload = encode_passage(passage)
        images = [encode_evidence(e) for e in evidence]
        why = self._fits(len(payload))
        if why is not None:
            return self._hold(passage, evidence, why)
        image_bytes = sum(len(i) for i in images)
        dropped = 0
        if images and (
            self._bytes + image_bytes > self.budget_bytes * EVIDENCE_SHARE
            or self._fits(len(payload) + image_bytes) is not None
        ):
            dropped = len(images)
            images = []
            self._drop_evidence(dropped, "near the spool budget or the free-disk reserve")
        try:
            self._insert(passage, payload, images)
        except sqlite3.OperationalError as exc:
            if not _disk_full(exc):
                raise
            return self._hold(passage, evidence, f"SQLite: {exc}")
        return AppendResult(True, dropped)

    def _insert(self, passage: Passage, payload: bytes, images: list[bytes]) -> None:
        pid = str(passage.passage_id)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT OR IGNORE INTO passages(passage_id, camera_id, payload, size)"
                " VALUES (?, ?, ?, ?)",
                (pid, passage.camera_id, payload, len(payload)),
            )
            self._db.executemany(
                "INSERT INTO evidence(passage_id, payload, size) VALUES (?, ?, ?)",
                [(pid, image, len(image)) for image in images],
            )
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._bytes += len(payload) + sum(len(i) for i in images)

    def _drop_evidence(self, count: int, why: str) -> None:
        self.dropped_evidence += count
        if self.metrics:
            self.metrics.spool_evidence_dropped.inc(count)
        log.error("SPOOL: %d evidence image(s) of a passage not kept: %s", count, why)

    def hold(self, passage: Passage, evidence: Sequence[Evidence], why: str) -> AppendResult:
        """Keep a passage in memory because it could not be written (the caller's error)."""
        with self._lock:
            return self._hold(passage, tuple(evidence), why)

    def _hold(self, passage: Passage, evidence: tuple[Evidence, ...], why: str) -> AppendResult:
        self.refused_passages += 1
        if len(self._held) >= self.held_max_passages:
            self.lost_passages += 1
            if self.metrics:
                self.metrics.spool_refused.labels("lost").inc()
            log.error(
                "SPOOL FULL AND MEMORY QUEUE FULL: passage %s LOST (%d held): %s",
                passage.passage_id, len(self._held), why,
            )  # fmt: skip
            return AppendResult(False, len(evidence), lost=True)
        size = sum(len(e.data) for e in evidence)
        dropped = 0
        if evidence and self._held_evidence_bytes + size > self.held_max_evidence_bytes:
            dropped, evidence, size = len(evidence), (), 0
            self._drop_evidence(dropped, "the memory queue's evidence budget is used up")
        self._held.append(_Held(passage, evidence))
        self._held_evidence_bytes += size
        if self.metrics:
            self.metrics.spool_refused.labels("held").inc()
            self.metrics.spool_held.set(len(self._held))
        log.error(
            "SPOOL: passage %s not written, held in memory (%d held) until space returns: %s",
            passage.passage_id, len(self._held), why,
        )  # fmt: skip
        return AppendResult(False, dropped, held=True)

    def _write_held(self) -> int:
        """Write held passages while they fit; return how many were written."""
        written = 0
        while self._held:
            item = self._held[0]
            payload = encode_passage(item.passage)
            images = [encode_evidence(e) for e in item.evidence]
            if self._fits(len(payload)) is not None:
                break
            if images and self._fits(len(payload) + sum(len(i) for i in images)) is not None:
                self._drop_evidence(len(images), "still no room for them when written")
                images = []
            try:
                self._insert(item.passage, payload, images)
            except sqlite3.OperationalError as exc:
                if not _disk_full(exc):
                    raise
                break
            self._held.popleft()
            self._held_evidence_bytes -= sum(len(e.data) for e in item.evidence)
            written += 1
        if written:
            log.warning(
                "SPOOL: %d held passage(s) written, %d still held", written, len(self._held)
            )
            if self.metrics:
                self.metrics.spool_held.set(len(self._held))
        return written

    def write_held(self) -> int:
        """Try to write the held passages (after an ack freed room, or periodically)."""
        with self._lock:
            return self._write_held()

    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)

    # -- take and ack ----------------------------------------------------------------------------
    def take(self, n: int, max_bytes: int) -> list[SpooledPassage]:
        """The oldest passages, at most `n` and `max_bytes` of payload (at least one)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, passage_id, camera_id, payload FROM passages ORDER BY seq LIMIT ?",
                (n,),
            ).fetchall()
        taken: list[SpooledPassage] = []
        total = 0
        for seq, pid, camera, payload in rows:
            if taken and total + len(payload) > max_bytes:
                break
            total += len(payload)
            taken.append(SpooledPassage(int(seq), str(pid), str(camera), bytes(payload)))
        return taken

    def take_evidence(self, n: int, max_bytes: int) -> list[SpooledEvidence]:
        """The oldest evidence rows whose passage has been sent, bounded like `take`.

        Evidence of a passage still spooled waits: passages go first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT e.seq, e.passage_id, e.size FROM evidence e"
                " WHERE NOT EXISTS (SELECT 1 FROM passages p WHERE p.passage_id = e.passage_id)"
                " ORDER BY e.seq LIMIT ?",
                (n,),
            ).fetchall()
            chosen: list[int] = []
            total = 0
            for seq, _pid, size in rows:
                if chosen and total + int(size) > max_bytes:
                    break
                total += int(size)
                chosen.append(int(seq))
            if not chosen:
                return []
            marks = ",".join("?" * len(chosen))
            found = self._db.execute(
                f"SELECT seq, passage_id, payload FROM evidence WHERE seq IN ({marks})"
                " ORDER BY seq",
                chosen,
            ).fetchall()
        return [SpooledEvidence(str(pid), bytes(payload), int(seq)) for seq, pid, payload in found]

    def evidence_for(self, passage_ids: Sequence[str]) -> list[SpooledEvidence]:
        if not passage_ids:
            return []
        marks = ",".join("?" * len(passage_ids))
        with self._lock:
            rows = self._db.execute(
                f"SELECT seq, passage_id, payload FROM evidence WHERE passage_id IN ({marks})"
                " ORDER BY seq",
                list(passage_ids),
            ).fetchall()
        return [SpooledEvidence(str(pid), bytes(payload), int(seq)) for seq, pid, payload in rows]

    def ack(self, passage_ids: Sequence[str], *, with_evidence: bool = True) -> None:
        """Remove passages the broker has acknowledged (and their evidence, unless the
        evidence is still to be sent: `with_evidence=False`)."""
        templates = ["DELETE FROM passages WHERE passage_id IN ({marks})"]
        if with_evidence:
            templates.insert(0, "DELETE FROM evidence WHERE passage_id IN ({marks})")
        self._delete(templates, list(passage_ids))

    def ack_evidence(self, seqs: Sequence[int]) -> None:
        """Remove evidence rows the broker has acknowledged."""
        self._delete(["DELETE FROM evidence WHERE seq IN ({marks})"], list(seqs))

    def _delete(self, templates: list[str], keys: Sequence[object]) -> int:
        """Delete the rows of `keys` in one transaction; how many rows went."""
        if not keys:
            return 0
        with self._lock:
            deleted = self._delete_chunk(templates, list(keys))
            # Copy the zeroed pages into the database and empty the WAL: the acked bytes
            # are then in neither file (and the WAL does not grow with the backlog).
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.OperationalError as exc:  # the delete stands; the next ack retries
                log.warning("SPOOL: WAL checkpoint after an ack failed: %s", exc)
            self._bytes = self._stored_bytes()
            self._write_held()
            return deleted

    def _delete_chunk(self, templates: list[str], keys: list[object]) -> int:
        marks = ",".join("?" * len(keys))
        before = self._db.total_changes
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for template in templates:
                self._db.execute(template.format(marks=marks), keys)
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if not _disk_full(exc) or len(keys) == 1:
                raise
            # A delete writes its (zeroed) pages to the WAL first: on a full disk a big one
            # does not fit (found on a 2 MB tmpfs: 50 rows touch ~60 index pages). Halves
            # fit, and each checkpoint gives the space back.
            half = len(keys) // 2
            done = self._delete_chunk(templates, keys[:half])
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return done + self._delete_chunk(templates, keys[half:])
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        return self._db.total_changes - before

    # -- quarantine ------------------------------------------------------------------------------
    def quarantine(self, kind: RowKind, seq: int, reason: str) -> None:
        """Move one row the broker can never take out of the way, with why."""
        table = "passages" if kind == "passage" else "evidence"
        camera = "camera_id" if kind == "passage" else "''"
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                moved = self._db.execute(
                    "INSERT INTO quarantine(kind, passage_id, camera_id, payload, size, reason,"
                    f" quarantined_at) SELECT ?, passage_id, {camera}, payload, size, ?, ?"
                    f" FROM {table} WHERE seq = ?",
                    (kind, reason[:500], time.time(), seq),
                ).rowcount
                self._db.execute(f"DELETE FROM {table} WHERE seq = ?", (seq,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._bytes = self._stored_bytes()
        if moved:
            if self.metrics:
                self.metrics.spool_quarantined.labels(kind).inc()
            log.error("SPOOL: %s row %d quarantined: %s", kind, seq, reason)

    def quarantined(self) -> list[QuarantinedRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, passage_id, camera_id, size, reason, quarantined_at"
                " FROM quarantine ORDER BY seq"
            ).fetchall()
        return [
            QuarantinedRow(int(s), k, str(p), str(c), int(n), str(r), float(t))
            for s, k, p, c, n, r, t in rows
        ]

    def requeue(self, seqs: Sequence[int]) -> int:
        """Put quarantined rows back at the end of their queue (after a fix); how many."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                count = 0
                for seq in seqs:
                    row = self._db.execute(
                        "SELECT kind, passage_id, camera_id, payload, size FROM quarantine"
                        " WHERE seq = ?",
                        (seq,),
                    ).fetchone()
                    if row is None:
                        continue
                    kind, pid, camera, payload, size = row
                    if kind == "passage":
                        self._db.execute(
                            "INSERT OR IGNORE INTO passages(passage_id, camera_id, payload, size)"
                            " VALUES (?, ?, ?, ?)",
                            (pid, camera, payload, size),
                        )
                    else:
                        self._db.execute(
                            "INSERT INTO evidence(passage_id, payload, size) VALUES (?, ?, ?)",
                            (pid, payload, size),
                        )
                    self._db.execute("DELETE FROM quarantine WHERE seq = ?", (seq,))
                    count += 1
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._bytes = self._stored_bytes()
        return count

    def drop(self, seqs: Sequence[int]) -> int:
        """Delete quarantined rows for good (an operator's decision); how many."""
        return self._delete(["DELETE FROM quarantine WHERE seq IN ({marks})"], list(seqs))

    # -- state -----------------------------------------------------------------------------------
    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM passages").fetchone()[0])

    def evidence_depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM evidence").fetchone()[0])

    @property
    def stored_bytes(self) -> int:
        return self._bytes

    def close(self) -> None:
        with self._lock:
            try:
                self._write_held()  # a last chance for what waits in memory
            except sqlite3.Error:
                log.exception("SPOOL: writing held passages at close failed")
            if self._held:
                log.error(
                    "SPOOL: closing with %d passage(s) held in memory that never found room "
                    "on disk: they are LOST",
                    len(self._held),
                )
                self.lost_passages += len(self._held)
            self._db.close()


def _disk_full(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_FULL (or the I/O error a full tmpfs can give)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
        return True
    text = str(exc).lower()
    return "disk is full" in text or "disk i/o error" in text
