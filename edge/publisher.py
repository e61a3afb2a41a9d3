"""Drains the spool to Kafka: envelopes of passages (key site/camera), evidence by passage id.

Every passage is spooled first; the publisher only ever sends what it took from the spool and
acks the spool rows after the broker acknowledged every record that carried them (acks=all).
So "ready passages" and "backlog after an outage" are the same thing: the oldest rows, packed
into envelopes of up to N passages / M bytes. During an outage the rows pile up; on reconnect
they leave in full envelopes, oldest first, which keeps per-camera order (one key per camera,
one partition per key, one request in flight).

Passages leave ahead of their evidence (a thin uplink drains the facts first), and every send
is bounded in bytes and count. A row the broker can never take (too large, undecodable, an old
schema) is quarantined instead of blocking the rows behind it. A failed send closes the
producer and retries with exponential backoff plus jitter; the rows stay in the spool. A send
that reached the broker but whose ack was lost is sent again: the `passage_id` makes the
repeat recognisable downstream (at-least-once, idempotent sinks).
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
from edge.spool import RowKind, Spool, SpooledEvidence, SpooledPassage
from enforcement.records import (
    SCHEMA_VERSION,
    RecordError,
    decode_evidence,
    decode_passage,
    encode_envelope,
)

log = logging.getLogger(__name__)

_ENVELOPE_OVERHEAD = 512
"""Bytes an envelope adds around its passages (ids, time stamp, brackets), with margin."""
_RECORD_OVERHEAD = 1024
"""Bytes Kafka adds around a record's value (key, headers, batch header), with margin."""
_PERMANENT = ("MessageSizeTooLargeError", "RecordListTooLargeError", "InvalidRecordError",
              "CorruptRecordError", "UnsupportedVersionError")  # fmt: skip
"""kafka-python errors about the record itself: sending it again cannot succeed."""
_PROBE_EVERY_S = 5.0


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


def make_producer(broker: BrokerConfig, compression: str | None = "gzip") -> Any:
    """A producer; `compression=None` for evidence: JPEG is compressed already. Measured on
    40 dev-photo overviews as the agent encodes them (median 39 kB): gzip saved 0.4 % of the
    bytes and cost 1.15 ms per image, more than the JPEG encoding itself (0.81 ms)."""
    from kafka import KafkaProducer

    from enforcement.broker_security import load_broker_security

    if not reachable(broker.bootstrap):
        raise ConnectionError(f"no broker answers at {broker.bootstrap}")

    timeout_ms = int(broker.request_timeout_s * 1000)
    return KafkaProducer(
        bootstrap_servers=broker.bootstrap.split(","),
        # SASL/TLS from ZES_KAFKA_* (the unit's EnvironmentFile), never from the site YAML.
        **load_broker_security().kafka_python(),
        client_id="zes-edge",
        acks="all",
        retries=3,
        compression_type=compression,
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
        max_request_size=broker.max_record_bytes,
    )


class PublishError(RuntimeError):
    """A batch was not acknowledged; its rows stay in the spool."""


def _permanent(exc: BaseException) -> bool:
    return type(exc).__name__ in _PERMANENT


def _why_undecodable(payload: bytes, exc: RecordError) -> str:
    """`old_schema` when the row says it is of another schema version, else `undecodable`."""
    import msgspec

    try:
        raw = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return f"undecodable: {exc.detail}"[:300]
    if isinstance(raw, dict) and raw.get("schema") != SCHEMA_VERSION:
        return f"old_schema: schema {raw.get('schema')!r}, this agent sends {SCHEMA_VERSION}"
    return f"undecodable: {exc.detail}"[:300]


class Publisher:
    """Drains the spool: passages first (envelopes), then evidence, each send bounded in
    bytes and count. Rows the broker can never take go to quarantine; the thread survives
    every error of a batch and `restart` (the agent's supervisor) brings back a dead one."""

    def __init__(
        self,
        spool: Spool,
        broker: BrokerConfig,
        site_id: str,
        metrics: EdgeMetrics | None = None,
        producer_factory: Callable[..., Any] = make_producer,
        quarantine_after: int = 3,
    ) -> None:
        self.spool = spool
        self.broker = broker
        self.site_id = site_id
        self.metrics = metrics
        self.quarantine_after = quarantine_after
        self._factory = producer_factory
        self._producer: Any = None
        self._evidence_producer: Any = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures: dict[tuple[RowKind, int], int] = {}
        self.connected = False
        self.unreachable_since: float | None = None
        """Monotonic time of the first failed send or probe since the last success."""
        self.restarts = 0
        self._started_at = 0.0
        self._restart_delay = 0.5

    # -- one batch ---------------------------------------------------------------------------
    def publish_once(self) -> int:
        """Send the oldest passages, or when none wait the oldest evidence; return how many
        rows were acked or quarantined (0: nothing to do)."""
        limit = min(self.broker.max_envelope_bytes, self.broker.max_batch_bytes)
        rows = self.spool.take(self.broker.max_envelope_passages, limit - _ENVELOPE_OVERHEAD)
        if rows:
            return self._guarded(lambda: self._send_passages(rows), len(rows), "passage(s)")
        items = self.spool.take_evidence(
            self.broker.max_batch_evidence, self.broker.max_batch_bytes
        )
        if items:
            return self._guarded(lambda: self._send_evidence(items), len(items), "image(s)")
        return 0

    def _guarded(self, send: Callable[[], int], count: int, what: str) -> int:
        try:
            done = send()
        except Exception as exc:
            self._close_producer()
            self._mark_down()
            if self.metrics:
                self.metrics.publish_failures.inc()
            # No `from exc`: the traceback would keep the client's sockets alive in logs.
            raise PublishError(f"{count} {what} stay spooled: {exc!r}") from None
        self._mark_up()
        if self.metrics:
            self.metrics.spool_depth.set(self.spool.depth())
            self.metrics.spool_bytes.set(self.spool.stored_bytes)
        return done

    def _mark_down(self) -> None:
        self.connected = False
        if self.unreachable_since is None:
            self.unreachable_since = time.monotonic()
        if self.metrics:
            self.metrics.broker_up.set(0)

    def _mark_up(self) -> None:
        self.connected = True
        self.unreachable_since = None
        if self.metrics:
            self.metrics.broker_up.set(1)

    def unreachable_for(self) -> float:
        """Seconds the broker has been unreachable (0 while it answers)."""
        since = self.unreachable_since
        return 0.0 if since is None else time.monotonic() - since

    def _quarantine(self, kind: RowKind, seq: int, reason: str) -> None:
        self._failures.pop((kind, seq), None)
        self.spool.quarantine(kind, seq, reason)

    def _failed(self, kind: RowKind, seq: int, exc: BaseException) -> int:
        """A record the broker rejected for itself: quarantined after N such failures
        (returns 1 when it was)."""
        key = (kind, seq)
        self._failures[key] = self._failures.get(key, 0) + 1
        if self._failures[key] < self.quarantine_after:
            return 0
        self._quarantine(kind, seq, f"rejected {self._failures[key]} times: {exc!r}"[:300])
        return 1

    def _send_passages(self, rows: list[SpooledPassage]) -> int:
        if self._producer is None:
            self._producer = self._factory(self.broker)
        producer = self._producer
        timeout = self.broker.request_timeout_s + 2
        by_camera: dict[str, list[SpooledPassage]] = {}
        quarantined = 0
        decoded = {}
        for row in rows:
            try:
                decoded[row.seq] = decode_passage(row.payload)
            except RecordError as exc:
                self._quarantine("passage", row.seq, _why_undecodable(row.payload, exc))
                quarantined += 1
                continue
            by_camera.setdefault(row.camera_id, []).append(row)
        futures = []
        for camera, group in by_camera.items():
            # Version 2 rows are the same values without the field names: never longer than
            # version 1, so the bound the spool took them by holds for both.
            value = encode_envelope(
                [decoded[r.seq] for r in group],
                site_id=self.site_id,
                camera_id=camera,
                version=self.broker.envelope_version,
            )
            key = f"{self.site_id}/{camera}".encode()
            futures.append((group, producer.send(self.broker.passages_topic, key=key, value=value)))
        producer.flush(timeout=timeout)
        acked: list[str] = []
        for group, future in futures:
            try:
                future.get(timeout=timeout)
            except Exception as exc:
                if not _permanent(exc):
                    raise
                for row in group:
                    quarantined += self._failed("passage", row.seq, exc)
                continue
            acked += [r.passage_id for r in group]
        # Their evidence stays: it leaves after every waiting passage has.
        self.spool.ack(acked, with_evidence=False)
        if self.metrics:
            self.metrics.envelopes_sent.inc(len(futures))
            self.metrics.passages_published.inc(len(acked))
        return len(acked) + quarantined

    def _send_evidence(self, items: list[SpooledEvidence]) -> int:
        limit = self.broker.max_record_bytes - _RECORD_OVERHEAD
        sendable: list[SpooledEvidence] = []
        quarantined = 0
        for item in items:
            reason = None
            if len(item.payload) > limit:
                reason = f"too_large: {len(item.payload)} bytes, the broker takes {limit}"
            else:
                try:
                    decode_evidence(item.payload)
                except RecordError as exc:
                    reason = f"undecodable: {exc.detail}"[:300]
            if reason is None:
                sendable.append(item)
            else:
                self._quarantine("evidence", item.seq, reason)
                quarantined += 1
        if not sendable:
            return quarantined
        if self._evidence_producer is None:
            self._evidence_producer = self._factory(self.broker, compression=None)
        producer = self._evidence_producer
        timeout = self.broker.request_timeout_s + 2
        futures = []
        for item in sendable:
            key = item.passage_id.encode()
            try:
                future = producer.send(self.broker.evidence_topic, key=key, value=item.payload)
            except Exception as exc:
                if not _permanent(exc):
                    raise
                quarantined += self._failed("evidence", item.seq, exc)
                continue
            futures.append((item, future))
        producer.flush(timeout=timeout)
        acked: list[int] = []
        for item, future in futures:
            try:
                future.get(timeout=timeout)
            except Exception as exc:
                if not _permanent(exc):
                    raise
                quarantined += self._failed("evidence", item.seq, exc)
                continue
            acked.append(item.seq)
        self.spool.ack_evidence(acked)
        if self.metrics:
            self.metrics.evidence_published.inc(len(acked))
        return len(acked) + quarantined

    def _close_producer(self) -> None:
        for name in ("_producer", "_evidence_producer"):
            producer = getattr(self, name)
            if producer is not None:
                try:
                    producer.close(timeout=1)
                except Exception:  # closing a broken producer may fail too; it is dropped anyway
                    log.debug("producer close failed", exc_info=True)
                setattr(self, name, None)

    # -- the background loop -----------------------------------------------------------------
    def notify(self) -> None:
        """A passage was spooled: wake the loop (it lingers briefly to fill the envelope)."""
        self._wake.set()

    def start(self) -> Publisher:
        self._stop.clear()
        self._started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="edge-publisher", daemon=True)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def restart(self) -> bool:
        """Start the loop again if its thread died (the supervisor calls this), with a
        doubling delay while it keeps dying (0.5 s to 30 s; reset after a minute alive)."""
        if self._stop.is_set() or self._thread is None or self._thread.is_alive():
            return False
        now = time.monotonic()
        if now - self._started_at > 60:
            self._restart_delay = 0.5
        if now < self._started_at + self._restart_delay:
            return False
        self._restart_delay = min(self._restart_delay * 2, 30.0)
        self.restarts += 1
        if self.metrics:
            self.metrics.publisher_restarts.inc()
        log.error("publisher thread was dead: restarted (%d restarts)", self.restarts)
        self._close_producer()
        self.start()
        self._wake.set()
        return True

    def _run(self) -> None:
        if self.metrics:
            self.metrics.publisher_up.set(1)
        try:
            self._loop()
        finally:
            if self.metrics:
                self.metrics.publisher_up.set(0)

    def _loop(self) -> None:
        backoff = 0.5
        last_probe = time.monotonic()
        while not self._stop.is_set():
            woken = self._wake.wait(timeout=1.0)
            if self._stop.is_set():
                break
            self._wake.clear()
            if not woken:
                # Idle: still find out whether the broker answers, for /healthz.
                if time.monotonic() - last_probe >= _PROBE_EVERY_S:
                    last_probe = time.monotonic()
                    self._probe()
                if not self.spool.depth() and not self.spool.evidence_depth():
                    self.spool.write_held()
                    continue
            if self.broker.linger_s:
                self._stop.wait(self.broker.linger_s)
            try:
                while not self._stop.is_set() and self.publish_once():
                    pass
                backoff = 0.5
            except Exception as exc:
                # A failed send (PublishError) or a spool error (SQLite): the thread lives on.
                delay = backoff * random.uniform(0.5, 1.5)
                if isinstance(exc, PublishError):
                    log.warning("broker unreachable, retrying in %.1f s: %s", delay, str(exc))
                else:
                    log.exception("publisher error, retrying in %.1f s", delay)
                backoff = min(backoff * 2, 10.0)
                self._stop.wait(delay)
                self._wake.set()  # the spool still holds rows: try again

    def _probe(self) -> None:
        """While idle, a TCP connect says whether the broker is there (a producer would only
        find out at the next send, and /healthz must not say ok meanwhile)."""
        if reachable(self.broker.bootstrap):
            if not self.spool.depth() and not self.spool.evidence_depth():
                self._mark_up()
        else:
            self._mark_down()

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
            log.warning("shutdown with rows still spooled: %s", str(exc))
        self._close_producer()
