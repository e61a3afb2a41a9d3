"""The intake process: consume `violations` and `evidence`, apply them, then commit.

At-least-once: offsets are committed only after the batch's transaction committed and every
dead letter of the batch was acknowledged by the broker, and the intake is idempotent, so a
crash between the two re-applies a batch harmlessly. The intake never crash-loops on a
record: one that cannot be decoded, or that the database refuses for a data reason (a value
it cannot store), goes to the dead-letter topic alone with its error while the rest of the
batch lands; a dead letter too large for the topic carries a reference to the record
(topic, partition, offset, SHA-256, size) instead of its bytes. An operational problem (the
database or the broker away) keeps the batch in hand and retries with back-off: the process
stays up, nothing is lost, nothing is committed past.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, MessageSizeTooLargeError
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    StatementError,
)

from enforcement.broker_security import load_broker_security
from enforcement.casework.batches import group_consumer, run_batches
from enforcement.casework.evidence import EvidenceIntegrityError
from enforcement.casework.intake import CaseIntake, CaseKeyError, IntakeCounts
from enforcement.casework.metrics import IntakeMetrics
from enforcement.casework.settings import CaseSettings
from enforcement.records import (
    DeadLetter,
    Evidence,
    RecordError,
    Violation,
    decode_evidence,
    decode_violation,
    encode_dead_letter,
)

log = logging.getLogger("zes.intake")

#: The database could not be reached or went away: retry the batch, never dead-letter it.
OPERATIONAL = (OperationalError, InterfaceError)


def data_problem(exc: BaseException) -> bool:
    """Whether the database refused a record for what it holds (not for being away): a
    value it cannot store, a constraint, a bind the models refuse (a naive time)."""
    if isinstance(exc, OPERATIONAL):
        return False
    if isinstance(exc, (DataError, IntegrityError, EvidenceIntegrityError, CaseKeyError)):
        return True
    # Raised while binding, before the database saw the statement (UTCDateTime's check).
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


def short_reason(exc: BaseException) -> str:
    """The reason in one line, with no plate in it: engines hide bound parameters, and the
    first line only, because PostgreSQL's DETAIL line quotes the value (`Key (plate)=…`)."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return f"{type(exc).__name__}: {text}"[:500]


@dataclass(frozen=True, slots=True)
class _Item:
    record: Any
    """The Kafka record (topic, partition, offset, value)."""
    decoded: Violation | Evidence


class IntakeConsumer:
    def __init__(
        self,
        intake: CaseIntake,
        cases: CaseSettings,
        metrics: IntakeMetrics,
        *,
        stop: threading.Event | None = None,
        retry_max_s: float = 5.0,
    ) -> None:
        self.intake = intake
        self.cases = cases
        self.metrics = metrics
        self.stop = stop or threading.Event()
        self.retry_max_s = retry_max_s
        servers = cases.broker.split(",")
        self.consumer = group_consumer(
            (cases.violations_topic, cases.evidence_topic),
            cases.broker,
            group=cases.intake_group,
            client_id="zes-intake",
            session_timeout_s=cases.session_timeout_s,
            max_poll_records=cases.intake_batch,
        )
        self.producer = KafkaProducer(
            bootstrap_servers=servers,
            **load_broker_security().kafka_python(),
            acks="all",
            client_id="zes-intake",
            max_request_size=max(1 << 20, cases.dead_letter_max_bytes + 64 * 1024),
        )
        self.totals = IntakeCounts()

    def run(self, until: Callable[[IntakeCounts], bool] | None = None) -> IntakeCounts:
        run_batches(
            self.consumer,
            self.producer,
            self.stop,
            self._handle,
            until=None if until is None else lambda: until(self.totals),
        )
        return self.totals

    def _handle(self, records: list[Any]) -> None:
        letters: list[tuple[Any, str]] = []
        items: list[_Item] = []
        for record in records:
            try:
                if record.topic == self.cases.evidence_topic:
                    items.append(_Item(record, decode_evidence(record.value or b"")))
                else:
                    violation = decode_violation(record.value or b"")
                    # The case key is recomputed, never trusted (intake.case_key_problem).
                    problem = self.intake.key_problem(violation)
                    if problem is not None:
                        letters.append((record, f"case key refused: {problem}"))
                        continue
                    items.append(_Item(record, violation))
            except RecordError as exc:
                letters.append((record, str(exc)))
        counts = self._apply_batch(items, letters)
        self._deliver(letters)  # every dead letter acknowledged before the offsets move
        self.totals.add(counts)
        m = self.metrics.records
        m.labels("violation", "new_case").inc(counts.new_cases)
        m.labels("violation", "sighting").inc(counts.sightings - counts.new_cases)
        m.labels("violation", "duplicate").inc(counts.duplicates)
        m.labels("evidence", "stored").inc(counts.evidence_stored)
        m.labels("evidence", "held").inc(counts.evidence_pending)
        m.labels("evidence", "duplicate").inc(counts.evidence_duplicates)

    def _apply_batch(self, items: list[_Item], letters: list[tuple[Any, str]]) -> IntakeCounts:
        """The batch in one transaction; when the database refuses it for a data reason,
        each record alone, so only the bad one is dead-lettered."""
        try:
            return self._apply(items)
        except Exception as exc:
            if not data_problem(exc):
                raise
            log.warning("a batch of %d records was refused (%s); applying them one by one",
                        len(items), short_reason(exc))  # fmt: skip
        counts = IntakeCounts()
        for item in items:
            try:
                counts.add(self._apply([item]))
            except Exception as exc:
                if not data_problem(exc):
                    raise
                letters.append((item.record, short_reason(exc)))
        return counts

    def _apply(self, items: Sequence[_Item]) -> IntakeCounts:
        violations = [i.decoded for i in items if isinstance(i.decoded, Violation)]
        evidence = [i.decoded for i in items if isinstance(i.decoded, Evidence)]
        delay = 0.2
        while True:
            started = time.perf_counter()
            try:
                counts = self.intake.apply(violations, evidence)
            except OPERATIONAL as exc:
                # The database is away: keep the batch, keep the offsets, try again.
                self.metrics.database_up.set(0)
                log.warning("case database unavailable (%s); retrying in %.1fs", exc.orig, delay)
                if self.stop.wait(delay):
                    raise
                delay = min(self.retry_max_s, delay * 2)
                continue
            self.metrics.database_up.set(1)
            self.metrics.batch_seconds.observe(time.perf_counter() - started)
            return counts

    def dead_letter(self, record: Any, error: str, *, reference: bool = False) -> bytes:
        """The dead letter of `record`: its bytes, or (too large, or `reference`) where to
        find them again with their SHA-256 and size."""
        payload = record.value or b""
        letter = DeadLetter(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=error,
            payload=payload,
            failed_at=datetime.now(UTC),
        )
        encoded = encode_dead_letter(letter)
        if reference or len(encoded) > self.cases.dead_letter_max_bytes:
            letter = DeadLetter(
                source_topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=error,
                payload=b"",
                failed_at=letter.failed_at,
                payload_sha256=hashlib.sha256(payload).hexdigest(),
                payload_size=len(payload),
            )
            encoded = encode_dead_letter(letter)
        return encoded

    def _deliver(self, letters: list[tuple[Any, str]]) -> None:
        """Send every dead letter and wait for the broker's acknowledgement of each. One the
        producer or broker refuses as too large is sent again as its reference; a broker
        away is retried with back-off (the batch's offsets stay uncommitted meanwhile)."""
        pending = [(record, error, False) for record, error in letters]
        delay = 0.2
        while pending:
            again: list[tuple[Any, str, bool]] = []
            away = False
            sent = []
            for record, error, reference in pending:
                key = f"{record.topic}:{record.partition}:{record.offset}".encode()
                value = self.dead_letter(record, error, reference=reference)
                try:
                    future = self.producer.send(self.cases.dead_letter_topic, key=key, value=value)
                except MessageSizeTooLargeError:
                    if reference:
                        raise  # a reference is a few hundred bytes: the limits are wrong
                    again.append((record, error, True))
                    continue
                except KafkaError as exc:  # no metadata for the topic yet, buffer full, …
                    log.warning("dead letter not sent (%s)", type(exc).__name__)
                    again.append((record, error, reference))
                    away = True
                    continue
                sent.append((record, error, reference, future))
            for record, error, reference, future in sent:
                try:
                    future.get(timeout=30)
                except MessageSizeTooLargeError:
                    if reference:
                        raise
                    again.append((record, error, True))
                except KafkaError as exc:
                    log.warning("dead letter not delivered (%s)", type(exc).__name__)
                    again.append((record, error, reference))
                    away = True
                else:
                    kind = "evidence" if record.topic == self.cases.evidence_topic else "violation"
                    self.metrics.records.labels(kind, "dead_letter").inc()
            if away:
                if self.stop.wait(delay):
                    raise RuntimeError("stopped before every dead letter was delivered")
                delay = min(self.retry_max_s, delay * 2)
            pending = again
