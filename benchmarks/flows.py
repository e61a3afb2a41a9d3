"""Flow statistics benchmark. Prints one JSON object as its last line.

- sink: `enforcement.flows.store.apply` of realistic flow batches into PostgreSQL (one
  transaction per 500 records, as the sink polls) vs. the baseline of plain batched INSERTs
  of the same hourly rows into an empty table of the same shape, in the same run (`ratio`);
- stream: the decider in-process on a real Redis register, the same batches with and without
  the flows topic: µs per passage each and the extra cost (`stream_loss`, the throughput lost);
- page: p95 of the Stromen page and of one chart for a year of hourly rows for 10 zones in
  PostgreSQL (in-process ASGI calls, no network), logged in as policy staff.
Targets (issue 16): stream loses < 3% throughput; page p95 < 200 ms.

    python -m benchmarks.flows [--zones 10] [--cells-per-hour 12] [--requests 60]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import statistics
import sys
import time
import uuid
import warnings
from typing import Any

import redis
import redis.asyncio
import sqlalchemy as sa

from benchmarks.enforcement import _postgres_database
from enforcement.casework.db import make_engine, migrate, session_factory
from enforcement.flows import store
from enforcement.flows.records import FlowBatch
from enforcement.model import Fuel, Vehicle
from enforcement.records import Passage, encode_envelope
from enforcement.register.redis import AsyncRedisRegister, RedisRegister
from enforcement.zones import default_catalog
from stream.decider import PassageDecider, RawRecord
from stream.flows import FlowTally
from stream.metrics import StreamMetrics

ZONES = ("utrecht", "amsterdam", "rotterdam", "den-haag", "arnhem", "maastricht", "groningen",
         "eindhoven", "haarlem", "tilburg")  # fmt: skip
KINDS = [
    (origin, cls, fuel, emission)
    for origin in ("nl", "foreign")
    for cls, fuel, emission in (
        ("van", "diesel", "6"), ("van", "diesel", "5"), ("van", "zero_emission", "Z"),
        ("van", "petrol", "6"), ("rigid", "diesel", "6"), ("tractor", "diesel", "6"),
        ("van", "hybrid", "6"), ("rigid", "zero_emission", "Z"),
    )
]  # fmt: skip
SECRET = b"benchmark-secret-0123456789abcdef"


def passage(plate: str, zone_id: str, seen_at: dt.datetime) -> Passage:
    return Passage(
        passage_id=uuid.uuid4(), site_id="site-1", camera_id="cam-1", zone_id=zone_id,
        direction="entering", plate=plate, plate_raw=plate, confidence=0.99, seen_at=seen_at,
    )  # fmt: skip


def _batches(count: int, per_batch: int, rng: random.Random) -> list[FlowBatch]:
    start = dt.datetime(2026, 3, 2, 6, tzinfo=dt.UTC)
    out = []
    offset = 0
    for i in range(count):
        tally = FlowTally()
        for _ in range(per_batch):
            hour = start + dt.timedelta(hours=(i * 7 + rng.randrange(3)) % 2000)
            for _ in range(rng.randrange(1, 6)):
                origin, cls, fuel, emission = rng.choice(KINDS)
                zone = rng.choice(ZONES)
                tally.add(
                    ("passages", i % 4, offset),
                    (
                        "zone",
                        zone,
                        hour,
                        "entering",
                        origin,
                        "allowed",
                        cls,
                        fuel,
                        emission,
                        "none",
                    ),
                )
            offset += 1
        out.extend(tally.batches("bench"))
    return out


def _sink(url: str, batches: list[FlowBatch], per_tx: int) -> tuple[float, int]:
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    cells = 0
    started = time.perf_counter()
    for i in range(0, len(batches), per_tx):
        with sessions.begin() as session:
            cells += store.apply(session, batches[i : i + per_tx], dt.datetime.now(dt.UTC)).cells
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds, cells


def _baseline(url: str, batches: list[FlowBatch], per_tx: int) -> float:
    """Plain batched INSERTs of one row per cell into a table of flow_hours' shape."""
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(
            "CREATE TABLE plain (scope text, scope_id text, hour timestamptz, direction text, "
            "origin text, outcome text, vehicle_class text, fuel_group text, "
            "emission_class text, win text, count bigint)"
        ))  # fmt: skip
    insert = sa.text("INSERT INTO plain VALUES (:a, :b, :c, :d, :e, :f, :g, :h, :i, :j, :k)")
    started = time.perf_counter()
    for i in range(0, len(batches), per_tx):
        rows = [
            dict(zip("abcdefghij", (c.scope, c.scope_id, c.hour, c.direction, c.origin,
                c.outcome, c.vehicle_class, c.fuel_group, c.emission_class, c.window),
                strict=True)) | {"k": c.count}
            for b in batches[i : i + per_tx] for e in b.entries for c in e.cells
        ]  # fmt: skip
        with engine.begin() as connection:
            connection.execute(insert, rows)
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


def _stream(redis_url: str, envelopes: int, per_envelope: int, rounds: int) -> dict[str, float]:
    """µs per passage in the decider, without and with the flows topic, interleaved rounds."""
    prefix = f"zes-bench-flows-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    rng = random.Random(5)
    plates = [f"V{i:05d}X" for i in range(5000)]
    vehicles = [
        Vehicle(p, "Bedrijfsauto", 2800, first_admission=dt.date(2020, 2, 1),
                fuels=(Fuel("Elektriciteit" if i % 3 else "Diesel", None if i % 3 else "6"),))
        for i, p in enumerate(plates)
    ]  # fmt: skip
    RedisRegister(client, prefix, secret=SECRET).replace_vehicles(vehicles)
    now = dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)
    records = [
        RawRecord(
            encode_envelope(
                [passage(rng.choice(plates), "utrecht", now) for _ in range(per_envelope)],
                site_id="s", camera_id="c",
            ),
            "passages", 0, i,
        )
        for i in range(envelopes)
    ]  # fmt: skip

    async def run() -> dict[str, list[float]]:
        aclient = redis.asyncio.Redis.from_url(redis_url)
        register = AsyncRedisRegister(aclient, prefix, secret=SECRET)
        deciders = {
            name: PassageDecider(
                register, default_catalog(), StreamMetrics(), violations_topic="v",
                dead_letter_topic="d", flows_topic=topic, worker_id="bench",
            )
            for name, topic in (("without", None), ("with", "flows"))
        }  # fmt: skip
        times: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(rounds):
            for name, decider in deciders.items():
                started = time.perf_counter()
                for i in range(0, len(records), 100):
                    await decider.process(records[i : i + 100])
                times[name].append(time.perf_counter() - started)
        await aclient.aclose()
        return times

    times = asyncio.run(run())
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)
    passages = envelopes * per_envelope
    without = statistics.median(times["without"]) / passages * 1e6
    with_flows = statistics.median(times["with"]) / passages * 1e6
    return {
        "stream_us_per_passage_without_flows": round(without, 2),
        "stream_us_per_passage_with_flows": round(with_flows, 2),
        "stream_extra_us_per_passage": round(with_flows - without, 2),
        "stream_loss": round(1 - without / with_flows, 4),
    }


def _fill_year(url: str, zones: int, cells_per_hour: int) -> dict[str, Any]:
    """A year of hourly rows for `zones` zones by SQL, and their daily sums."""
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                """
                INSERT INTO flow_hours (scope, scope_id, hour, local_date, local_hour, weekday,
                  direction, origin, outcome, vehicle_class, fuel_group, emission_class,
                  "window", count)
                SELECT 'zone', (CAST(:zones AS text[]))[1 + z], h,
                  (h AT TIME ZONE 'Europe/Amsterdam')::date,
                  extract(hour FROM h AT TIME ZONE 'Europe/Amsterdam')::int,
                  extract(isodow FROM h AT TIME ZONE 'Europe/Amsterdam')::int,
                  'entering', (ARRAY['nl','foreign'])[1 + k % 2], 'allowed',
                  (ARRAY['van','rigid','tractor'])[1 + (k / 2) % 3],
                  (ARRAY['diesel','zero_emission','petrol','hybrid','gas'])[1 + (k / 6) % 5],
                  (ARRAY['6','5','Z'])[1 + (k / 30) % 3], 'none', 1 + (k * 7 + z) % 40
                FROM generate_series(0, :nz - 1) z,
                  generate_series(timestamptz '2025-01-01 00:00+00',
                                  timestamptz '2025-12-31 23:00+00', interval '1 hour') h,
                  generate_series(0, :k - 1) k
                """
            ),
            {"zones": list(ZONES[:zones]), "nz": zones, "k": cells_per_hour},
        )
        connection.execute(
            sa.text(
                """
                INSERT INTO flow_days (scope, scope_id, local_date, direction, origin, outcome,
                  vehicle_class, fuel_group, emission_class, "window", count)
                SELECT scope, scope_id, local_date, direction, origin, outcome, vehicle_class,
                  fuel_group, emission_class, "window", sum(count)
                FROM flow_hours GROUP BY scope, scope_id, local_date, direction, origin, outcome,
                  vehicle_class, fuel_group, emission_class, "window"
                """
            )
        )
        connection.execute(
            sa.text(
                """
                INSERT INTO flow_day_hours (scope, scope_id, local_date, local_hour, direction,
                  count)
                SELECT scope, scope_id, local_date, local_hour, direction, sum(count)
                FROM flow_hours GROUP BY scope, scope_id, local_date, local_hour, direction
                """
            )
        )
        hours = connection.scalar(sa.text("SELECT count(*) FROM flow_hours"))
        days = connection.scalar(sa.text("SELECT count(*) FROM flow_days"))
        connection.execute(sa.text("ANALYZE flow_hours"))
        connection.execute(sa.text("ANALYZE flow_days"))
        connection.execute(sa.text("ANALYZE flow_day_hours"))
    engine.dispose()
    return {
        "hour_rows": int(hours or 0),
        "day_rows": int(days or 0),
        "fill_seconds": round(time.perf_counter() - started, 1),
    }


def _p95(samples: list[float]) -> float:
    return round(statistics.quantiles(samples, n=20)[-1] * 1000, 2)


def _pages(url: str, requests: int) -> dict[str, float]:
    from enforcement.casework.accounts import add_user
    from enforcement.casework.recheck import rechecker_from
    from enforcement.casework.settings import CaseSettings
    from enforcement.settings import Settings
    from enforcement.web.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    engine = make_engine(url)
    audit_key = CaseSettings(_env_file=None).audit_hmac_key()
    with session_factory(engine, audit_key=audit_key).begin() as session:
        add_user(
            session, "policy", "benchmark password", "policy", actor="bench",
            all_municipalities=True,  # regional policy staff: every zone (tenancy)
        )  # fmt: skip
    settings = Settings(_env_file=None, register_prefix=f"zes-bench-{uuid.uuid4().hex[:8]}")
    cases = CaseSettings(_env_file=None, review_metrics_port=0)
    app = create_app(
        settings, cases, engine=engine, rechecker=rechecker_from(settings),
        clock=lambda: dt.datetime(2025, 12, 31, 12, tzinfo=dt.UTC),
    )  # fmt: skip
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    token = client.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = client.post(
        "/login",
        data={"csrf_token": token, "username": "policy", "password": "benchmark password"},
    )
    assert answer.status_code == 303, answer.text[:300]
    rng = random.Random(3)

    def timed(path: str) -> float:
        app.state.flow_tables = {}  # cold: no page view's cached tables (routes.flows)
        started = time.perf_counter()
        response = client.get(path)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, (path, response.status_code, response.text[:200])
        return elapsed

    def page() -> str:
        return f"/flows?zone={rng.choice(ZONES)}&period=year&on=2025-06-01"

    for _ in range(3):
        timed(page())
    year_page = [timed(page()) for _ in range(requests)]
    month_page = [
        timed(f"/flows?zone={rng.choice(ZONES)}&period=month&on=2025-06-01")
        for _ in range(requests)
    ]
    chart = [
        timed(f"/flows/chart/vehicle_class.svg?zone={rng.choice(ZONES)}&period=year&on=2025-06-01")
        for _ in range(requests)
    ]
    api = [
        timed(f"/api/v1/flows?zone={rng.choice(ZONES)}&from=2025-01-01&to=2025-12-31")
        for _ in range(max(10, requests // 3))
    ]
    engine.dispose()
    return {
        "page_year_p95_ms": _p95(year_page),
        "page_month_p95_ms": _p95(month_page),
        "chart_year_p95_ms": _p95(chart),
        "open_data_year_p95_ms": _p95(api),
        "page_requests": requests,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--zones", type=int, default=10)
    parser.add_argument("--cells-per-hour", type=int, default=12)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--batches", type=int, default=2000, help="flow batches for the sink")
    parser.add_argument("--envelopes", type=int, default=400, help="per stream round")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args(argv)
    result: dict[str, object] = {}
    batches = _batches(args.batches, 50, random.Random(11))
    with _postgres_database(args.postgres_url) as url:
        seconds, cells = _sink(url, batches, 500)
    with _postgres_database(args.postgres_url) as url:
        migrate(url)
        baseline = _baseline(url, batches, 500)
    result.update(
        sink_batches=len(batches),
        sink_cells=cells,
        sink_cells_per_s=round(cells / seconds, 1),
        baseline_rows_per_s=round(cells / baseline, 1),
        sink_ratio=round(baseline / seconds, 3),
    )
    result.update(_stream(args.redis_url, args.envelopes, 50, 5))
    with _postgres_database(args.postgres_url) as url:
        migrate(url)
        result.update(_fill_year(url, args.zones, args.cells_per_hour))
        result.update(_pages(url, args.requests))
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
