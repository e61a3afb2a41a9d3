"""Stream benchmark: one worker process deciding passages against a synthetic register.

Prefills an embedded Tansu broker with passage envelopes (95% compliant traffic drawn from a
synthetic RDW register loaded into Redis), starts `zes stream worker`, and measures decided
passages/s from the first decision to the last, for envelopes of 50 passages and of 1
passage. In the same run a raw aiokafka `getmany` loop reads the same topic and decodes the
envelopes (the ceiling). Then a steady offered load gives the decision lag (capture time to
decision) from the worker's histogram. Prints one JSON object as its last line.

    python -m benchmarks.stream [--vehicles 1000000] [--passages 300000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import redis
from aiokafka import AIOKafkaConsumer
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from enforcement.law import decide_plates
from enforcement.model import Outcome
from enforcement.records import Passage, decode_envelope, encode_envelope
from enforcement.register.redis_store import RedisRegister
from enforcement.register.report import LoadReport
from enforcement.register.synth import write_synthetic_rdw
from enforcement.zones import default_catalog
from zes.embedded import EmbeddedBroker, free_port

SECRET = "4be2a91d07c6f3e85a2d49b1c70e6f38d5a91c2e4b07f63a8d1e5c92b46f0a7d"  # 32 random bytes, hex


def metric_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? ([0-9.e+-]+)$", line)
        if match:
            total += float(match.group(2))
    return total


def histogram_quantile(text: str, name: str, q: float) -> float | None:
    """Prometheus-style linear interpolation inside the bucket holding the quantile."""
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        match = re.match(rf'^{re.escape(name)}_bucket\{{le="([^"]+)"\}} ([0-9.e+-]+)$', line)
        if match:
            bound = float("inf") if match.group(1) == "+Inf" else float(match.group(1))
            buckets.append((bound, float(match.group(2))))
    if not buckets or buckets[-1][1] == 0:
        return None
    buckets.sort()
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * ((rank - below) / max(count - below, 1e-9))
        lower, below = bound, count
    return None


class Bench:
    def __init__(self, bootstrap: str, redis_url: str, prefix: str, tmp: Path) -> None:
        self.bootstrap = bootstrap
        self.redis_url = redis_url
        self.prefix = prefix
        self.tmp = tmp
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap, acks=1, linger_ms=5, batch_size=1 << 20
        )

    def topic(self, name: str) -> str:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.create_topics([NewTopic(name, num_partitions=4, replication_factor=1)])
        finally:
            admin.close()
        return name

    def publish(self, topic: str, passages: list[Passage], per_envelope: int) -> float:
        started = time.perf_counter()
        for i in range(0, len(passages), per_envelope):
            chunk = passages[i : i + per_envelope]
            camera = f"cam-{i // per_envelope % 8}"
            body = encode_envelope(chunk, site_id="site-1", camera_id=camera)
            self.producer.send(topic, key=f"site-1/{camera}".encode(), value=body)
        self.producer.flush(120)
        return time.perf_counter() - started

    def worker(self, topic: str, tag: str) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        env = dict(os.environ)
        env.update(
            ZES_REDIS_URL=self.redis_url,
            ZES_REGISTER_PREFIX=self.prefix,
            ZES_HASH_SECRET=SECRET,
            ZES_STREAM_BROKER=f"kafka://{self.bootstrap}",
            ZES_STREAM_APP_ID=f"bench-{tag}-{uuid.uuid4().hex[:6]}",
            ZES_STREAM_PASSAGES_TOPIC=topic,
            ZES_STREAM_VIOLATIONS_TOPIC=f"{topic}-violations",
            ZES_STREAM_DEAD_LETTER_TOPIC=f"{topic}-dead",
            ZES_STREAM_METRICS_PORT=str(port),
        )
        log = (self.tmp / f"worker-{tag}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "zes", "stream", "worker"], env=env, stdout=log, stderr=log
        )
        return process, port

    def drain(self, topic: str, expected: int, tag: str, timeout: float) -> dict[str, float]:
        """Run a worker over a prefilled topic: passages/s from first to last decision."""
        process, port = self.worker(topic, tag)
        first_at: float | None = None
        decided = 0.0
        deadline = time.monotonic() + timeout
        text = ""
        try:
            while time.monotonic() < deadline:
                try:
                    text = metric_text(port)
                except OSError:
                    time.sleep(0.2)
                    continue
                decided = metric_sum(text, "zes_stream_passages_total")
                if decided > 0 and first_at is None:
                    first_at = time.perf_counter()
                if decided >= expected:
                    break
                time.sleep(0.02)
            last_at = time.perf_counter()
            rss = _peak_rss_mb(process.pid)
        finally:
            process.terminate()
            process.wait(30)
        seconds = last_at - (first_at or last_at)
        return {
            "decided": decided,
            "seconds": round(seconds, 2),
            "per_s": round(decided / seconds) if seconds > 0 else 0.0,
            "peak_rss_mb": rss,
        }


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


async def raw_read(bootstrap: str, topic: str, expected: int, timeout: float) -> float:
    """The ceiling: aiokafka getmany + envelope decode, no register, no law."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        max_partition_fetch_bytes=8 << 20,
    )
    await consumer.start()
    seen = 0
    first: float | None = None
    try:
        deadline = time.monotonic() + timeout
        while seen < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            for messages in batches.values():
                if first is None:
                    first = time.perf_counter()
                for message in messages:
                    seen += len(decode_envelope(message.value).passages)
        last = time.perf_counter()
    finally:
        await consumer.stop()
    return seen / (last - first) if first and last > first else 0.0


def traffic(register: RedisRegister, plates: list[str], count: int, seed: int) -> list[str]:
    """95% compliant, 5% violating or undetermined, judged by the law itself."""
    zone = default_catalog().resolve("Utrecht")
    rng = random.Random(seed)
    sample = rng.sample(plates, min(len(plates), 200_000))
    now = datetime.now(UTC)
    good: list[str] = []
    bad: list[str] = []
    for i in range(0, len(sample), 1000):
        chunk = sample[i : i + 1000]
        view = register.lookup(chunk)
        decisions = decide_plates(
            now, zone, chunk, view.vehicles, view.exemptions, read_confidence=0.97
        )
        for plate, decision in zip(chunk, decisions, strict=True):
            ok = decision.outcome in (Outcome.ALLOWED, Outcome.OUT_OF_SCOPE)
            (good if ok else bad).append(plate)
    return [rng.choice(good) if rng.random() < 0.95 else rng.choice(bad) for _ in range(count)]


def passages_for(plates: list[str], at: datetime | None = None) -> list[Passage]:
    return [
        Passage(
            passage_id=uuid.uuid4(),
            site_id="site-1",
            camera_id="cam-1",
            zone_id="utrecht",
            direction="entering",
            plate=p,
            plate_raw=p,
            confidence=0.97,
            seen_at=at or datetime.now(UTC),
        )
        for p in plates
    ]


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=1_000_000)
    parser.add_argument("--passages", type=int, default=300_000)
    parser.add_argument("--single", type=int, default=60_000, help="1-passage envelopes")
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=5000, help="offered passages/s for lag")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)

    client = redis.Redis.from_url(args.redis_url)
    prefix = f"zes-bench-stream-{uuid.uuid4().hex[:6]}"
    register = RedisRegister(client, prefix, secret=SECRET.encode())
    result: dict[str, object] = {"vehicles": args.vehicles}
    with tempfile.TemporaryDirectory(prefix="zes-bench-stream-") as tmp, EmbeddedBroker() as broker:
        work = Path(tmp)
        try:
            files = write_synthetic_rdw(work / "rdw", args.vehicles, seed=5, extras=False)
            register.replace_vehicles(files.read(LoadReport(), work_dir=work))
            plates = [v.plate for v in files.read(LoadReport(), work_dir=work)]
            mix = traffic(register, plates, args.passages, seed=1)
            bench = Bench(broker.bootstrap, args.redis_url, prefix, work)

            topic50 = bench.topic("bench-50")
            result["prefill_50_s"] = round(bench.publish(topic50, passages_for(mix), 50), 2)
            raw = asyncio.run(raw_read(broker.bootstrap, topic50, len(mix), 120))
            drained = bench.drain(topic50, len(mix), "50", timeout=600)
            result["passages_per_s"] = drained["per_s"]
            result["raw_read_per_s"] = round(raw)
            result["ratio"] = round(drained["per_s"] / raw, 3) if raw else None
            result["worker_50"] = drained

            single = mix[: args.single]
            topic1 = bench.topic("bench-1")
            result["prefill_1_s"] = round(bench.publish(topic1, passages_for(single), 1), 2)
            raw1 = asyncio.run(raw_read(broker.bootstrap, topic1, len(single), 120))
            drained1 = bench.drain(topic1, len(single), "1", timeout=600)
            result["passages_per_s_single"] = drained1["per_s"]
            result["raw_read_per_s_single"] = round(raw1)
            result["worker_1"] = drained1

            result.update(lag(bench, mix, args.rate, args.lag_seconds))
        finally:
            keys = list(client.scan_iter(match=f"{prefix}*", count=5000))
            for i in range(0, len(keys), 5000):
                client.unlink(*keys[i : i + 5000])
    result["goals"] = {
        "passages_per_s": 50_000,
        "ratio": 0.20,
        "passages_per_s_single": 10_000,
        "lag_p99_s": 0.5,
    }
    return result


def lag(bench: Bench, mix: list[str], rate: int, seconds: float) -> dict[str, object]:
    """Offer `rate` passages/s in envelopes of 10 for `seconds`; capture time = send time."""
    topic = bench.topic("bench-lag")
    process, port = bench.worker(topic, "lag")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait for the worker before offering load
            try:
                metric_text(port)
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(8)  # group join (about half the session timeout on Tansu)
        per_envelope = 10
        interval = per_envelope / rate
        sent = 0
        started = time.perf_counter()
        next_at = started
        while time.perf_counter() - started < seconds:
            chunk = mix[sent % len(mix) : sent % len(mix) + per_envelope]
            body = encode_envelope(passages_for(chunk), site_id="site-1", camera_id="cam-1")
            bench.producer.send(topic, key=b"site-1/cam-1", value=body)
            sent += len(chunk)
            next_at += interval
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        bench.producer.flush(30)
        offered = sent / (time.perf_counter() - started)
        deadline = time.monotonic() + 60
        text = metric_text(port)
        while metric_sum(text, "zes_stream_passages_total") < sent and time.monotonic() < deadline:
            time.sleep(0.2)
            text = metric_text(port)
    finally:
        process.terminate()
        process.wait(30)
    name = "zes_stream_decision_lag_seconds"
    p50 = histogram_quantile(text, name, 0.5)
    p99 = histogram_quantile(text, name, 0.99)
    return {
        "lag_offered_per_s": round(offered),
        "lag_p50_s": round(p50, 3) if p50 is not None else None,
        "lag_p99_s": round(p99, 3) if p99 is not None else None,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
