"""Access windows end to end: a mixed ZE/non-ZE fleet in an area that overlaps the Utrecht
ZE-zone, decided under both rule sets (decider with real Redis), then through the broker,
a worker process and the intake into the case database."""

from __future__ import annotations

import asyncio
import threading
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import redis
import redis.asyncio
from sqlalchemy import select

from enforcement.areas import AreaCatalog, AreaSpec
from enforcement.casework.consumer import IntakeConsumer
from enforcement.casework.db import make_engine, migrate, session_factory
from enforcement.casework.evidence import EvidenceVault
from enforcement.casework.intake import CaseIntake
from enforcement.casework.metrics import IntakeMetrics
from enforcement.casework.models import Case
from enforcement.casework.settings import CaseSettings
from enforcement.model import LOCAL_TZ, Fuel, Vehicle
from enforcement.records import Violation, decode_violation, encode_envelope
from enforcement.register.redis import AsyncRedisRegister, RedisRegister
from enforcement.zones import default_catalog
from stream.decider import PassageDecider, RawRecord
from stream.metrics import StreamMetrics
from tests.stream.harness import StreamHarness, passage

pytestmark = pytest.mark.redis
SECRET = b"areas-test-secret-0123456789"
TUESDAY = date(2026, 3, 10)

LAW_FILE = """
[[areas]]
id = "utrecht-centrum"
name = "Utrecht centrum"
municipality = "Utrecht"
cameras = ["site-1/cam-1"]

[[areas.windows]]
days = ["mon", "tue", "wed", "thu", "fri", "sat"]
start = "07:00"
end = "12:00"
label = "ochtend"

[[areas.windows]]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "18:00"
end = "21:00"
vehicles = "zero_emission"
label = "avond (ZE)"
"""
AREA = AreaSpec.model_validate(
    {
        "id": "utrecht-centrum",
        "name": "Utrecht centrum",
        "municipality": "Utrecht",
        "cameras": ["site-1/cam-1"],
        "windows": [
            {"days": ["mon", "tue", "wed", "thu", "fri", "sat"], "start": "07:00", "end": "12:00"},
            {
                "days": [1, 2, 3, 4, 5],
                "start": "18:00",
                "end": "21:00",
                "vehicles": "zero_emission",
            },
        ],
    }
)

ELECTRIC = Vehicle(
    "VBE01E", "Bedrijfsauto", 2800, first_admission=date(2022, 2, 1), fuels=(Fuel("Elektriciteit"),)
)
EURO6 = Vehicle(
    "VBE06D", "Bedrijfsauto", 2800, first_admission=date(2019, 2, 1), fuels=(Fuel("Diesel", "6"),)
)
EURO4 = Vehicle(
    "VBE04D", "Bedrijfsauto", 2800, first_admission=date(2008, 2, 1), fuels=(Fuel("Diesel", "4"),)
)
CAR = Vehicle("PCAR01", "Personenauto", 1500, fuels=(Fuel("Benzine", "6"),))


def at(clock: str, day: date = TUESDAY) -> datetime:
    hour, minute = map(int, clock.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ)


def fleet_day() -> list[object]:
    """The mixed fleet's passages of one Tuesday, with what each should give."""
    return [
        passage("VBE01E", "utrecht", at("19:00")),  # ZE in its privilege window: nothing
        passage("VBE01E", "utrecht", at("14:00")),  # ZE outside every window: window case
        passage("VBE06D", "utrecht", at("08:00")),  # Euro 6 van in the morning window: nothing
        passage("VBE06D", "utrecht", at("19:30")),  # Euro 6 in the ZE-only window: window case
        passage("VBE06D", "utrecht", at("20:30")),  # … again that evening: same window case
        passage("VBE04D", "utrecht", at("19:00")),  # Euro 4 at 19:00: both rule sets broken
        passage("PCAR01", "utrecht", at("15:00")),  # a passenger car: out of both scopes
    ]


@pytest.fixture
def loaded(redis_client: redis.Redis, redis_prefix: str) -> str:
    register = RedisRegister(redis_client, redis_prefix, secret=SECRET)
    register.replace_vehicles([ELECTRIC, EURO6, EURO4, CAR])
    return redis_prefix


def test_both_rule_sets_decide_and_cases_carry_every_broken_rule(
    loaded: str, redis_url: str
) -> None:
    metrics = StreamMetrics()

    async def go() -> list[Violation]:
        client = redis.asyncio.Redis.from_url(url=redis_url)
        decider = PassageDecider(
            AsyncRedisRegister(client, loaded, secret=SECRET), default_catalog(), metrics,
            violations_topic="violations", dead_letter_topic="dead",
            clock=lambda: at("21:00"), areas=AreaCatalog([AREA]),
        )  # fmt: skip
        try:
            out: list[Violation] = []
            for item in fleet_day():  # one batch per passage: order and dedup as in a stream
                body = encode_envelope([item], site_id="site-1", camera_id="cam-1")  # type: ignore[list-item]
                result = await decider.process([RawRecord(body, "passages", 0, 1)])
                out += [decode_violation(o.value) for o in result.outputs]
            return out
        finally:
            await client.aclose()

    records = asyncio.run(go())
    by = [(r.plate, r.case_key, r.first_sighting, r.decision) for r in records]
    assert by == [
        ("VBE01E", "VBE01E:utrecht-centrum:2026-03-10", True, "violation"),
        ("VBE06D", "VBE06D:utrecht-centrum:2026-03-10", True, "violation"),
        ("VBE06D", "VBE06D:utrecht-centrum:2026-03-10", False, "violation"),
        ("VBE04D", "VBE04D:utrecht:2026-03-10", True, "violation"),
    ]
    ze_only, euro6, _, both = records
    assert ze_only.window and ze_only.window.zero_emission and ze_only.window.outcome == "violation"
    assert ze_only.rule_ids[0] == "W4" and ze_only.sanction.amount_eur is None
    assert euro6.window and not euro6.window.zero_emission
    assert euro6.window.nearest_window == "07:00-12:00"
    assert euro6.window.nearest_start == at("07:00")  # ended 7.5 h before; next in 11.5 h
    assert "W3" in euro6.rule_ids  # the evening window is a ZE privilege
    assert both.window and both.window.case_key == "VBE04D:utrecht-centrum:2026-03-10"
    assert {"R7", "W4"} <= set(both.rule_ids) and both.sanction.amount_eur == 120
    sample = metrics.registry.get_sample_value
    labels = {"area": "utrecht-centrum", "vehicle_class": "van"}
    assert (
        sample("zes_flow_area_entries_total", {**labels, "window": "privilege", "hour": "19"}) == 1
    )
    assert sample("zes_flow_area_entries_total", {**labels, "window": "in", "hour": "08"}) == 1
    assert sample("zes_flow_area_entries_total", {**labels, "window": "out", "hour": "19"}) == 2
    car = {
        "area": "utrecht-centrum",
        "vehicle_class": "car",
        "window": "out_of_scope",
        "hour": "15",
    }
    assert sample("zes_flow_area_entries_total", car) == 1


@pytest.mark.broker
@pytest.mark.slow
def test_through_broker_worker_and_intake(
    broker: str, loaded: str, redis_url: str, tmp_path: Path
) -> None:
    law = tmp_path / "law.toml"
    law.write_text(LAW_FILE, encoding="utf-8")
    harness = StreamHarness(broker, redis_url, loaded, tmp_path, law_file=law)
    try:
        harness.start_worker()
        harness.send_passages(fleet_day(), per_envelope=50)  # type: ignore[arg-type]
        assert len(harness.violations(4)) == 4
    finally:
        harness.stop()
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    engine = make_engine(url)
    intake = CaseIntake(
        session_factory(engine), EvidenceVault(b"k" * 32), grace=timedelta(0),
        areas=AreaCatalog([AREA]),  # the window case keys are checked against the camera's area
    )  # fmt: skip
    cases = CaseSettings(
        broker=broker, violations_topic=harness.topics["violations"],
        evidence_topic=harness.topics["dead"], intake_group="areas-intake",
        dead_letter_topic=harness.topics["dead"], intake_metrics_port=0,
    )  # fmt: skip
    stop = threading.Event()
    timer = threading.Timer(60, stop.set)
    timer.start()
    try:
        IntakeConsumer(intake, cases, IntakeMetrics(), stop=stop).run(
            until=lambda t: t.sightings >= 4
        )
    finally:
        timer.cancel()
    with session_factory(engine)() as session:
        rows = {c.case_key: c for c in session.scalars(select(Case))}
    assert set(rows) == {
        "VBE01E:utrecht-centrum:2026-03-10",
        "VBE06D:utrecht-centrum:2026-03-10",
        "VBE04D:utrecht:2026-03-10",
    }
    assert rows["VBE06D:utrecht-centrum:2026-03-10"].sightings_count == 2
    both = rows["VBE04D:utrecht:2026-03-10"]
    assert "W4" in both.rule_ids and "R7" in both.rule_ids
    assert both.record["window"]["nearest_window"] == "07:00-12:00"
    engine.dispose()
