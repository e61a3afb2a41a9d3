"""The stream worker with real parts: Tansu broker, Redis, worker processes."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
import redis

from enforcement.demo.fleet import synthetic_plates
from enforcement.model import LOCAL_TZ, Exemption, Fuel, Vehicle
from enforcement.register.redis import RedisRegister
from enforcement.scenarios import Scenario, read_scenarios
from enforcement.zones import default_catalog
from tests.stream.harness import SECRET, StreamHarness, now, passage
from zes.embedded import free_port, wait_for_port

pytestmark = [pytest.mark.broker, pytest.mark.redis, pytest.mark.slow]

ZONES = default_catalog()


def register_for(h: StreamHarness, url: str | None = None) -> RedisRegister:
    return RedisRegister(redis.Redis.from_url(url or h.redis_url), h.prefix, secret=SECRET.encode())


def diesel_van(plate: str) -> Vehicle:
    return Vehicle(
        plate, "Bedrijfsauto", 2800, first_admission=date(2008, 2, 1), fuels=(Fuel("Diesel", "4"),)
    )


def electric_van(plate: str) -> Vehicle:
    return Vehicle(
        plate,
        "Bedrijfsauto",
        2800,
        first_admission=date(2020, 2, 1),
        fuels=(Fuel("Elektriciteit"),),
    )


def processed(h: StreamHarness, count: int, worker: int = 0) -> bool:
    return h.metric("zes_stream_passages_total", worker=worker) >= count


@pytest.mark.shared
def test_dev_cases_through_the_worker(
    harness: StreamHarness, shared_dir: Path, redis_client: redis.Redis
) -> None:
    """The dev decision cases as register entries plus passages: exactly the expected
    violations and undetermined records arrive, and allowed passages leave no trace."""
    cases = [
        s
        for s in read_scenarios(shared_dir / "domain" / "ze-scenarios-dev.csv")
        if isinstance(s, Scenario) and not s.facts.priority_incident  # R20: no camera fact
    ]
    plates = synthetic_plates(len(cases), seed=3)
    vehicles: list[Vehicle] = []
    exemptions: list[Exemption] = []
    passages = []
    expected: dict[str, str] = {}
    day_permit_allowed = 0
    for case, plate in zip(cases, plates, strict=True):
        if case.vehicle is not None:
            vehicles.append(msgspec.structs.replace(case.vehicle, plate=plate))
        exemptions.extend(dataclasses.replace(e, plate=plate) for e in case.exemptions)
        p = passage(plate, ZONES.resolve(case.zone).id, case.at, country=case.facts.country)
        passages.append(p)
        if case.expected in ("violation", "undetermined"):
            expected[str(p.passage_id)] = case.expected
        elif case.exemptions and case.exemptions[0].type == "dagontheffing":
            day_permit_allowed += case.expected == "allowed"
    register = register_for(harness)
    register.replace_vehicles(vehicles)
    register.replace_exemptions(exemptions)
    keys_before = set(redis_client.scan_iter(match=f"{harness.prefix}*"))

    harness.start_worker()
    harness.send_passages(passages, per_envelope=7)
    harness.wait_for(lambda: processed(harness, len(passages)), what="all passages decided")
    records = harness.violations(len(expected), timeout=30)
    got = {str(r.passage_id): r.decision for r in records}
    assert got == expected
    assert all(r.first_sighting for r in records)

    new_keys = set(redis_client.scan_iter(match=f"{harness.prefix}*")) - keys_before
    case_keys = {k for k in new_keys if b":case:" in k}
    permit_keys = {k for k in new_keys if b":dp:" in k}
    assert new_keys == case_keys | permit_keys, new_keys - case_keys - permit_keys
    assert len(case_keys) == len(expected)
    assert len(permit_keys) == day_permit_allowed
    assert not any(plate.encode() in key for key in new_keys for plate in plates)
    assert harness.metric("zes_stream_passages_total", 'outcome="allowed"') == sum(
        c.expected == "allowed" for c in cases
    )


def test_malformed_records_are_dead_lettered_and_good_ones_decided(
    harness: StreamHarness,
) -> None:
    plates = synthetic_plates(40, seed=5)
    register_for(harness).replace_vehicles(diesel_van(p) for p in plates)
    harness.start_worker()
    good = [passage(p, "utrecht", now()) for p in plates]
    garbage = [f"not an envelope {i}".encode() if i % 2 else b"{}" for i in range(1000)]
    mixed: list[bytes] = []
    from enforcement.records import encode_envelope

    for i, value in enumerate(garbage):
        mixed.append(value)
        if i % 25 == 0:
            chunk = good[i // 25 : i // 25 + 1]
            mixed.append(encode_envelope(chunk, site_id="site-1", camera_id="cam-1"))
    harness.send_raw(mixed)
    letters = harness.dead_letters(1000, timeout=90)
    assert len(letters) == 1000
    assert all("malformed envelope" in letter.error for letter in letters)
    assert {letter.payload for letter in letters} <= set(garbage)
    records = harness.violations(40, timeout=60)
    assert {r.passage_id for r in records} == {p.passage_id for p in good}


def test_dedup_across_two_workers_and_sanction_interval(
    harness: StreamHarness, tmp_path: Path
) -> None:
    law = tmp_path / "law.toml"
    law.write_text(
        '[[zones]]\nname = "Utrecht"\nstart = 2025-01-01\nsanction_interval_hours = 48\n',
        encoding="utf-8",
    )
    harness.law_file = law
    plates = synthetic_plates(20, seed=9)
    register_for(harness).replace_vehicles(diesel_van(p) for p in plates)
    day1 = datetime(2026, 3, 10, 9, 0, tzinfo=LOCAL_TZ)
    passages = []
    for plate in plates:
        for hours in (0, 1, 5, 30):  # 30 h later: the next calendar day
            passages.append(passage(plate, "utrecht", day1 + timedelta(hours=hours)))
            passages.append(passage(plate, "rotterdam", day1 + timedelta(hours=hours)))
    harness.start_worker()
    harness.start_worker()
    harness.send_passages(passages, per_envelope=4)
    records = harness.violations(len(passages), timeout=90)
    assert len({r.passage_id for r in records}) == len(passages)
    first = [r for r in records if r.first_sighting]
    utrecht = [r for r in first if r.zone_id == "utrecht"]
    rotterdam = [r for r in first if r.zone_id == "rotterdam"]
    assert len(utrecht) == len(plates)  # 48 h: one case per plate for both days
    assert len(rotterdam) == 2 * len(plates)  # 24 h: one case per plate per local day
    assert len({r.case_key for r in records if r.zone_id == "utrecht"}) == len(plates)


def test_day_permits_are_counted_and_the_13th_day_is_refused(harness: StreamHarness) -> None:
    plate = synthetic_plates(1, seed=11)[0]
    register = register_for(harness)
    register.replace_vehicles([diesel_van(plate)])
    days = [date(2026, 3, 2) + timedelta(days=i) for i in range(13)]
    register.replace_exemptions(Exemption.day_permit(plate, "Utrecht", d) for d in days)
    harness.start_worker()
    passages = [
        passage(
            plate,
            "utrecht",
            datetime.combine(d, datetime.min.time(), LOCAL_TZ) + timedelta(hours=h),
        )
        for d in days
        for h in (9, 15)
    ]
    harness.send_passages(passages, per_envelope=1)
    harness.wait_for(lambda: processed(harness, len(passages)), what="all decided")
    records = harness.violations(2, timeout=30)
    assert sorted(r.seen_at.astimezone(LOCAL_TZ).date() for r in records) == [days[-1]] * 2
    assert "R22" in records[0].rule_ids
    assert register.day_permits_used(plate, "Utrecht", 2026) == 12


def _redis_server(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
         "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_port(port, 10, process)
    return process


def test_register_outage_holds_the_batch_until_redis_returns(
    harness: StreamHarness, tmp_path: Path
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = _redis_server(port, tmp_path)
    try:
        plates = synthetic_plates(60, seed=13)
        violators, compliant = plates[:30], plates[30:]
        register = register_for(harness, url)
        register.replace_vehicles([*map(diesel_van, violators), *map(electric_van, compliant)])
        redis.Redis.from_url(url).save()
        harness.start_worker(redis_url=url)
        warmup = [passage(p, "utrecht", now()) for p in violators[:2]]
        harness.send_passages(warmup)
        harness.wait_for(lambda: processed(harness, 2), what="warm-up decided")

        server.send_signal(signal.SIGKILL)
        server.wait(10)
        held = [passage(p, "utrecht", now()) for p in plates]
        harness.send_passages(held, per_envelope=10)
        harness.wait_for(
            lambda: harness.metric("zes_stream_register_retries_total") >= 2, what="retries"
        )
        assert harness.metric("zes_stream_register_up") == 0
        assert harness.metric("zes_stream_passages_total") == 2  # nothing decided meanwhile
        assert harness.metric("zes_stream_passages_total", 'outcome="allowed"') == 0

        server = _redis_server(port, tmp_path)  # loads dump.rdb: the register is back
        harness.wait_for(lambda: processed(harness, 2 + len(plates)), what="all decided after")
        assert harness.metric("zes_stream_register_up") == 1
        assert harness.metric("zes_stream_passages_total", 'outcome="allowed"') == 30
        records = harness.violations(2 + 30, timeout=30)
        ids = [r.passage_id for r in records]
        assert len(ids) == len(set(ids)) == 32
    finally:
        server.kill()
        server.wait(10)


def test_worker_killed_mid_batch_loses_nothing(harness: StreamHarness) -> None:
    plates = synthetic_plates(400, seed=17)
    register_for(harness).replace_vehicles(diesel_van(p) for p in plates)
    passages = [passage(p, "utrecht", now()) for p in plates]
    harness.send_passages(passages, per_envelope=5)
    first = harness.start_worker()
    harness.wait_for(lambda: processed(harness, 50), what="first batches decided")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    harness.start_worker()
    harness.wait_for(lambda: processed(harness, 1, worker=1), what="restarted worker running")
    records = harness.violations_covering({p.passage_id for p in passages})
    by_id: dict[object, set[str]] = {}
    for record in records:
        by_id.setdefault(record.passage_id, set()).add(record.case_key)
    assert set(by_id) == {p.passage_id for p in passages}  # none lost
    assert all(len(keys) == 1 for keys in by_id.values())  # a re-send names the same case
    firsts = {r.case_key for r in records if r.first_sighting}
    assert len(firsts) == len(plates)  # each case opened exactly once


def test_worker_starts_with_faust_cli_too(harness: StreamHarness) -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "faust"), "-A", "stream.app", "worker", "-l", "info"],
        env=harness.env(port), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    harness.workers.append(process)
    harness.metrics_ports.append(port)
    plate = synthetic_plates(1, seed=19)[0]
    register_for(harness).replace_vehicles([diesel_van(plate)])
    harness.send_passages([passage(plate, "utrecht", datetime.now(UTC))])
    assert len(harness.violations(1, timeout=60)) == 1
