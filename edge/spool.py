"""The durable store-and-forward spool: every passage is on disk before it is sent.

SQLite in WAL mode: one file, crash-safe commits, readers never block the writer, and the
standard library has it. A passage row is removed only by `ack`, i.e. after the broker
acknowledged the envelope that carried it, so a crash or an outage at any point loses
nothing; at worst a passage is sent twice, and its `passage_id` lets downstream drop the
repeat.

Disk budget policy (decided here, because "never die" needs a rule):
- a passage (< 1 KB) is the enforcement fact and is always accepted while the spool holds
  less than the budget; above it, a new passage is *refused* (logged at ERROR, counted as
  `refused_passages`), because the alternative, deleting older unsent passages, would lose
  a fact silently and out of order;
- evidence images (100-300 KB each) are the bulk: once stored bytes plus the new images
  would pass 90 % of the budget the images of new passages are not stored (logged, counted
  as `dropped_evidence`); the passage keeps its SHA-256 references, so a reviewer sees that
  evidence is missing instead of the passage being lost. The last 10 % is for passages.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
"""

EVIDENCE_SHARE = 0.9


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


@dataclass(frozen=True, slots=True)
class AppendResult:
    stored: bool
    evidence_dropped: int


class Spool:
    """Thread-safe: the camera workers append, the publisher takes and acks."""

    def __init__(self, path: Path, budget_bytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.budget_bytes = budget_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss, which is the point of the spool.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self.refused_passages = 0
        self.dropped_evidence = 0
        self._bytes = self._stored_bytes()

    def _stored_bytes(self) -> int:
        row = self._db.execute(
            "SELECT (SELECT COALESCE(SUM(size), 0) FROM passages)"
            " + (SELECT COALESCE(SUM(size), 0) FROM evidence)"
        ).fetchone()
        return int(row[0])

    def append(self, passage: Passage, evidence: Sequence[Evidence] = ()) -> AppendResult:
        """Store a passage and its evidence in one transaction (both or neither)."""
        payload = encode_passage(passage)
        images = [encode_evidence(e) for e in evidence]
        with self._lock:
            if self._bytes + len(payload) > self.budget_bytes:
                self.refused_passages += 1
                log.error(
                    "SPOOL FULL: passage refused (%d bytes stored, budget %d); "
                    "the broker has been unreachable too long or the budget is too small",
                    self._bytes,
                    self.budget_bytes,
                )
                return AppendResult(False, len(images))
            image_bytes = sum(len(i) for i in images)
            dropped = 0
            if images and self._bytes + image_bytes > self.budget_bytes * EVIDENCE_SHARE:
                dropped = len(images)
                self.dropped_evidence += dropped
                images = []
                log.error(
                    "SPOOL NEAR BUDGET: %d evidence image(s) of a passage not stored "
                    "(%d bytes stored, budget %d)",
                    dropped,
                    self._bytes,
                    self.budget_bytes,
                )
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
                self._db.execute("ROLLBACK")
                raise
            self._bytes += len(payload) + sum(len(i) for i in images)
            return AppendResult(True, dropped)

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

    def evidence_for(self, passage_ids: Sequence[str]) -> list[SpooledEvidence]:
        if not passage_ids:
            return []
        marks = ",".join("?" * len(passage_ids))
        with self._lock:
            rows = self._db.execute(
                f"SELECT passage_id, payload FROM evidence WHERE passage_id IN ({marks})"
                " ORDER BY seq",
                list(passage_ids),
            ).fetchall()
        return [SpooledEvidence(str(pid), bytes(payload)) for pid, payload in rows]

    def ack(self, passage_ids: Sequence[str]) -> None:
        """Remove passages (and their evidence) the broker has acknowledged."""
        if not passage_ids:
            return
        marks = ",".join("?" * len(passage_ids))
        ids = list(passage_ids)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(f"DELETE FROM evidence WHERE passage_id IN ({marks})", ids)
                self._db.execute(f"DELETE FROM passages WHERE passage_id IN ({marks})", ids)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._bytes = self._stored_bytes()

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM passages").fetchone()[0])

    @property
    def stored_bytes(self) -> int:
        return self._bytes

    def close(self) -> None:
        with self._lock:
            self._db.close()
