"""The stream's flow records: every decided passage counted once, anonymously."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
import redis
import redis.asyncio

from enforcement.flows.records import FlowRecordError, decode_flow_batch, encode_flow_batch
from enforcement.model import LOCAL_TZ, Fuel, Vehicle
from enforcement.records import encode_envelope
from enforcement.register.redis import AsyncRedisRegister, RedisRegister
from enforcement.zones import default_catalog
from stream.decider import BatchResult, PassageDecider, RawRecord
from stream.flows import FlowTally, hour_of, vehicle_digest
from stream.metrics import StreamMetrics
from tests.enforcement.flows.helpers import batch, key
from tests.stream.harness import passage

SECRET = b"flows-test-secret-0123456789abcdef"
NOW = datetime(2026, 3, 10, 9, 17, tzinfo=UTC)
DIESEL = Vehicle(
    "VBB12B", "Bedrijfsauto", 2800, first_admission=date(2008, 2, 1), fuels=(Fuel("Diesel", "4"),)
)
ELECTRIC = Vehicle(
    "VBB12D", "Bedrijfsauto", 2800, first_admission=date(2020, 2, 1), fuels=(Fuel("Elektriciteit"),)
)


def test_hour_of_floors_to_the_utc_hour() -> None:
    assert hour_of(NOW) == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def test_tally_makes_one_batch_per_source_partition_in_offset_order() -> None:
    tally = FlowTally()
    tally.add(("passages", 1, 9), key())
    tally.add(("passages", 0, 5), key())
    tally.add(("passages", 0, 3), key())
    tally.add(("passages", 0, 3), key())
    batches = {b.partition: b for b in tally.batches("w")}
    assert [e.offset for e in batches[0].entries] == [3, 5]
    assert batches[0].entries[0].cells[0].count == 2
    assert batches[0].batch_id == "w/passages/0/3"
    assert decode_flow_batch(encode_flow_batch(batches[1])) == batches[1]


def test_a_flow_record_that_breaks_its_rules_is_refused() -> None:
    good = batch(range(2), [key()])
    body = encode_flow_batch(good).replace(b'"schema":1', b'"schema":2')
    with pytest.raises(FlowRecordError):
        decode_flow_batch(body)
    with pytest.raises(FlowRecordError):
        decode_flow_batch(b"{}")


def _decide(
    records: list[RawRecord], prefix: str, url: str, vehicle_key: bytes | None = None
) -> BatchResult:
    async def go() -> BatchResult:
        client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=1)
        decider = PassageDecider(
            AsyncRedisRegister(client, prefix, secret=SECRET),
            default_catalog(),
            StreamMetrics(),
            violations_topic="violations",
            dead_letter_topic="dead",
            flows_topic="flows",
            worker_id="w1",
            clock=lambda: NOW,
            flow_vehicle_key=vehicle_key,
        )
        try:
            return await decider.process(records)
        finally:
            await client.aclose()

    return asyncio.run(go())


@pytest.mark.redis
def test_every_decided_passage_is_counted_once_without_its_plate(
    redis_client: redis.Redis, redis_prefix: str, redis_url: str
) -> None:
    RedisRegister(redis_client, redis_prefix, secret=SECRET).replace_vehicles([DIESEL, ELECTRIC])
    first = encode_envelope(
        [
            passage("VBB12B", "utrecht", NOW),
            passage("VBB12D", "utrecht", NOW),
            passage("VBB12D", "utrecht", NOW),
            passage("VBB12B", "utrecht", NOW, direction="leaving"),
        ],
        site_id="s",
        camera_id="c",
    )
    second = encode_envelope(
        [passage("DEX123", "utrecht", NOW, country="DE"), passage("VBB12B", "nowhere", NOW)],
        site_id="s",
        camera_id="c",
    )
    result = _decide(
        [RawRecord(first, "passages", 2, 40), RawRecord(second, "passages", 2, 41)],
        redis_prefix,
        redis_url,
    )
    (flow,) = [o for o in result.outputs if o.topic == "flows"]
    assert flow.key == b"passages:2"
    assert b"VBB12" not in flow.value and b"DEX123" not in flow.value
    record = decode_flow_batch(flow.value)
    assert (record.partition, [e.offset for e in record.entries]) == (2, [40, 41])
    cells = {
        (c.direction, c.origin, c.outcome, c.fuel_group): c.count
        for e in record.entries
        for c in e.cells
    }
    assert cells == {
        ("entering", "nl", "violation", "diesel"): 1,
        ("entering", "nl", "allowed", "zero_emission"): 2,
        ("leaving", "nl", "none", "unknown"): 1,
        ("entering", "foreign", "out_of_scope", "unknown"): 1,
    }  # the passage of an unknown zone is a dead letter, not a flow
    assert all(
        c.hour == datetime(2026, 3, 10, 9, tzinfo=UTC) for e in record.entries for c in e.cells
    )
    entering = sum(n for (d, *_), n in cells.items() if d == "entering")
    assert entering == result.decided


@pytest.mark.redis
def test_each_entering_cell_carries_its_distinct_vehicles_as_day_digests(
    redis_client: redis.Redis, redis_prefix: str, redis_url: str
) -> None:
    """Issue 23: open data counted passages, so one vehicle entering five times looked like
    five. The cell now names its distinct vehicles by keyed day digests (never the plate)."""
    RedisRegister(redis_client, redis_prefix, secret=SECRET).replace_vehicles([DIESEL, ELECTRIC])
    envelope = encode_envelope(
        [passage("VBB12D", "utrecht", NOW), passage("VBB12D", "utrecht", NOW),
         passage("VBB12B", "utrecht", NOW, direction="leaving")],
        site_id="s", camera_id="c",
    )  # fmt: skip
    secret = b"k" * 32
    result = _decide([RawRecord(envelope, "passages", 0, 7)], redis_prefix, redis_url, secret)
    (flow,) = [o for o in result.outputs if o.topic == "flows"]
    assert b"VBB12" not in flow.value
    cells = {c.direction: c for e in decode_flow_batch(flow.value).entries for c in e.cells}
    day = NOW.astimezone(LOCAL_TZ).date()
    assert cells["entering"].count == 2
    assert cells["entering"].vehicles == (vehicle_digest(secret, "VBB12D", day),)
    assert cells["leaving"].vehicles == ()  # leaving is never published
    other_day = vehicle_digest(secret, "VBB12D", day.replace(day=11))
    assert other_day != cells["entering"].vehicles[0]  # nothing links two days
