"""`zes flows sink`: consume the `flows` topic into the case database, exactly once.

Its own process, not a part of the intake: the intake handles personal data (plates, images)
under short retention and a four-eyes trail, the flows are anonymous counts kept for years for
policy staff; keeping them apart keeps each process's data, retention and access simple, and
a flow backlog never delays the cases. Offsets are committed after the database commit; the
store's watermarks make a re-applied batch harmless (see `enforcement.flows.store`).
An unreadable record is dead-lettered alone; a database outage keeps the batch and retries.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaProducer
from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from enforcement.broker_security import load_broker_security
from enforcement.casework.batches import group_consumer, run_batches
from enforcement.flows import store
from enforcement.flows.records import FlowBatch, FlowRecordError, decode_flow_batch
from enforcement.flows.settings import FlowSettings
from enforcement.model import LOCAL_TZ
from enforcement.records import DeadLetter, encode_dead_letter

log = logging.getLogger("zes.flows")

PURGE_EVERY_S = 3600.0


class SinkMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.records = Counter(
            "zes_flows_sink_records_total",
            "Flow records consumed, by result (applied, duplicate, dead_letter).",
            ["result"],
            registry=r,
        )
        self.entries_skipped = Counter(
            "zes_flows_sink_entries_skipped_total",
            "Envelope entries already persisted (redelivered after a restart or rebalance).",
            registry=r,
        )
        self.passages = Counter(
            "zes_flows_sink_passages_total", "Passages counted into zone rows.", registry=r
        )
        self.entries = Counter(
            "zes_flows_sink_entries_total",
            "Entries (entering or of unknown direction) counted into zone rows.",
            registry=r,
        )
        self.database_up = Gauge(
            "zes_flows_sink_database_up", "1 when the last transaction committed.", registry=r
        )
        self.database_up.set(1)


class FlowSink:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: FlowSettings,
        broker: str,
        metrics: SinkMetrics | None = None,
        *,
        stop: threading.Event | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.metrics = metrics or SinkMetrics()
        self.stop = stop or threading.Event()
        self.clock = clock
        self.consumer = group_consumer(
            (settings.topic,),
            broker,
            group=settings.group,
            client_id="zes-flows",
            session_timeout_s=settings.session_timeout_s,
            max_poll_records=settings.batch,
        )
        self.producer = KafkaProducer(
            bootstrap_servers=broker.split(","),
            acks="all",
            client_id="zes-flows",
            **load_broker_security().kafka_python(),
        )
        self.totals = store.ApplyCounts()
        self._purged_at = 0.0

    def run(self, until: Callable[[store.ApplyCounts], bool] | None = None) -> store.ApplyCounts:
        run_batches(
            self.consumer,
            self.producer,
            self.stop,
            self.handle,
            between=self._purge_when_due,
            until=None if until is None else lambda: until(self.totals),
        )
        return self.totals

    def handle(self, records: list[Any]) -> store.ApplyCounts:
        batches: list[FlowBatch] = []
        letters = []
        for record in records:
            try:
                batches.append(decode_flow_batch(record.value or b""))
            except FlowRecordError as exc:
                letters.append(self._dead_letter(record, str(exc)))
        for future in letters:
            future.get(timeout=30)  # delivered before the offsets move past it
        counts = self._apply(batches)
        self.totals.batches += counts.batches
        self.totals.duplicate_batches += counts.duplicate_batches
        self.totals.entries += counts.entries
        self.totals.skipped_entries += counts.skipped_entries
        self.totals.cells += counts.cells
        self.totals.passages += counts.passages
        self.totals.decided_entries += counts.decided_entries
        self.metrics.records.labels("applied").inc(counts.batches)
        self.metrics.records.labels("duplicate").inc(counts.duplicate_batches)
        self.metrics.entries_skipped.inc(counts.skipped_entries)
        self.metrics.passages.inc(counts.passages)
        self.metrics.entries.inc(counts.decided_entries)
        return counts

    def _apply(self, batches: list[FlowBatch]) -> store.ApplyCounts:
        delay = 0.2
        while True:
            try:
                with self.sessions.begin() as session:
                    counts = store.apply(session, batches, self.clock())
            except OperationalError as exc:
                self.metrics.database_up.set(0)
                log.warning("case database unavailable (%s); retrying in %.1fs", exc.orig, delay)
                if self.stop.wait(delay):
                    raise
                delay = min(5.0, delay * 2)
                continue
            self.metrics.database_up.set(1)
            return counts

    def _purge_when_due(self) -> None:
        if time.monotonic() - self._purged_at < PURGE_EVERY_S:
            return
        self._purged_at = time.monotonic()
        removed = purge_old(self.sessions, self.settings, self.clock())
        if removed:
            log.info("flows: %d rows past retention removed", removed)

    def _dead_letter(self, record: Any, error: str) -> Any:
        self.metrics.records.labels("dead_letter").inc()
        letter = DeadLetter(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=error[:500],
            payload=record.value or b"",
            failed_at=self.clock(),
        )
        key = f"{record.topic}:{record.partition}:{record.offset}".encode()
        return self.producer.send(
            self.settings.dead_letter_topic, key=key, value=encode_dead_letter(letter)
        )


def purge_old(sessions: sessionmaker[Session], settings: FlowSettings, now: dt.datetime) -> int:
    today = now.astimezone(LOCAL_TZ).date()
    before = today.replace(year=today.year - settings.retention_years, day=1)
    with sessions.begin() as session:
        # Vehicle digests live only while their day is open (issue 23): then a count stays.
        store.close_days(session, today - dt.timedelta(days=settings.vehicle_digest_days))
        return store.purge(session, before, now - dt.timedelta(days=30))
