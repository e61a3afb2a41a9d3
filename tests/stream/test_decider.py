"""The stream's batch logic against a real Redis register, without a broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
import redis
import redis.asyncio

from enforcement.model import Fuel, Vehicle
from enforcement.records import decode_dead_letter, decode_violation, encode_envelope
from enforcement.register.protocol import RegisterUnavailable
from enforcement.register.redis_store import AsyncRedisRegister, RedisRegister
from enforcement.zones import default_catalog
from stream.decider import BatchResult, PassageDecider, RawRecord
from stream.metrics import StreamMetrics
from tests.stream.harness import passage
from zes.embedded import free_port

pytestmark = pytest.mark.redis
SECRET = b"decider-test-secret-0123456789"
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
DIESEL = Vehicle(
    "VBB12B", "Bedrijfsauto", 2800, first_admission=date(2008, 2, 1), fuels=(Fuel("Diesel", "4"),)
)
ELECTRIC = Vehicle(
    "VBB12D", "Bedrijfsauto", 2800, first_admission=date(2020, 2, 1), fuels=(Fuel("Elektriciteit"),)
)


@pytest.fixture
def loaded(redis_client: redis.Redis, redis_prefix: str) -> str:
    RedisRegister(redis_client, redis_prefix, secret=SECRET).replace_vehicles([DIESEL, ELECTRIC])
    return redis_prefix


def run(records: list[RawRecord], prefix: str, url: str, metrics: StreamMetrics) -> BatchResult:
    async def go() -> BatchResult:
        client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=1)
        register = AsyncRedisRegister(client, prefix, secret=SECRET)
        decider = PassageDecider(
            register,
            default_catalog(),
            metrics,
            violations_topic="violations",
            dead_letter_topic="dead",
            clock=lambda: NOW,
        )
        try:
            return await decider.process(records)
        finally:
            await client.aclose()

    return asyncio.run(go())


def envelope(*passages: object) -> RawRecord:
    body = encode_envelope(list(passages), site_id="s", camera_id="c")  # type: ignore[arg-type]
    return RawRecord(body, "passages", 0, 7)


def total(metrics: StreamMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels or None)
    return value or 0.0


def test_a_batch_yields_only_review_records_and_counts_the_rest(
    loaded: str, redis_url: str
) -> None:
    metrics = StreamMetrics()
    records = [
        envelope(
            passage("VBB12B", "utrecht", NOW),  # violation
            passage("VBB12D", "utrecht", NOW),  # allowed (ZE)
            passage("VBB12B", "utrecht", NOW, direction="leaving"),  # counted only
            passage("ZZ1234", "utrecht", NOW),  # special registration: undetermined
            passage("DEX123", "utrecht", NOW, country="DE"),  # foreign: out of scope
        ),
    ]
    result = run(records, loaded, redis_url, metrics)
    violations = [decode_violation(o.value) for o in result.outputs if o.topic == "violations"]
    assert sorted(v.decision for v in violations) == ["undetermined", "violation"]
    assert result.decided == 4 and result.outcomes["allowed"] == 1
    assert total(metrics, "zes_stream_passages_total", zone="utrecht", outcome="allowed") == 1
    assert total(metrics, "zes_flow_passages_total", zone="utrecht", direction="leaving",
                 origin="nl") == 1  # fmt: skip
    assert total(metrics, "zes_flow_passages_total", zone="utrecht", direction="entering",
                 origin="foreign") == 1  # fmt: skip
    assert total(metrics, "zes_flow_entries_total", zone="utrecht", vehicle_class="van",
                 fuel_group="zero_emission", emission_class="unknown") == 1  # fmt: skip
    assert all(b"VBB12D" not in o.value for o in result.outputs)  # no trace of the allowed van


def test_bad_records_become_dead_letters_with_coordinates(loaded: str, redis_url: str) -> None:
    metrics = StreamMetrics()
    good = passage("VBB12B", "utrecht", NOW)
    records = [
        RawRecord(b"garbage", "passages", 1, 3),
        RawRecord(None, "passages", 1, 4),
        envelope(good, passage("VBB12B", "atlantis", NOW)),
    ]
    result = run(records, loaded, redis_url, metrics)
    letters = [decode_dead_letter(o.value) for o in result.outputs if o.topic == "dead"]
    assert [(d.partition, d.offset) for d in letters] == [(1, 3), (1, 4), (0, 7)]
    assert "unknown zone_id 'atlantis'" in letters[2].error
    assert total(metrics, "zes_stream_dead_letters_total", reason="unknown_zone") == 1
    assert [
        decode_violation(o.value).passage_id for o in result.outputs if o.topic == "violations"
    ] == [good.passage_id]


def test_an_outage_raises_and_counts_nothing(loaded: str) -> None:
    metrics = StreamMetrics()
    closed = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(RegisterUnavailable):
        run([envelope(passage("VBB12B", "utrecht", NOW))], loaded, closed, metrics)
    assert total(metrics, "zes_stream_passages_total", zone="utrecht", outcome="violation") == 0
    assert total(metrics, "zes_flow_passages_total", zone="utrecht", direction="entering",
                 origin="nl") == 0  # fmt: skip
