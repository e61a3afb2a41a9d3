"""The one Kafka batch loop of the back office's consumers (the intake and the flows sink):
poll a batch, apply it, then commit its offsets.

At-least-once by construction: `handle` returns only once the batch's database transaction
committed and its dead letters were acknowledged, and only then do the offsets move; the
writers are idempotent, so a crash in between re-applies a batch harmlessly."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from enforcement.broker_security import load_broker_security

POLL_MS = 200
"""How long one poll waits for records: also how often `between` and `until` are asked."""


def group_consumer(
    topics: tuple[str, ...],
    broker: str,
    *,
    group: str,
    client_id: str,
    session_timeout_s: float,
    max_poll_records: int,
) -> KafkaConsumer:
    """A consumer-group member that commits by hand, after its database transaction (the
    intake and the flows sink): at-least-once, made exactly-once by idempotent writes."""
    timeout_ms = int(session_timeout_s * 1000)
    return KafkaConsumer(
        *topics,
        bootstrap_servers=broker.split(","),
        **load_broker_security().kafka_python(),  # SASL/TLS: ZES_KAFKA_*
        group_id=group,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=timeout_ms,
        heartbeat_interval_ms=max(500, timeout_ms // 3),
        max_poll_records=max_poll_records,
        fetch_max_wait_ms=100,
    )


def run_batches(
    consumer: KafkaConsumer,
    producer: KafkaProducer,
    stop: threading.Event,
    handle: Callable[[list[Any]], object],
    *,
    between: Callable[[], None] | None = None,
    until: Callable[[], bool] | None = None,
) -> None:
    """Until `stop` is set or `until()` says so: poll, `handle` each non-empty batch and
    commit its offsets after it returned; `between` runs after every poll (housekeeping).
    An exception from `handle` leaves the offsets where they were. The consumer and the
    dead-letter producer are closed on the way out, whatever the way."""
    try:
        while not stop.is_set():
            polled = consumer.poll(timeout_ms=POLL_MS)
            records = [r for batch in polled.values() for r in batch]
            if records:
                handle(records)
                consumer.commit()
            if between is not None:
                between()
            if until is not None and until():
                break
    finally:
        consumer.close()
        producer.close(timeout=5)
