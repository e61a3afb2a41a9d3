"""Builders shared by the edge tests."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import msgspec

from enforcement.records import Evidence, EvidenceRef, Passage


def passage(camera: str = "cam-1", plate: str = "GB123X") -> Passage:
    return Passage(
        passage_id=uuid.uuid4(),
        site_id="test-site",
        camera_id=camera,
        zone_id="rotterdam",
        direction="entering",
        plate=plate,
        plate_raw=plate,
        confidence=0.97,
        seen_at=datetime.now(UTC),
    )


def with_evidence(p: Passage, size: int = 1000) -> tuple[Passage, list[Evidence]]:
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    digest = hashlib.sha256(data).hexdigest()
    evidence = Evidence(
        passage_id=p.passage_id, kind="overview", sha256=digest, captured_at=p.seen_at, data=data
    )
    ref = EvidenceRef(kind="overview", sha256=digest, size=size)
    return msgspec.structs.replace(p, evidence=(ref,)), [evidence]


def consume(
    bootstrap: str, topic: str, until: int, timeout: float = 20.0
) -> list[tuple[bytes, bytes]]:
    """(key, value) of every record of `topic` from the beginning, until `until` records.

    Assigns the partitions itself (no group join) and never asks for end offsets, which
    Tansu reports wrong.
    """
    import time

    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        request_timeout_ms=7000,
    )
    try:
        deadline = time.monotonic() + timeout
        partitions = None
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                time.sleep(0.2)
        if not partitions:
            return []
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        found: list[tuple[bytes, bytes]] = []
        while len(found) < until and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                found.extend((r.key, r.value) for r in records)
        return found
    finally:
        consumer.close()


class Collector:
    """Consumes a topic from the beginning in a background thread until `stop` (one broker
    life of an outage test: what it saw survives the in-memory broker's restart)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        import threading

        self.bootstrap = bootstrap
        self.topic = topic
        self.records: list[tuple[bytes, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import time

        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", request_timeout_ms=7000,
        )  # fmt: skip
        try:
            partitions = None
            while not partitions and not self._stop.is_set():
                partitions = consumer.partitions_for_topic(self.topic)
                time.sleep(0.1)
            if not partitions:
                return
            assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            consumer.seek_to_beginning(*assigned)
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=100).values():
                    self.records.extend((r.key, r.value) for r in records)
        finally:
            consumer.close()

    def stop(self) -> list[tuple[bytes, bytes]]:
        self._stop.set()
        self._thread.join(timeout=15)
        return self.records
