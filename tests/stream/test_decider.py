"""The stream's batch logic against a real Redis register, without a broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import msgspec
import pytest
import redis
import redis.asyncio

from enforcement.model import Fuel, Vehicle
from enforcement.records import (
    decode_dead_letter,
    decode_passage,
    decode_violation,
    encode_envelope,
)
from enforcement.register.protocol import CaseClaim, ClaimRequest, RegisterUnavailable
from enforcement.register.redis import AsyncRedisRegister, RedisRegister
from enforcement.zones import default_catalog
from stream.decider import BatchResult, PassageDecider, RawRecord
from stream.memo import QuietDecisions
from stream.metrics import StreamMetrics
from tests.stream.harness import passage
from zes.embedded import free_port

pytestmark = pytest.mark.redis
SECRET = b"decider-test-secret-0123456789"
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
DIESEL = Vehicle(
    "VBB12B", "Bedrijfsauto", 2800, first_admission=date(2008, 2, 1),
    fuels=(Fuel("Diesel", "4"),), eu_category="N1", body="gesloten opbouw",
    make="IVECO", commercial_name="DAILY", colour="WIT", second_colour="BLAUW",
)  # fmt: skip
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


def test_a_violation_record_freezes_the_registered_description(
    loaded: str, redis_client: redis.Redis, redis_url: str
) -> None:
    """What the register described at decision time travels with the case (issue 21): the
    officer compares the photo with it, whatever the register says by the review."""
    result = run([envelope(passage("VBB12B", "utrecht", NOW))], loaded, redis_url, StreamMetrics())
    RedisRegister(redis_client, loaded, secret=SECRET).replace_vehicles(
        [msgspec.structs.replace(DIESEL, colour="ROOD", second_colour=None)]
    )
    (record,) = [decode_violation(o.value) for o in result.outputs if o.topic == "violations"]
    assert record.vehicle is not None
    described = (
        record.vehicle.make, record.vehicle.commercial_name, record.vehicle.colour,
        record.vehicle.second_colour, record.vehicle.body, record.vehicle.eu_category,
    )  # fmt: skip
    assert described == ("IVECO", "DAILY", "WIT", "BLAUW", "gesloten opbouw", "N1")


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


def test_an_envelope_with_one_bad_zone_dead_letters_only_that_passage(
    loaded: str, redis_url: str
) -> None:
    metrics = StreamMetrics()
    before = passage("VBB12B", "utrecht", NOW)
    stray = passage("VBB12D", "atlantis", NOW)
    after = passage("VBB12B", "utrecht", NOW, direction="leaving")
    result = run([envelope(before, stray, after)], loaded, redis_url, metrics)
    letters = [decode_dead_letter(o.value) for o in result.outputs if o.topic == "dead"]
    assert len(letters) == 1
    assert decode_passage(letters[0].payload) == stray  # the passage alone, replayable
    assert str(before.passage_id).encode() not in letters[0].payload
    assert str(after.passage_id).encode() not in letters[0].payload
    assert result.decided == 1


def test_a_malformed_passage_dead_letters_only_its_own_bytes(loaded: str, redis_url: str) -> None:
    good = passage("VBB12B", "utrecht", NOW)
    body = msgspec.json.decode(encode_envelope([good, good], site_id="s", camera_id="c"))
    body["passages"][1]["plate"] = "not a plate"
    result = run([RawRecord(msgspec.json.encode(body), "passages", 0, 7)], loaded, redis_url,
                 StreamMetrics())  # fmt: skip
    (letter,) = [decode_dead_letter(o.value) for o in result.outputs if o.topic == "dead"]
    assert msgspec.json.decode(letter.payload) == body["passages"][1]
    assert "passage 1" in letter.error


def test_each_case_lands_on_the_passage_that_claimed_it(loaded: str, redis_url: str) -> None:
    metrics = StreamMetrics()
    violators = [
        passage("VBB12B", "utrecht", NOW),
        passage("ZZ1234", "utrecht", NOW),  # undetermined: a case of its own
        passage("VBB12D", "utrecht", NOW),  # allowed: asks for no case in between
        passage("XX99XX", "den-haag", NOW),  # not in the register: undetermined
        passage("VBB12B", "utrecht", NOW),  # the same case as the first, not first
    ]
    result = run([envelope(*violators)], loaded, redis_url, metrics)
    records = [decode_violation(o.value) for o in result.outputs if o.topic == "violations"]
    assert [(r.plate, r.case_key.split(":")[1], r.first_sighting) for r in records] == [
        ("VBB12B", "utrecht", True),
        ("ZZ1234", "utrecht", True),
        ("XX99XX", "den-haag", True),
        ("VBB12B", "utrecht", False),
    ]
    assert all(r.case_key.startswith(f"{r.plate}:") for r in records)
    assert total(metrics, "zes_stream_violation_records_total", decision="violation",
                 first="false") == 1  # fmt: skip


class _Shuffled:
    """A register whose batch claims come back in the wrong order (an adapter bug)."""

    def __init__(self, inner: AsyncRedisRegister) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def claim_cases(self, requests: list[ClaimRequest]) -> list[CaseClaim]:
        return list(reversed(await self.inner.claim_cases(requests)))


def test_claims_answered_out_of_order_never_reach_another_passage(
    loaded: str, redis_url: str
) -> None:
    async def go() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        register = _Shuffled(AsyncRedisRegister(client, loaded, secret=SECRET))
        decider = PassageDecider(
            register, default_catalog(), StreamMetrics(),  # type: ignore[arg-type]
            violations_topic="violations", dead_letter_topic="dead", clock=lambda: NOW,
        )  # fmt: skip
        try:
            records = [
                envelope(passage("VBB12B", "utrecht", NOW), passage("ZZ1234", "utrecht", NOW))
            ]
            with pytest.raises(RuntimeError, match="out of order"):
                await decider.process(records)
        finally:
            await client.aclose()

    asyncio.run(go())


def test_a_failed_batch_counts_no_records_and_no_dead_letters(loaded: str) -> None:
    """Counted only once the batch succeeded: the retry counts it (once)."""
    metrics = StreamMetrics()
    closed = f"redis://127.0.0.1:{free_port()}/0"
    records = [RawRecord(b"garbage", "passages", 1, 3), envelope(passage("VBB12B", "utrecht", NOW))]
    with pytest.raises(RegisterUnavailable):
        run(records, loaded, closed, metrics)
    assert total(metrics, "zes_stream_records_total") == 0
    assert total(metrics, "zes_stream_dead_letters_total", reason="malformed_envelope") == 0


def test_the_memo_decides_repeat_kinds_and_the_full_path_the_rest(
    loaded: str, redis_url: str
) -> None:
    async def go() -> QuietDecisions:
        client = redis.asyncio.Redis.from_url(redis_url)
        memo = QuietDecisions()
        decider = PassageDecider(
            AsyncRedisRegister(client, loaded, secret=SECRET), default_catalog(), StreamMetrics(),
            violations_topic="violations", dead_letter_topic="dead", clock=lambda: NOW, memo=memo,
        )  # fmt: skip
        try:
            await decider.process([envelope(*[passage("VBB12D", "utrecht", NOW)] * 5)])
        finally:
            await client.aclose()
        return memo

    memo = asyncio.run(go())
    assert (memo.hits, memo.misses) == (4, 1)


# -- the look-alike guard (issue 21 item 3) ---------------------------------------------------
#: One look-alike from DIESEL's plate (VBB12B, position 2: B <-> 8), an electric van.
NEIGHBOUR = msgspec.structs.replace(ELECTRIC, plate="VB812B", make="NISSAN", colour="ROOD")
DOUBT_ON_B = (0.99, 0.99, 0.62, 0.99, 0.98, 0.99)
"""The third character (the B that could be an 8) read below the 0.90 floor."""


class _Counting:
    """The stream's register, counting its lookups (round trips per batch)."""

    def __init__(self, inner: AsyncRedisRegister) -> None:
        self.inner = inner
        self.lookups = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def lookup(self, plates: list[str], at: datetime | None = None) -> object:
        self.lookups += 1
        return await self.inner.lookup(plates, at)


def run_counting(
    records: list[RawRecord], prefix: str, url: str, metrics: StreamMetrics
) -> tuple[BatchResult, int]:
    async def go() -> tuple[BatchResult, int]:
        client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=1)
        register = _Counting(AsyncRedisRegister(client, prefix, secret=SECRET))
        decider = PassageDecider(
            register, default_catalog(), metrics,  # type: ignore[arg-type]
            violations_topic="violations", dead_letter_topic="dead", clock=lambda: NOW,
        )  # fmt: skip
        try:
            return await decider.process(records), register.lookups
        finally:
            await client.aclose()

    return asyncio.run(go())


@pytest.fixture
def with_neighbour(redis_client: redis.Redis, redis_prefix: str) -> str:
    register = RedisRegister(redis_client, redis_prefix, secret=SECRET)
    register.replace_vehicles([DIESEL, ELECTRIC, NEIGHBOUR])
    return redis_prefix


def test_a_doubtful_lookalike_of_a_registered_plate_is_undetermined(
    with_neighbour: str, redis_url: str
) -> None:
    """VBB12B (a diesel van, a violation) read with its B at 0.62, and VB812B registered:
    the read may be the compliant van's, so a person decides (R33, low confidence)."""
    metrics = StreamMetrics()
    doubtful = passage("VBB12B", "utrecht", NOW, char_confidences=DOUBT_ON_B)
    result, lookups = run_counting([envelope(doubtful)], with_neighbour, redis_url, metrics)
    (record,) = [decode_violation(o.value) for o in result.outputs if o.topic == "violations"]
    assert record.decision == "undetermined"
    assert [(r.rule_id, r.key) for r in record.rules if r.rule_id == "R33"] == [
        ("R33", "low_confidence")
    ]
    assert any("0.62" in r.en for r in record.rules if r.key == "low_confidence")
    assert total(metrics, "zes_stream_lookalike_doubts_total", zone="utrecht") == 1
    assert lookups == 2  # the batch's lookup, and one for the neighbours


@pytest.mark.parametrize(
    ("confidences", "registered"),
    [
        ((0.99, 0.99, 0.97, 0.99, 0.98, 0.99), True),  # the B read confidently
        (DOUBT_ON_B, False),  # no register plate one look-alike away
        ((0.99, 0.62, 0.99, 0.99, 0.98, 0.99), True),  # doubt on a B whose 8 is not a plate
    ],
)
def test_a_confident_read_or_no_registered_neighbour_stays_a_violation(
    redis_client: redis.Redis,
    redis_prefix: str,
    redis_url: str,
    confidences: tuple[float, ...],
    registered: bool,
) -> None:
    fleet = [DIESEL, ELECTRIC, NEIGHBOUR] if registered else [DIESEL, ELECTRIC]
    RedisRegister(redis_client, redis_prefix, secret=SECRET).replace_vehicles(fleet)
    metrics = StreamMetrics()
    read = passage("VBB12B", "utrecht", NOW, char_confidences=confidences)
    result, _ = run_counting([envelope(read)], redis_prefix, redis_url, metrics)
    (record,) = [decode_violation(o.value) for o in result.outputs if o.topic == "violations"]
    assert record.decision == "violation"
    assert total(metrics, "zes_stream_lookalike_doubts_total", zone="utrecht") == 0


def test_one_extra_lookup_per_batch_at_most_and_none_without_doubt(
    with_neighbour: str, redis_url: str
) -> None:
    many = [passage("VBB12B", "utrecht", NOW, char_confidences=DOUBT_ON_B) for _ in range(5)] + [
        passage("VBB12B", "den-haag", NOW, char_confidences=DOUBT_ON_B)
    ]
    result, lookups = run_counting([envelope(*many)], with_neighbour, redis_url, StreamMetrics())
    assert lookups == 2
    assert all(
        decode_violation(o.value).decision == "undetermined"
        for o in result.outputs
        if o.topic == "violations"
    )
    sure = passage("VBB12B", "utrecht", NOW, char_confidences=(0.99,) * 6)
    _, lookups = run_counting([envelope(sure)], with_neighbour, redis_url, StreamMetrics())
    assert lookups == 1
