"""Stream benchmark: one worker process deciding passages against a synthetic register.

Prefills an embedded Tansu broker with passage envelopes (95% compliant traffic drawn from a
synthetic RDW register loaded into Redis), starts `zes stream worker`, and measures decided
passages/s from the first decision to the last, for envelopes of 50 passages and of 1
passage. In the same run a raw aiokafka `getmany` loop reads the same topic and decodes the
envelopes (the ceiling). Then a steady offered load gives the decision lag (capture time to
decision) from the worker's histogram. Before the broker runs, the decider alone
(`decider_us_per_passage`: CPU per passage in this process, envelopes of 50 against the real
Redis register; the same with the memo off; `memo_hit_rate`), and after the single worker two
workers of one consumer group on the 4 partitions (`scale_out`, passages/s together).
Prints one JSON object as its last line.

    python -m benchmarks.stream [--vehicles 1000000] [--passages 300000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
import redis.asyncio
from aiokafka import AIOKafkaConsumer
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from enforcement.demo.fleet import write_synthetic_rdw
from enforcement.law import decide_plates
from enforcement.model import Outcome
from enforcement.records import (
    ENVELOPE_ROWS_VERSION,
    Passage,
    decode_envelope,
    encode_envelope,
)
from enforcement.register.redis import AsyncRedisRegister, RedisRegister
from enforcement.register.report import LoadReport
from enforcement.zones import default_catalog
from stream.app import tune_gc
from stream.decider import PassageDecider, RawRecord
from stream.memo import QuietDecisions
from stream.metrics import StreamMetrics
from stream.settings import StreamSettings
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
            body = encode_envelope(
                chunk, site_id="site-1", camera_id=camera, version=ENVELOPE_ROWS_VERSION
            )
            self.producer.send(topic, key=f"site-1/{camera}".encode(), value=body)
        self.producer.flush(120)
        return time.perf_counter() - started

    def worker(
        self, topic: str, tag: str, app_id: str | None = None
    ) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        env = dict(os.environ)
        env.update(
            ZES_REDIS_URL=self.redis_url,
            ZES_REGISTER_PREFIX=self.prefix,
            ZES_HASH_SECRET=SECRET,
            ZES_STREAM_BROKER=f"kafka://{self.bootstrap}",
            ZES_STREAM_APP_ID=app_id or f"bench-{tag}-{uuid.uuid4().hex[:6]}",
            ZES_STREAM_PASSAGES_TOPIC=topic,
            ZES_STREAM_VIOLATIONS_TOPIC=f"{topic}-violations",
            ZES_STREAM_DEAD_LETTER_TOPIC=f"{topic}-dead",
            ZES_STREAM_METRICS_PORT=str(port),
        )
        log = (self.tmp / f"worker-{tag}-{port}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "zes", "stream", "worker"], env=env, stdout=log, stderr=log
        )
        return process, port

    def drain(
        self, topic: str, expected: int, tag: str, timeout: float, workers: int = 1
    ) -> dict[str, float]:
        """Run workers (one consumer group) over a prefilled topic: passages/s from the first
        to the last decision, all workers together."""
        app_id = f"bench-{tag}-{uuid.uuid4().hex[:6]}"
        started = [self.worker(topic, tag, app_id) for _ in range(workers)]
        first_at: float | None = None
        decided = 0.0
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    decided = sum(
                        metric_sum(metric_text(port), "zes_stream_passages_total")
                        for _, port in started
                    )
                except OSError:
                    time.sleep(0.2)
                    continue
                if decided > 0 and first_at is None:
                    first_at = time.perf_counter()
                if decided >= expected:
                    break
                time.sleep(0.02)
            last_at = time.perf_counter()
            rss = max(_peak_rss_mb(process.pid) for process, _ in started)
        finally:
            for process, _ in started:
                process.terminate()
            for process, _ in started:
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


@dataclass(frozen=True)
class DeciderStep:
    """One configuration of the in-process decider run: what a step of the work changed."""

    name: str
    envelope_version: int
    memo_kinds: int
    tune_gc: bool


#: Each step adds one change to the one before; the last is the worker's configuration.
DECIDER_STEPS = (
    DeciderStep("staged batch, envelopes v1, memo off, default gc", 1, 0, False),
    DeciderStep("+ gc tuned (freeze, gen0 50k)", 1, 0, True),
    DeciderStep("+ envelopes v2 (rows)", ENVELOPE_ROWS_VERSION, 0, True),
    DeciderStep("+ memo per kind of vehicle (worker default)", ENVELOPE_ROWS_VERSION, 50_000, True),
)


def decider_in_process(
    redis_url: str,
    prefix: str,
    mix: list[str],
    per_envelope: int = 50,
    take: int = 100,
    steps: Sequence[DeciderStep] = DECIDER_STEPS,
) -> dict[str, object]:
    """The decider alone: envelopes decoded and decided in batches of `take` records as the
    worker takes them, against the real Redis register, no broker; once per step, the last
    step being the worker's configuration. Each step runs the mix twice on one decider:
    `cold_us_per_passage` is the first pass (register cache and memo empty),
    `us_per_passage` the second (a worker some minutes into its day: the kinds of vehicle
    and the plates have been seen before)."""

    async def go(step: DeciderStep, memo: QuietDecisions) -> list[tuple[float, float, int]]:
        client = redis.asyncio.Redis.from_url(redis_url)
        register = AsyncRedisRegister(client, prefix, secret=SECRET.encode())
        decider = PassageDecider(
            register,
            default_catalog(),
            StreamMetrics(),
            violations_topic="v",
            dead_letter_topic="d",
            memo=memo,
        )
        records = [
            RawRecord(
                encode_envelope(
                    passages_for(mix[i : i + per_envelope]),
                    site_id="s",
                    camera_id="c",
                    version=step.envelope_version,
                ),
                "passages",
                0,
                i,
            )
            for i in range(0, len(mix), per_envelope)
        ]
        try:
            await decider.process(records[:take])  # warm: connections, scripts
            passes: list[tuple[float, float, int]] = []
            for _ in range(2):  # cold: caches and memo empty; warm: a worker after a while
                started, cpu = time.perf_counter(), time.process_time()
                decided = 0
                for i in range(0, len(records), take):
                    decided += (await decider.process(records[i : i + take])).decided
                passes.append((time.perf_counter() - started, time.process_time() - cpu, decided))
            return passes
        finally:
            await client.aclose()

    thresholds = gc.get_threshold()
    table: list[dict[str, object]] = []
    result: dict[str, object] = {}
    for step in steps:
        gc.collect()
        if step.tune_gc:
            tune_gc(StreamSettings().gc_gen0_threshold)  # as the worker does
        else:
            gc.unfreeze()
            gc.set_threshold(*thresholds)
        memo = QuietDecisions(step.memo_kinds)
        (_, cold_cpu, decided), (wall, cpu, _) = asyncio.run(go(step, memo))
        # CPU time of this process per passage: on a shared machine wall time measures the
        # neighbours (Redis's own work is not in it; the lookup's wait is in the wall figure).
        us = round(cpu / decided * 1e6, 2)
        cold = round(cold_cpu / decided * 1e6, 2)
        table.append({"step": step.name, "us_per_passage": us, "cold_us_per_passage": cold})
        result = {
            "decider_us_per_passage": us,
            "decider_cold_us_per_passage": cold,
            "decider_wall_us_per_passage": round(wall / decided * 1e6, 2),
            "memo_hit_rate": round(memo.hit_rate, 3),
            "memo_kinds": len(memo),
        }
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    first = table[0]["us_per_passage"]
    for row in table:
        row["ratio_to_first"] = round(float(row["us_per_passage"]) / float(first), 3)  # type: ignore[arg-type]
    result["decider_steps"] = table
    return result


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=1_000_000)
    parser.add_argument("--passages", type=int, default=300_000)
    parser.add_argument("--single", type=int, default=60_000, help="1-passage envelopes")
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=5000, help="offered passages/s for lag")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--decider", type=int, default=100_000, help="in-process passages")
    parser.add_argument(
        "--scale-out",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="two workers on 4 partitions",
    )
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
            result.update(decider_in_process(args.redis_url, prefix, mix[: args.decider]))
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

            if args.scale_out:
                topic2 = bench.topic("bench-scale")
                bench.publish(topic2, passages_for(mix), 50)
                both = bench.drain(topic2, len(mix), "scale", timeout=600, workers=2)
                result["scale_out"] = both["per_s"]
                result["scale_out_ratio_to_one"] = (
                    round(both["per_s"] / drained["per_s"], 2) if drained["per_s"] else None
                )

            result.update(lag(bench, mix, args.rate, args.lag_seconds))
        finally:
            keys = list(client.scan_iter(match=f"{prefix}*", count=5000))
            for i in range(0, len(keys), 5000):
                client.unlink(*keys[i : i + 5000])
    result["goals"] = {
        "decider_us_per_passage": 8,
        "passages_per_s": 45_000,
        "ratio": 0.10,
        "passages_per_s_single": 8_000,
        "lag_p99_s": 0.25,
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
            body = encode_envelope(
                passages_for(chunk),
                site_id="site-1",
                camera_id="cam-1",
                version=ENVELOPE_ROWS_VERSION,
            )
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
