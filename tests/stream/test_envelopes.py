"""Envelope version 2 (rows): the same passages, read by the worker beside version 1."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import msgspec
import pytest
import redis
import redis.asyncio

from enforcement.model import Fuel, Vehicle
from enforcement.records import (
    ENVELOPE_ROWS_VERSION,
    PASSAGE_ROW_FIELDS,
    Passage,
    PassageRow,
    RecordError,
    decode_dead_letter,
    decode_envelope,
    decode_passage,
    decode_violation,
    encode_envelope,
)
from enforcement.register.redis import AsyncRedisRegister, RedisRegister
from enforcement.zones import default_catalog
from stream.decider import Output, PassageDecider, RawRecord
from stream.metrics import StreamMetrics
from tests.stream.harness import passage

SECRET = b"envelope-test-secret-0123456789"
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
DIESEL = Vehicle(
    "VBB12B", "Bedrijfsauto", 2800, first_admission=date(2008, 2, 1), fuels=(Fuel("Diesel", "4"),)
)


def fields(p: Passage) -> tuple[object, ...]:
    return msgspec.structs.astuple(p)


def rows(*passages: Passage) -> bytes:
    return encode_envelope(
        list(passages), site_id="s", camera_id="c", version=ENVELOPE_ROWS_VERSION
    )


def test_the_row_layout_is_passages_field_order() -> None:
    """Rows are positional: a field moved or inserted in Passage would misread every row
    already on the topic. Add fields at the end (with a default), or make a version 3."""
    assert tuple(f.name for f in msgspec.structs.fields(PassageRow)) == PASSAGE_ROW_FIELDS
    assert tuple(f.name for f in msgspec.structs.fields(Passage)) == PASSAGE_ROW_FIELDS


def test_a_row_from_before_fields_were_added_still_decodes() -> None:
    """Fields added at the end have defaults: a row of an older producer, without them,
    reads as the same passage."""
    item = passage("VBB12B", "utrecht", NOW)
    body = msgspec.json.decode(rows(item))
    body[4][0] = body[4][0][: PASSAGE_ROW_FIELDS.index("evidence") + 1]
    (decoded,) = decode_envelope(msgspec.json.encode(body)).passages
    assert fields(decoded) == fields(item)


def test_rows_decode_to_the_same_passages_as_objects() -> None:
    items = [passage("VBB12B", "utrecht", NOW), passage("AB12CD", "utrecht", NOW, country="DE")]
    v1 = decode_envelope(encode_envelope(items, site_id="s", camera_id="c"))
    v2 = decode_envelope(b"  " + rows(*items))
    assert [fields(p) for p in v2.passages] == [fields(p) for p in v1.passages]
    assert all(isinstance(p, Passage) for p in v2.passages)
    assert (v2.site_id, v2.camera_id, v2.errors) == ("s", "c", [])
    assert len(rows(*items)) < len(encode_envelope(items, site_id="s", camera_id="c")) / 2


def test_a_bad_row_is_isolated_by_index_and_named_by_field() -> None:
    good = passage("VBB12B", "utrecht", NOW)
    body = msgspec.json.decode(rows(good, good, good))
    body[4][1][PASSAGE_ROW_FIELDS.index("plate")] = "not a plate"
    decoded = decode_envelope(msgspec.json.encode(body))
    assert len(decoded.passages) == 2
    (error,) = decoded.errors
    assert error.index == 1 and "$.plate" in str(error)
    assert msgspec.json.decode(decoded.raw_bad[0]) == body[4][1]


def test_unknown_versions_are_refused() -> None:
    with pytest.raises(ValueError, match="no envelope version 3"):
        encode_envelope([passage("VBB12B", "utrecht", NOW)], site_id="s", camera_id="c",
                        version=3)  # fmt: skip
    body = msgspec.json.decode(rows(passage("VBB12B", "utrecht", NOW)))
    body[0] = 3
    with pytest.raises(RecordError, match="malformed envelope"):
        decode_envelope(msgspec.json.encode(body))


@pytest.mark.redis
def test_the_worker_reads_both_versions_in_one_batch(
    redis_client: redis.Redis, redis_prefix: str, redis_url: str
) -> None:
    """During a rollout a partition holds envelopes of both versions."""
    RedisRegister(redis_client, redis_prefix, secret=SECRET).replace_vehicles([DIESEL])
    old = passage("VBB12B", "utrecht", NOW)
    new = passage("VBB12B", "den-haag", NOW)
    stray = passage("VBB12B", "atlantis", NOW)
    records = [
        RawRecord(encode_envelope([old], site_id="s", camera_id="c"), "passages", 0, 1),
        RawRecord(rows(new, stray), "passages", 0, 2),
    ]

    async def go() -> list[Output]:
        client = redis.asyncio.Redis.from_url(redis_url)
        decider = PassageDecider(
            AsyncRedisRegister(client, redis_prefix, secret=SECRET), default_catalog(),
            StreamMetrics(), violations_topic="violations", dead_letter_topic="dead",
            clock=lambda: NOW,
        )  # fmt: skip
        try:
            return list((await decider.process(records)).outputs)
        finally:
            await client.aclose()

    outputs = asyncio.run(go())
    violations = [decode_violation(o.value) for o in outputs if o.topic == "violations"]
    assert {v.passage_id for v in violations} == {old.passage_id, new.passage_id}
    (letter,) = [decode_dead_letter(o.value) for o in outputs if o.topic == "dead"]
    # A row's dead letter is a passage record (an object), replayable like any other.
    assert fields(decode_passage(letter.payload)) == fields(stray)
