"""A real stream setup for tests: Tansu broker, Redis register, worker processes started
with `python -m zes stream worker`, a kafka-python producer and consumers."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from enforcement.records import (
    DeadLetter,
    Passage,
    Violation,
    decode_dead_letter,
    decode_violation,
    encode_envelope,
)
from zes.embedded import free_port

SECRET = "9c1f4e7a2b8d05c36e91a4f7d2b80c5e3a6f19d4b72e08c5a3d6f1b49e27c80a"  # 32 random bytes, hex


def passage(plate: str, zone_id: str, seen_at: datetime, **kw: object) -> Passage:
    fields: dict[str, object] = {
        "passage_id": uuid.uuid4(),
        "site_id": "site-1",
        "camera_id": "cam-1",
        "zone_id": zone_id,
        "direction": "entering",
        "plate": plate,
        "plate_raw": plate,
        "confidence": 0.99,
        "seen_at": seen_at,
    }
    fields.update(kw)
    return Passage(**fields)  # type: ignore[arg-type]


@dataclass
class StreamHarness:
    bootstrap: str
    redis_url: str
    prefix: str
    tmp: Path
    law_file: Path | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    metrics_ports: list[int] = field(default_factory=list)
    logs: list[BinaryIO] = field(default_factory=list)
    _producer: KafkaProducer | None = None

    @property
    def topics(self) -> dict[str, str]:
        return {
            "passages": f"passages-{self.run_id}",
            "violations": f"violations-{self.run_id}",
            "dead": f"dead-{self.run_id}",
            "flows": f"flows-{self.run_id}",
        }

    def __post_init__(self) -> None:
        """Create the topics up front: a consumer subscribed before its topic exists would
        wait for kafka-python's metadata refresh (minutes)."""
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.create_topics(
                [
                    NewTopic(name, num_partitions=4, replication_factor=1)
                    for name in self.topics.values()
                ]
            )
        finally:
            admin.close()

    def env(self, metrics_port: int, redis_url: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            ZES_REDIS_URL=redis_url or self.redis_url,
            ZES_REGISTER_PREFIX=self.prefix,
            ZES_HASH_SECRET=SECRET,
            ZES_STREAM_BROKER=f"kafka://{self.bootstrap}",
            ZES_STREAM_APP_ID=f"zes-test-{self.run_id}",
            ZES_STREAM_PASSAGES_TOPIC=self.topics["passages"],
            ZES_STREAM_VIOLATIONS_TOPIC=self.topics["violations"],
            ZES_STREAM_DEAD_LETTER_TOPIC=self.topics["dead"],
            ZES_STREAM_FLOWS_TOPIC=self.topics["flows"],
            ZES_STREAM_METRICS_PORT=str(metrics_port),
            ZES_STREAM_RETRY_MAX_S="1",
        )
        if self.law_file is not None:
            env["ZES_LAW_FILE"] = str(self.law_file)
        return env

    def start_worker(self, redis_url: str | None = None) -> subprocess.Popen[bytes]:
        port = free_port()
        log = (self.tmp / f"worker-{len(self.workers)}.log").open("wb")
        self.logs.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "zes", "stream", "worker", "--loglevel", "info"],
            env=self.env(port, redis_url),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(process)
        self.metrics_ports.append(port)
        return process

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.terminate()
        for process in self.workers:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._producer is not None:
            self._producer.close(timeout=5)
        for log in self.logs:
            log.close()

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        return self._producer

    def send_passages(
        self, passages: Sequence[Passage], per_envelope: int = 50, cameras: int = 1
    ) -> None:
        """Envelopes keyed by camera: `cameras` > 1 spreads them over the partitions."""
        for n, i in enumerate(range(0, len(passages), per_envelope)):
            chunk = passages[i : i + per_envelope]
            camera = f"cam-{n % cameras + 1}"
            body = encode_envelope(chunk, site_id="site-1", camera_id=camera)
            self.producer.send(self.topics["passages"], key=f"site-1/{camera}".encode(), value=body)
        self.producer.flush(30)

    def send_raw(self, values: Iterable[bytes]) -> None:
        for value in values:
            self.producer.send(self.topics["passages"], key=b"site-1/cam-1", value=value)
        self.producer.flush(30)

    def _consume(
        self, topic: str, done: Callable[[list[bytes]], bool], timeout: float
    ) -> list[bytes]:
        """Read `topic` from the start until `done(values)` or the timeout."""
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=1000,
        )
        values: list[bytes] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not done(values):
                for message in consumer:
                    values.append(message.value)
                    if done(values):
                        break
        finally:
            consumer.close()
        return values

    def violations(self, count: int, timeout: float = 60) -> list[Violation]:
        values = self._consume(self.topics["violations"], lambda v: len(v) >= count, timeout)
        return [decode_violation(v) for v in values]

    def violations_covering(self, passage_ids: set[object], timeout: float = 90) -> list[Violation]:
        """Read violations until every given passage id was seen (re-sends included)."""
        seen: set[object] = set()
        records: list[Violation] = []

        def done(values: list[bytes]) -> bool:
            for value in values[len(records) :]:
                record = decode_violation(value)
                records.append(record)
                seen.add(record.passage_id)
            return passage_ids <= seen

        self._consume(self.topics["violations"], done, timeout)
        return records

    def dead_letters(self, count: int, timeout: float = 60) -> list[DeadLetter]:
        values = self._consume(self.topics["dead"], lambda v: len(v) >= count, timeout)
        return [decode_dead_letter(v) for v in values]

    def metric(self, name: str, labels: str = "", worker: int = 0) -> float:
        """Sum of a metric's samples whose label text contains `labels`."""
        port = self.metrics_ports[worker]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? ([0-9.e+-]+)$", line)
            if match and labels in (match.group(1) or ""):
                total += float(match.group(2))
        return total

    def wait_for(self, check: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except OSError:
                pass  # metrics endpoint not up yet
            time.sleep(0.25)
        logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in self.tmp.glob("*.log"))
        raise AssertionError(f"timed out waiting for {what}\n{logs}")


def now() -> datetime:
    return datetime.now(UTC)


class RedisGate:
    """A TCP forwarder to Redis on a fixed loopback port that refuses connections until
    `open()`: workers pointed at it hold their batches (register unavailable) until then.
    With `delay_s`, every reply from Redis is held that long: a slow register link."""

    def __init__(self, upstream_port: int, delay_s: float = 0.0) -> None:
        self.port = free_port()
        self.upstream_port = upstream_port
        self.delay_s = delay_s
        self._server: socketserver.ThreadingTCPServer | None = None

    def open(self) -> None:
        upstream = self.upstream_port
        delay_s = self.delay_s

        class Pipe(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with socket.create_connection(("127.0.0.1", upstream)) as far:
                    near = self.request
                    threading.Thread(target=_copy, args=(far, near, delay_s), daemon=True).start()
                    _copy(near, far)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Pipe)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _copy(source: socket.socket, target: socket.socket, delay_s: float = 0.0) -> None:
    try:
        while data := source.recv(65536):
            if delay_s:
                time.sleep(delay_s)
            target.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


@pytest.fixture
def harness(
    broker: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[StreamHarness]:
    """A stream setup on the test's broker and Redis prefix, stopped after the test (import
    it into a conftest to use it by name)."""
    h = StreamHarness(broker, redis_url, redis_prefix, tmp_path)
    yield h
    h.stop()
