"""Drains the spool to Kafka: envelopes of passages (key site/camera), evidence by passage id.

Every passage is spooled first; the publisher only ever sends what it took from the spool and
acks the spool rows after the broker acknowledged every record that carried them (acks=all).
So "ready passages" and "backlog after an outage" are the same thing: the oldest rows, packed
into envelopes of up to N passages / M bytes. During an outage the rows pile up; on reconnect
they leave in full envelopes, oldest first, which keeps per-camera order (one key per camera,
one partition per key, one request in flight).

A failed send closes the producer and retries with exponential backoff plus jitter; the rows
stay in the spool. A send that reached the broker but whose ack was lost is sent again: the
`passage_id` makes the repeat recognisable downstream (at-least-once, idempotent sinks).
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from edge.config import BrokerConfig
from edge.metrics import EdgeMetrics
from edge.spool import Spool, SpooledPassage
from enforcement.records import decode_passage, encode_envelope

log = logging.getLogger(__name__)

_ENVELOPE_OVERHEAD = 512
"""Bytes an envelope adds around its passages (ids, time stamp, brackets), with margin."""


def reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    """Does any bootstrap server accept a TCP connection?

    Checked before a producer is built: kafka-python's constructor blocks for the whole
    bootstrap timeout against a dead broker and leaves its half-built client behind.
    """
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return True
        except OSError:
            continue
    return False


def make_producer(broker: BrokerConfig) -> Any:
    from kafka import KafkaProducer

    if not reachable(broker.bootstrap):
        raise ConnectionError(f"no broker answers at {broker.bootstrap}")

    timeout_ms = int(broker.request_timeout_s * 1000)
    return KafkaProducer(
        bootstrap_servers=broker.bootstrap.split(","),
        client_id="zes-edge",
        acks="all",
        retries=3,
        compression_type="gzip",
        linger_ms=5,
        # One request in flight per connection: retries cannot reorder a camera's envelopes.
        max_in_flight_requests_per_connection=1,
        enable_idempotence=False,
        request_timeout_ms=timeout_ms,
        delivery_timeout_ms=timeout_ms + 2000,
        max_block_ms=timeout_ms,
        # Fail fast when the broker is down at start; the publisher retries with backoff.
        bootstrap_timeout_ms=timeout_ms,
        reconnect_backoff_max_ms=2000,
        max_request_size=1_048_576,
    )


class PublishError(RuntimeError):
    """A batch was not acknowledged; its passages stay in the spool."""


class Publisher:
    def __init__(
        self,
        spool: Spool,
        broker: BrokerConfig,
        site_id: str,
        metrics: EdgeMetrics | None = None,
        producer_factory: Callable[[BrokerConfig], Any] = make_producer,
    ) -> None:
        self.spool = spool
        self.broker = broker
        self.site_id = site_id
        self.metrics = metrics
        self._factory = producer_factory
        self._producer: Any = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = False

    # -- one batch ---------------------------------------------------------------------------
    def publish_once(self) -> int:
        """Send the oldest spooled passages as envelopes; return how many were acked."""
        rows = self.spool.take(
            self.broker.max_envelope_passages,
            self.broker.max_envelope_bytes - _ENVELOPE_OVERHEAD,
        )
        if not rows:
            return 0
        try:
            if self._producer is None:
                self._producer = self._factory(self.broker)
            self._send(rows)
        except Exception as exc:
            self._close_producer()
            self.connected = False
            if self.metrics:
                self.metrics.publish_failures.inc()
                self.metrics.broker_up.set(0)
            # No `from exc`: the traceback would keep the client's sockets alive in logs.
            raise PublishError(f"{len(rows)} passage(s) stay spooled: {exc!r}") from None
        ids = [r.passage_id for r in rows]
        self.spool.ack(ids)
        self.connected = True
        if self.metrics:
            self.metrics.broker_up.set(1)
            self.metrics.passages_published.inc(len(ids))
            self.metrics.spool_depth.set(self.spool.depth())
            self.metrics.spool_bytes.set(self.spool.stored_bytes)
        return len(ids)

    def _send(self, rows: list[SpooledPassage]) -> None:
        producer = self._producer
        timeout = self.broker.request_timeout_s + 2
        futures = []
        # Evidence first: when a consumer sees a passage, its images are already there.
        for item in self.spool.evidence_for([r.passage_id for r in rows]):
            futures.append(
                producer.send(
                    self.broker.evidence_topic, key=item.passage_id.encode(), value=item.payload
                )
            )
        by_camera: dict[str, list[SpooledPassage]] = {}
        for row in rows:
            by_camera.setdefault(row.camera_id, []).append(row)
        envelopes = 0
        for camera, group in by_camera.items():
            value = encode_envelope(
                [decode_passage(r.payload) for r in group], site_id=self.site_id, camera_id=camera
            )
            key = f"{self.site_id}/{camera}".encode()
            futures.append(producer.send(self.broker.passages_topic, key=key, value=value))
            envelopes += 1
        producer.flush(timeout=timeout)
        for future in futures:
            future.get(timeout=timeout)
        if self.metrics:
            self.metrics.envelopes_sent.inc(envelopes)

    def _close_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            except Exception:  # closing a broken producer may fail too; it is dropped anyway
                log.debug("producer close failed", exc_info=True)
            self._producer = None

    # -- the background loop -----------------------------------------------------------------
    def notify(self) -> None:
        """A passage was spooled: wake the loop (it lingers briefly to fill the envelope)."""
        self._wake.set()

    def start(self) -> Publisher:
        self._thread = threading.Thread(target=self._run, name="edge-publisher", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            if self._stop.is_set():
                break
            self._wake.clear()
            if self.broker.linger_s:
                self._stop.wait(self.broker.linger_s)
            try:
                while not self._stop.is_set() and self.publish_once():
                    pass
                backoff = 0.5
            except PublishError as exc:
                delay = backoff * random.uniform(0.5, 1.5)
                log.warning("broker unreachable, retrying in %.1f s: %s", delay, str(exc))
                backoff = min(backoff * 2, 10.0)
                self._stop.wait(delay)
                self._wake.set()  # the spool still holds passages: try again

    def stop(self, drain_timeout: float = 2.0) -> None:
        """Stop the loop; try once more to drain briefly. Unsent rows stay in the spool."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.broker.request_timeout_s + 5)
        deadline = time.monotonic() + drain_timeout
        try:
            while time.monotonic() < deadline and self.publish_once():
                pass
        except PublishError as exc:
            log.warning("shutdown with passages still spooled: %s", str(exc))
        self._close_producer()
