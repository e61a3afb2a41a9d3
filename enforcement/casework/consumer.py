"""The intake process: consume `violations` and `evidence`, apply them, then commit.

At-least-once: offsets are committed only after the batch's transaction committed, and the
intake is idempotent, so a crash between the two re-applies a batch harmlessly. A record
that cannot be decoded goes to the dead-letter topic with its error; a database outage
keeps the batch in hand and retries with back-off (the process stays up, nothing is lost).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy.exc import OperationalError

from enforcement.casework.intake import CaseIntake, IntakeCounts
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
        timeout_ms = int(cases.session_timeout_s * 1000)
        self.consumer = KafkaConsumer(
            cases.violations_topic,
            cases.evidence_topic,
            bootstrap_servers=servers,
            group_id=cases.intake_group,
            client_id="zes-intake",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=timeout_ms,
            heartbeat_interval_ms=max(500, timeout_ms // 3),
            max_poll_records=cases.intake_batch,
            fetch_max_wait_ms=100,
        )
        self.producer = KafkaProducer(bootstrap_servers=servers, acks="all", client_id="zes-intake")
        self.totals = IntakeCounts()

    def run(self, until: Callable[[IntakeCounts], bool] | None = None) -> IntakeCounts:
        try:
            while not self.stop.is_set():
                polled = self.consumer.poll(timeout_ms=200)
                records = [r for batch in polled.values() for r in batch]
                if records:
                    self._handle(records)
                    self.consumer.commit()
                if until and until(self.totals):
                    break
        finally:
            self.consumer.close()
            self.producer.close(timeout=5)
        return self.totals

    def _handle(self, records: list[Any]) -> None:
        violations: list[Violation] = []
        evidence: list[Evidence] = []
        for record in records:
            try:
                if record.topic == self.cases.evidence_topic:
                    evidence.append(decode_evidence(record.value or b""))
                else:
                    violations.append(decode_violation(record.value or b""))
            except RecordError as exc:
                self._dead_letter(record, str(exc))
        self.producer.flush(30)
        counts = self._apply(violations, evidence)
        self.totals.add(counts)
        m = self.metrics.records
        m.labels("violation", "new_case").inc(counts.new_cases)
        m.labels("violation", "sighting").inc(counts.sightings - counts.new_cases)
        m.labels("violation", "duplicate").inc(counts.duplicates)
        m.labels("evidence", "stored").inc(counts.evidence_stored)
        m.labels("evidence", "held").inc(counts.evidence_pending)
        m.labels("evidence", "duplicate").inc(counts.evidence_duplicates)

    def _apply(self, violations: list[Violation], evidence: list[Evidence]) -> IntakeCounts:
        delay = 0.2
        while True:
            started = time.perf_counter()
            try:
                counts = self.intake.apply(violations, evidence)
            except OperationalError as exc:
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

    def _dead_letter(self, record: Any, error: str) -> None:
        self.metrics.records.labels(
            "evidence" if record.topic == self.cases.evidence_topic else "violation",
            "dead_letter",
        ).inc()
        letter = DeadLetter(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=error,
            payload=record.value or b"",
            failed_at=datetime.now(UTC),
        )
        key = f"{record.topic}:{record.partition}:{record.offset}".encode()
        self.producer.send(self.cases.dead_letter_topic, key=key, value=encode_dead_letter(letter))
