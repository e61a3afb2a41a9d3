"""The flows sink against the real broker: exactly once through redelivery and restarts."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from enforcement.demo.fleet import synthetic_plates
from enforcement.flows import store
from enforcement.flows.records import encode_flow_batch
from enforcement.flows.settings import FlowSettings
from enforcement.flows.sink import FlowSink, SinkMetrics
from enforcement.model import Fuel, Vehicle
from enforcement.records import decode_dead_letter
from enforcement.register.redis import RedisRegister
from tests.enforcement.casework.conftest import CaseDB
from tests.enforcement.flows.helpers import batch, key
from tests.stream.harness import SECRET, StreamHarness, passage

pytestmark = [pytest.mark.broker]


def _settings(topic: str) -> FlowSettings:
    return FlowSettings(
        _env_file=None,
        topic=topic,
        dead_letter_topic=f"{topic}-dead",
        group=f"{topic}-sink",
        metrics_port=0,
    )


def _create(bootstrap: str, *topics: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(t, num_partitions=4, replication_factor=1) for t in topics])
    finally:
        admin.close()


def _sink_until(
    db: CaseDB, settings: FlowSettings, bootstrap: str, done: object, timeout: float = 60
) -> store.ApplyCounts:
    stop = threading.Event()
    sink = FlowSink(db.sessions, settings, bootstrap, SinkMetrics(), stop=stop)
    deadline = time.monotonic() + timeout
    return sink.run(until=lambda t: done(t) or time.monotonic() > deadline)  # type: ignore[operator]


def test_sink_applies_each_envelope_once_and_dead_letters_a_bad_record(
    broker: str, sqlite_db: CaseDB
) -> None:
    settings = _settings("flows-a")
    _create(broker, settings.topic, settings.dead_letter_topic)
    producer = KafkaProducer(bootstrap_servers=broker, acks="all")
    first = batch(range(10), [key()], worker="w1")
    for value in (
        encode_flow_batch(first),
        encode_flow_batch(first),  # redelivered
        b'{"not": "a flow batch"}',
        encode_flow_batch(batch(range(15), [key()], worker="w2")),  # re-read, 10-14 new
    ):
        producer.send(settings.topic, key=b"passages:0", value=value)
    producer.flush(30)
    producer.close()
    totals = _sink_until(
        sqlite_db, settings, broker, lambda t: t.batches + t.duplicate_batches >= 3
    )
    assert (totals.batches, totals.duplicate_batches, totals.decided_entries) == (2, 1, 15)
    with sqlite_db.sessions() as session:
        assert store.entries_total(session) == 15
    consumer = KafkaConsumer(
        settings.dead_letter_topic,
        bootstrap_servers=broker,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    letters = [decode_dead_letter(m.value) for m in consumer]
    consumer.close()
    assert len(letters) == 1
    assert letters[0].payload == b'{"not": "a flow batch"}'


def diesel_van(plate: str) -> Vehicle:
    return Vehicle(
        plate, "Bedrijfsauto", 2800, first_admission=date(2008, 2, 1), fuels=(Fuel("Diesel", "4"),)
    )


@pytest.mark.redis
@pytest.mark.slow
def test_a_worker_killed_mid_run_neither_loses_nor_doubles_an_hour(
    broker: str, redis_url: str, redis_prefix: str, tmp_path: Path, sqlite_db: CaseDB
) -> None:
    harness = StreamHarness(broker, redis_url, redis_prefix, tmp_path)
    try:
        plates = synthetic_plates(600, seed=23)
        RedisRegister(
            redis.Redis.from_url(redis_url), redis_prefix, secret=SECRET.encode()
        ).replace_vehicles(diesel_van(p) for p in plates)
        at = datetime.now(UTC)
        harness.send_passages([passage(p, "utrecht", at) for p in plates], per_envelope=5)
        first = harness.start_worker()
        harness.wait_for(
            lambda: harness.metric("zes_stream_passages_total") >= 50, what="first batches"
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        harness.start_worker()
        settings = _settings(harness.topics["flows"])
        totals = _sink_until(
            sqlite_db, settings, broker, lambda t: t.decided_entries >= len(plates), 120
        )
        # a little longer: a doubled envelope would arrive after the last new one
        more = _sink_until(sqlite_db, settings, broker, lambda t: False, 8)
        assert totals.decided_entries + more.decided_entries == len(plates)
        with sqlite_db.sessions() as session:
            assert store.entries_total(session) == len(plates)
    finally:
        harness.stop()
