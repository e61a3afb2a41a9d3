"""Publishing from the spool: envelopes per camera, acks only after the broker's ack, outages."""

from __future__ import annotations

import gc
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Literal

import pytest
from msgspec.structs import astuple

from edge.config import BrokerConfig
from edge.metrics import EdgeMetrics
from edge.publisher import Publisher, PublishError
from edge.spool import Spool
from enforcement.records import decode_envelope, decode_evidence, encode_envelope
from tests.edge.helpers import consume, passage, with_evidence


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def get(self, timeout: float) -> None:
        if self.error:
            raise self.error


class FakeProducer:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[str, bytes, bytes]] = []

    def send(self, topic: str, key: bytes, value: bytes) -> FakeFuture:
        if not self.fail:
            self.sent.append((topic, key, value))
        return FakeFuture(TimeoutError("broker down") if self.fail else None)

    def flush(self, timeout: float) -> None:
        return None

    def close(self, timeout: float) -> None:
        return None


def settle_kafka_threads(timeout: float = 5.0) -> None:
    """Let closed clients' threads end, then collect what they leaked, inside the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(
        "kafka" in t.name.lower() for t in threading.enumerate()
    ):
        time.sleep(0.1)
    gc.collect()
    gc.collect()


def broker_config(**kw: Any) -> BrokerConfig:
    return BrokerConfig(bootstrap="127.0.0.1:9", **kw)


def test_envelopes_per_camera_and_evidence_by_passage_id(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10_000_000)
    producer = FakeProducer()
    sent = [passage(camera="cam-1"), passage(camera="cam-2"), passage(camera="cam-1")]
    for p in sent:
        spool.append(*with_evidence(p))
    metrics = EdgeMetrics()
    publisher = Publisher(spool, broker_config(), "test-site", metrics, lambda *_, **__: producer)
    assert publisher.publish_once() == 3
    assert spool.depth() == 0
    assert spool.evidence_depth() == 3  # the passages went first, their evidence waits
    assert publisher.publish_once() == 3
    assert spool.evidence_depth() == 0
    evidence = [s for s in producer.sent if s[0] == "evidence"]
    envelopes = [s for s in producer.sent if s[0] == "passages"]
    assert len(evidence) == 3
    assert {e[1].decode() for e in evidence} == {str(p.passage_id) for p in sent}
    assert decode_evidence(evidence[0][2]).passage_id == sent[0].passage_id
    assert [e[1] for e in envelopes] == [b"test-site/cam-1", b"test-site/cam-2"]
    first = decode_envelope(envelopes[0][2])
    assert [p.passage_id for p in first.passages] == [sent[0].passage_id, sent[2].passage_id]
    assert metrics.passages_published._value.get() == 3


def test_envelope_limits(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10_000_000)
    for _ in range(7):
        spool.append(passage())
    producer = FakeProducer()
    publisher = Publisher(
        spool, broker_config(max_envelope_passages=3), "test-site", None, lambda *_, **__: producer
    )
    counts = []
    while n := publisher.publish_once():
        counts.append(n)
    assert counts == [3, 3, 1]


def test_a_site_on_envelope_version_2_sends_rows_within_the_byte_bound(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10_000_000)
    sent = [passage(camera=f"cam-{i % 2}") for i in range(12)]
    for p in sent:
        spool.append(p)
    producer = FakeProducer()
    config = broker_config(envelope_version=2, max_envelope_bytes=2048)
    publisher = Publisher(spool, config, "test-site", None, lambda *_, **__: producer)
    while publisher.publish_once():
        pass
    assert spool.depth() == 0
    values = [value for _, _, value in producer.sent]
    assert len(values) > 2  # the byte bound split the backlog
    assert all(value.startswith(b"[2,") for value in values)  # rows, not objects
    assert all(len(value) <= config.max_envelope_bytes for value in values)
    got = [p for value in values for p in decode_envelope(value).passages]
    by_id = {p.passage_id: p for p in sent}
    assert sorted(str(p.passage_id) for p in got) == sorted(str(p) for p in by_id)
    assert all(astuple(p) == astuple(by_id[p.passage_id]) for p in got)
    for value in values:  # a row envelope is never longer than its version-1 twin
        envelope = decode_envelope(value)
        twin = encode_envelope(
            envelope.passages,
            site_id=envelope.site_id,
            camera_id=envelope.camera_id,
            sent_at=envelope.sent_at,
        )
        assert len(value) < len(twin)


def test_failed_send_keeps_passages_spooled(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10_000_000)
    spool.append(passage())
    producer = FakeProducer(fail=True)
    metrics = EdgeMetrics()
    publisher = Publisher(spool, broker_config(), "test-site", metrics, lambda *_, **__: producer)
    with pytest.raises(PublishError, match="stay spooled"):
        publisher.publish_once()
    assert spool.depth() == 1
    assert metrics.publish_failures._value.get() == 1
    producer.fail = False
    assert publisher.publish_once() == 1
    assert spool.depth() == 0


@pytest.mark.broker
@pytest.mark.parametrize("version", [1, 2])
def test_publish_and_consume_back(tmp_path: Path, broker: str, version: Literal[1, 2]) -> None:
    spool = Spool(tmp_path / "s.db", 10_000_000)
    sent = [passage(camera=f"cam-{i % 2}") for i in range(6)]
    spooled = {}
    for p in sent:
        with_ref, images = with_evidence(p)
        spool.append(with_ref, images)
        spooled[p.passage_id] = with_ref
    config = BrokerConfig(bootstrap=broker, linger_s=0.05, envelope_version=version)
    publisher = Publisher(spool, config, "test-site")
    publisher.start()
    publisher.notify()
    deadline = time.monotonic() + 20
    while spool.depth() and time.monotonic() < deadline:
        time.sleep(0.1)
    publisher.stop()
    assert spool.depth() == 0
    records = consume(broker, "passages", until=2)
    assert all(value.startswith(b"[" if version == 2 else b"{") for _, value in records)
    got = [p for _, value in records for p in decode_envelope(value).passages]
    assert sorted(str(p.passage_id) for p in got) == sorted(str(p.passage_id) for p in sent)
    assert all(astuple(p) == astuple(spooled[p.passage_id]) for p in got)
    assert {key for key, _ in records} == {b"test-site/cam-0", b"test-site/cam-1"}
    evidence = consume(broker, "evidence", until=6)
    assert {key.decode() for key, _ in evidence} == {str(p.passage_id) for p in sent}


@pytest.mark.broker
@pytest.mark.slow
# kafka-python leaks the sockets of refused connection attempts while the broker is down;
# they are collected (and their ResourceWarnings ignored) inside this test.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_outage_passages_wait_in_the_spool_and_drain_in_full_envelopes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # kafka-python's log records of the outage hold its connections (and their sockets);
    # pytest keeps captured records to the end of the session, so do not create them.
    caplog.set_level(logging.CRITICAL, logger="kafka")
    from zes.embedded import EmbeddedBroker

    server = EmbeddedBroker().start()
    spool = Spool(tmp_path / "s.db", 10_000_000)
    config = BrokerConfig(bootstrap=server.bootstrap, linger_s=0.05, request_timeout_s=2.0)
    publisher = Publisher(spool, config, "test-site").start()
    try:
        before = [passage() for _ in range(3)]
        for p in before:
            spool.append(p)
        publisher.notify()
        deadline = time.monotonic() + 20
        while spool.depth() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert spool.depth() == 0
        first_life = consume(server.bootstrap, "passages", until=1)
        server.stop()
        during = [passage() for _ in range(12)]
        for p in during:  # the camera keeps going while the broker is down
            spool.append(p)
            publisher.notify()
            time.sleep(0.05)
        # Longer than a send's delivery timeout, so the publisher notices the outage. (A
        # restart within it makes kafka-python retry into Tansu's in-memory restart, which
        # acks records of a topic it no longer lists: a Tansu artefact, see the report.)
        time.sleep(config.request_timeout_s + 3)
        assert spool.depth() == 12
        server = EmbeddedBroker(port=server.port).start()  # same port: same bootstrap
        deadline = time.monotonic() + 40
        while spool.depth() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert spool.depth() == 0
        second_life = consume(server.bootstrap, "passages", until=1)
    finally:
        publisher.stop()
        server.stop()
        settle_kafka_threads()
    envelopes = [decode_envelope(v) for _, v in first_life + second_life]
    ids = [str(p.passage_id) for e in envelopes for p in e.passages]
    assert set(ids) == {str(p.passage_id) for p in before + during}
    # The backlog left in one full envelope, in order.
    assert [str(p.passage_id) for p in envelopes[-1].passages] == [
        str(p.passage_id) for p in during
    ]


def test_notify_wakes_the_loop(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10_000_000)
    producer = FakeProducer()
    publisher = Publisher(
        spool, broker_config(linger_s=0.0), "test-site", None, lambda *_, **__: producer
    ).start()
    spool.append(passage())
    publisher.notify()
    done = threading.Event()
    deadline = time.monotonic() + 5
    while spool.depth() and time.monotonic() < deadline:
        time.sleep(0.02)
    done.set()
    publisher.stop()
    assert spool.depth() == 0


class Factory:
    """Records how each producer was asked for (passages gzip, evidence uncompressed)."""

    def __init__(self, producer: FakeProducer) -> None:
        self.producer = producer
        self.compression: list[str | None] = []

    def __call__(self, broker: BrokerConfig, compression: str | None = "gzip") -> FakeProducer:
        self.compression.append(compression)
        return self.producer


def test_passages_leave_ahead_of_evidence_in_bounded_sends(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 100_000_000)
    sent = [with_evidence(passage(), 200_000) for _ in range(12)]
    for p, evidence in sent:
        spool.append(p, evidence)
    factory = Factory(FakeProducer())
    config = broker_config(max_envelope_passages=5, max_batch_bytes=500_000)
    publisher = Publisher(spool, config, "test-site", None, factory)
    done = []
    while n := publisher.publish_once():
        done.append(n)
    topics = [topic for topic, _, _ in factory.producer.sent]
    # Every passage left before the first image, however the rows were appended.
    assert topics == ["passages"] * 3 + ["evidence"] * 12
    # Passages 5+5+2, then images at most 500 kB per send: 2 each.
    assert done == [5, 5, 2, 2, 2, 2, 2, 2, 2]
    assert spool.depth() == spool.evidence_depth() == 0
    assert factory.compression == ["gzip", None]  # no gzip on JPEG


def test_an_oversized_image_is_quarantined_and_never_blocks(tmp_path: Path) -> None:
    metrics = EdgeMetrics()
    spool = Spool(tmp_path / "s.db", 100_000_000, metrics=metrics)
    big, big_evidence = with_evidence(passage(), 1_200_000)
    spool.append(big, big_evidence)
    behind = [with_evidence(passage(), 1000) for _ in range(3)]
    for p, evidence in behind:
        spool.append(p, evidence)
    producer = FakeProducer()
    publisher = Publisher(spool, broker_config(), "test-site", metrics, lambda *_, **__: producer)
    while publisher.publish_once():
        pass
    assert spool.depth() == spool.evidence_depth() == 0
    (row,) = spool.quarantined()
    assert (row.kind, row.passage_id) == ("evidence", str(big.passage_id))
    assert row.reason.startswith("too_large")
    keys = [key.decode() for topic, key, _ in producer.sent if topic == "evidence"]
    assert keys == [str(p.passage_id) for p, _ in behind]
    assert metrics.spool_quarantined.labels("evidence")._value.get() == 1


def test_undecodable_and_old_schema_rows_are_quarantined(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10_000_000)
    good = passage()
    spool.append(good)
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute(
        "INSERT INTO passages(passage_id, camera_id, payload, size) VALUES (?, ?, ?, ?)",
        ("old-1", "cam-1", b'{"schema": 0, "plate": "X"}', 27),
    )
    db.execute(
        "INSERT INTO passages(passage_id, camera_id, payload, size) VALUES (?, ?, ?, ?)",
        ("bad-1", "cam-1", b"\xff not json", 10),
    )
    db.commit()
    db.close()
    producer = FakeProducer()
    publisher = Publisher(spool, broker_config(), "test-site", None, lambda *_, **__: producer)
    assert publisher.publish_once() == 3
    reasons = {r.passage_id: r.reason.split(":")[0] for r in spool.quarantined()}
    assert reasons == {"old-1": "old_schema", "bad-1": "undecodable"}
    (envelope,) = [v for t, _, v in producer.sent if t == "passages"]
    assert [p.passage_id for p in decode_envelope(envelope).passages] == [good.passage_id]
    # An operator fixed the cause: requeue puts a row back; drop deletes it for good.
    by_id = {r.passage_id: r.seq for r in spool.quarantined()}
    assert spool.requeue([by_id["old-1"]]) == 1
    assert [r.passage_id for r in spool.take(10, 100_000)] == ["old-1"]
    assert spool.drop([by_id["bad-1"]]) == 1
    assert spool.quarantined() == []


class RejectingProducer(FakeProducer):
    """The broker rejects records over a size (a record-level, permanent error)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def send(self, topic: str, key: bytes, value: bytes) -> FakeFuture:
        if len(value) > self.limit:
            from kafka.errors import MessageSizeTooLargeError

            return FakeFuture(MessageSizeTooLargeError("too large for the broker"))
        return super().send(topic, key, value)


def test_a_row_rejected_n_times_is_quarantined(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10_000_000)
    p, evidence = with_evidence(passage(), 50_000)
    spool.append(p, evidence)
    producer = RejectingProducer(limit=20_000)
    publisher = Publisher(
        spool, broker_config(), "test-site", None, lambda *_, **__: producer, quarantine_after=3
    )
    assert publisher.publish_once() == 1  # the passage
    assert [publisher.publish_once() for _ in range(3)] == [0, 0, 1]
    (row,) = spool.quarantined()
    assert "rejected 3 times" in row.reason and "MessageSizeTooLarge" in row.reason
    assert spool.evidence_depth() == 0


def test_a_spool_error_does_not_kill_the_publisher_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path / "s.db", 10_000_000)
    producer = FakeProducer()
    publisher = Publisher(
        spool, broker_config(linger_s=0.0), "test-site", None, lambda *_, **__: producer
    ).start()
    real_take = spool.take
    calls = []

    def broken_take(n: int, max_bytes: int) -> Any:
        calls.append(n)
        if len(calls) <= 2:
            raise sqlite3.OperationalError("database is locked")
        return real_take(n, max_bytes)

    monkeypatch.setattr(spool, "take", broken_take)
    spool.append(passage())
    publisher.notify()
    deadline = time.monotonic() + 10
    while spool.depth() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert len(calls) >= 3
        assert publisher.alive
        assert spool.depth() == 0
    finally:
        publisher.stop()


@pytest.mark.broker
def test_quarantine_of_an_oversized_image_while_passages_flow_on_the_broker(
    tmp_path: Path, broker: str
) -> None:
    metrics = EdgeMetrics()
    spool = Spool(tmp_path / "s.db", 100_000_000, metrics=metrics)
    first, first_evidence = with_evidence(passage(), 2_000_000)  # over the 1 MiB record limit
    spool.append(first, first_evidence)
    behind = [with_evidence(passage(camera=f"cam-{i % 2}"), 5000) for i in range(6)]
    for p, evidence in behind:
        spool.append(p, evidence)
    config = BrokerConfig(bootstrap=broker, linger_s=0.05)
    publisher = Publisher(spool, config, "test-site", metrics).start()
    publisher.notify()
    deadline = time.monotonic() + 20
    while (spool.depth() or spool.evidence_depth()) and time.monotonic() < deadline:
        time.sleep(0.1)
    publisher.stop()
    assert spool.depth() == spool.evidence_depth() == 0
    records = consume(broker, "passages", until=2)
    got = {str(p.passage_id) for _, v in records for p in decode_envelope(v).passages}
    assert got == {str(first.passage_id)} | {str(p.passage_id) for p, _ in behind}
    images = consume(broker, "evidence", until=6)
    assert {k.decode() for k, _ in images} == {str(p.passage_id) for p, _ in behind}
    (row,) = spool.quarantined()
    assert row.passage_id == str(first.passage_id) and row.reason.startswith("too_large")
    assert metrics.spool_quarantined.labels("evidence")._value.get() == 1
