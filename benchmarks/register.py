"""Register benchmark: load N synthetic RDW vehicles into Redis, look them up in batches,
decide them with the law, and measure Redis memory. Prints one JSON object as its last line.

Every figure comes with a baseline measured in the same run on the same data, and the ratio:
- load: the whole loader (parse RDW CSV, join fuel/body files, pack, MSET a new generation
  of buckets, flip) vs. the ceiling of MSET-ing the already encoded buckets; also the
  register's own part (`replace_vehicles` from vehicles already in memory);
- memory: Redis bytes per million vehicles in layout 2 vs. layout 1 (one key per plate,
  `encode_vehicle`) written in the same run;
- lookup: `RedisRegister.lookup` (vehicles + exemptions, one round trip, decoded) vs. the
  ceiling of sending the very same commands (bucket keys computed beforehand) and reading
  the raw replies, with no decoding;
- decode: CPU µs to build one Vehicle from its packed record (best of 5 over 50k);
- decide: the pure law over looked-up vehicles (reported; no baseline is meaningful).
Goals (issue 15): load >= 150k rows/s, <= 80 MB per million vehicles, lookups >= 500k
plates/s and >= 0.8 of the ceiling. Not assertions: figures.

    python -m benchmarks.register [--vehicles 1000000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import hiredis
import redis

from enforcement.demo.fleet import write_synthetic_rdw
from enforcement.law import decide_plates
from enforcement.model import LOCAL_TZ, Exemption
from enforcement.register.redis import RedisRegister
from enforcement.register.redis.codec import VehicleTables, bucket_of, encode_vehicle
from enforcement.register.report import LoadReport
from enforcement.zones import default_catalog


def _used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def _drop(client: redis.Redis, pattern: str) -> None:
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            client.unlink(*batch)
            batch.clear()
    if batch:
        client.unlink(*batch)


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="per lookup measurement")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)

    client = redis.Redis.from_url(args.redis_url)
    prefix = f"zes-bench-{uuid.uuid4().hex[:8]}"
    register = RedisRegister(client, prefix, secret=b"benchmark-secret-0123456789")
    result: dict[str, object] = {"vehicles": args.vehicles, "batch": args.batch}
    with tempfile.TemporaryDirectory(prefix="zes-bench-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        files = write_synthetic_rdw(work / "rdw", args.vehicles, seed=7)
        result["synth_s"] = round(time.perf_counter() - started, 2)
        try:
            memory_before = _used_memory(client)
            report = LoadReport()
            started = time.perf_counter()
            loaded = register.replace_vehicles(files.read(report, work_dir=work))
            load_s = time.perf_counter() - started
            memory_after = _used_memory(client)
            result["loaded"] = loaded
            result["skipped_rows"] = report.skipped
            result["load_rows_per_s"] = round(loaded / load_s)
            result["load_file_rows_read"] = report.rows_read
            result["load_file_rows_per_s"] = round(report.rows_read / load_s)

            layout_2_per_million = (memory_after - memory_before) / loaded * 1_000_000
            result["redis_bytes_per_million_vehicles"] = round(layout_2_per_million)

            # The plates and vehicles, for the baselines and the lookups.
            vehicles = list(files.read(LoadReport(), work_dir=work))
            plates = [v.plate for v in vehicles]
            started = time.perf_counter()
            register.replace_vehicles(vehicles)
            result["load_from_memory_per_s"] = round(
                len(vehicles) / (time.perf_counter() - started)
            )

            # Ceiling: MSET of the buckets, already encoded, as the load writes them.
            cur = client.get(f"{{{prefix}:veh}}:cur")
            assert isinstance(cur, bytes), "the load did not publish a generation"
            data = f"{{{prefix}:veh}}:{cur.decode()}:"
            bucket_keys = list(client.scan_iter(match=f"{data}*", count=5000))
            stored: list[tuple[bytes, bytes]] = [
                (key, value)
                for i in range(0, len(bucket_keys), 5000)
                for key, value in zip(
                    bucket_keys[i : i + 5000], client.mget(bucket_keys[i : i + 5000]), strict=True
                )
                if isinstance(value, bytes)
            ]
            ceiling_prefix = f"{{{prefix}:ceiling}}"
            started = time.perf_counter()
            for i in range(0, len(stored), 500):
                client.mset({ceiling_prefix + k.decode(): v for k, v in stored[i : i + 500]})
            ceiling_rate = len(vehicles) / (time.perf_counter() - started)
            result["load_ceiling_mset_per_s"] = round(ceiling_rate)
            result["load_ratio"] = round(loaded / load_s / ceiling_rate, 3)
            _drop(client, f"{ceiling_prefix}*")

            # Layout 1 in the same run: one key per plate, for the memory comparison.
            sample = vehicles[:200_000]
            before = _used_memory(client)
            for i in range(0, len(sample), 5000):
                client.mset(
                    {f"{prefix}:layout1:{v.plate}": encode_vehicle(v) for v in sample[i : i + 5000]}
                )
            layout_1 = (_used_memory(client) - before) / len(sample) * 1_000_000
            _drop(client, f"{prefix}:layout1:*")
            result["layout_1_bytes_per_million_vehicles"] = round(layout_1)
            result["memory_ratio_to_layout_1"] = round(layout_2_per_million / layout_1, 3)

            rng = random.Random(11)
            now = datetime.now(UTC)
            # 2% of the plates hold a day permit for today (the exemption MGET finds some).
            today = now.astimezone(LOCAL_TZ).date()
            register.replace_exemptions(
                Exemption.day_permit(p, "Utrecht", today)
                for p in rng.sample(plates, len(plates) // 50)
            )
            batches = [
                [
                    rng.choice(plates) if rng.random() < 0.97 else f"XX{rng.randrange(10**4)}"
                    for _ in range(args.batch)
                ]
                for _ in range(200)
            ]

            def measure(work_fn: Callable[[list[str]], object]) -> float:
                done = 0
                seconds = float(args.seconds)
                deadline = time.perf_counter() + seconds
                started = time.perf_counter()
                while time.perf_counter() < deadline:
                    work_fn(batches[done % len(batches)])
                    done += 1
                return done * len(batches[0]) / (time.perf_counter() - started)

            register.lookup(plates[:1])  # learn the generations
            cur = client.get(f"{{{prefix}:veh}}:cur")
            exm_cur = client.get(f"{{{prefix}:exm}}:cur") or b"0"
            assert isinstance(cur, bytes) and isinstance(exm_cur, bytes)
            data = f"{{{prefix}:veh}}:{cur.decode()}:"
            meta = client.get(data + "meta")
            assert isinstance(meta, bytes), "the generation has no meta"
            count = VehicleTables.from_meta(meta).buckets
            exm = f"{{{prefix}:exm}}:{exm_cur.decode()}:"
            pointers = (("GET", f"{{{prefix}:veh}}:cur"), ("GET", f"{{{prefix}:exm}}:cur"))
            # The keys are computed beforehand: the ceiling is Redis and the wire only.
            commands: dict[int, list[tuple[str, ...]]] = {
                id(batch): [
                    ("MGET", *[f"{data}{bucket_of(p.encode(), count)}" for p in batch]),
                    ("MGET", *[exm + p for p in batch]),
                    *pointers,
                ]
                for batch in batches
            }
            conn: Any = client.connection_pool.get_connection()

            def raw_mget(batch: list[str]) -> None:
                # hiredis accepts any tuple of str, bytes, int and float (its stub says a 1-tuple).
                packed = [hiredis.pack_command(cast(Any, c)) for c in commands[id(batch)]]
                conn.send_packed_command(packed)
                for _ in range(4):
                    conn.read_response()

            ceiling = measure(raw_mget)
            client.connection_pool.release(conn)
            cold = RedisRegister(
                client, prefix, secret=b"benchmark-secret-0123456789", vehicle_cache_size=0
            )
            uncached = measure(lambda b: cold.lookup(b))
            warm = measure(lambda b: register.lookup(b))

            def decoded(batch: list[str]) -> None:
                found = register.lookup(batch).vehicles
                for plate in batch:
                    found.get(plate)

            every = measure(decoded)
            result["lookup_ceiling_raw_mget_per_s"] = round(ceiling)
            result["lookup_uncached_per_s"] = round(uncached)
            result["lookup_per_s"] = round(warm)
            result["lookup_ratio"] = round(warm / ceiling, 3)
            # Every found vehicle built too (lookups decode on access; the stream builds
            # the vehicles of the passages it decides).
            result["lookup_decoded_per_s"] = round(every)
            result["lookup_decoded_ratio"] = round(every / ceiling, 3)

            # The decode alone, in CPU time (robust to the neighbours on a shared machine):
            # the packed record of a vehicle to a Vehicle, as a cold lookup does per plate.
            tables = VehicleTables()
            records = [(v.plate, tables.pack(v)) for v in vehicles[:50_000]]
            tables = VehicleTables.from_meta(tables.meta(1))
            best = float("inf")
            for _ in range(5):
                cpu = time.process_time()
                for plate, record in records:
                    tables.unpack(plate, record)
                best = min(best, (time.process_time() - cpu) / len(records))
            result["decode_us_per_vehicle"] = round(best * 1e6, 3)

            zone = default_catalog().resolve("Utrecht")
            views = [(b, register.lookup(b)) for b in batches[:50]]
            decided = 0
            started = time.perf_counter()
            outcomes: dict[str, int] = {}
            for batch, view in views:
                for decision in decide_plates(
                    now, zone, batch, view.vehicles, view.exemptions, read_confidence=0.97
                ):
                    outcomes[decision.outcome.value] = outcomes.get(decision.outcome.value, 0) + 1
                    decided += 1
            result["decisions_per_s"] = round(decided / (time.perf_counter() - started))
            result["decision_outcomes"] = outcomes
        finally:
            _drop(client, f"{prefix}:*")
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result["goals"] = {
        "load_rows_per_s": 150_000,
        "redis_bytes_per_million_vehicles": 80_000_000,
        "lookup_per_s": 500_000,
        "lookup_ratio": 0.8,
    }
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
