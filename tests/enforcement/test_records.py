"""Records on the wire: round trips, strict validation, envelopes that isolate a bad passage."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enforcement.law import decide
from enforcement.model import LOCAL_TZ, Fuel, Vehicle
from enforcement.records import (
    MAX_PASSAGE_BYTES,
    AlternativeRead,
    DeadLetter,
    Evidence,
    EvidenceRef,
    Passage,
    RecordError,
    decode_dead_letter,
    decode_envelope,
    decode_evidence,
    decode_passage,
    decode_violation,
    encode_dead_letter,
    encode_envelope,
    encode_evidence,
    encode_passage,
    encode_violation,
    violation_record,
)
from enforcement.zones import default_catalog

SEEN = datetime(2026, 3, 3, 8, 15, 30, 123000, tzinfo=UTC)


def passage(**kw: object) -> Passage:
    fields: dict[str, object] = {
        "passage_id": uuid.uuid4(),
        "site_id": "utrecht-catharijnesingel",
        "camera_id": "cam-02",
        "zone_id": "utrecht",
        "direction": "entering",
        "plate": "VBB12B",
        "plate_raw": "VBB-12-B",
        "confidence": 0.97,
        "char_confidences": (0.99, 0.98, 0.97, 0.99, 0.96, 0.95),
        "alternatives": (AlternativeRead(plate="VBB12D", confidence=0.41),),
        "frames": 7,
        "seen_at": SEEN,
        "evidence": (
            EvidenceRef(kind="plate_crop", sha256="a" * 64, size=5312),
            EvidenceRef(kind="overview", sha256="b" * 64, size=181_440),
        ),
    }
    fields.update(kw)
    return Passage(**fields)  # type: ignore[arg-type]


def test_a_full_passage_stays_well_under_a_kilobyte() -> None:
    data = encode_passage(passage())
    assert len(data) < MAX_PASSAGE_BYTES * 0.75, len(data)
    assert decode_passage(data) == passage(passage_id=decode_passage(data).passage_id)


plates = st.text(alphabet="BDFGHJKLMNPRSTVXZ0123456789", min_size=6, max_size=8)
confidences = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(
    plate=plates,
    confidence=confidences,
    chars=st.lists(confidences, max_size=10),
    seen=instants,
    direction=st.sampled_from(["entering", "leaving", "unknown"]),
    frames=st.integers(min_value=1, max_value=500),
    country=st.one_of(st.none(), st.sampled_from(["NL", "DE", "BE"])),
)
def test_passage_round_trip(
    plate: str,
    confidence: float,
    chars: list[float],
    seen: datetime,
    direction: str,
    frames: int,
    country: str | None,
) -> None:
    original = passage(
        plate=plate,
        plate_raw=plate,
        confidence=confidence,
        char_confidences=tuple(chars),
        seen_at=seen,
        direction=direction,
        frames=frames,
        country=country,
    )
    assert decode_passage(encode_passage(original)) == original


@settings(max_examples=50, deadline=None)
@given(count=st.integers(min_value=1, max_value=60))
def test_envelope_round_trip(count: int) -> None:
    items = [passage(seen_at=SEEN + timedelta(seconds=i)) for i in range(count)]
    decoded = decode_envelope(encode_envelope(items, site_id="s1", camera_id="c1"))
    assert decoded.passages == items and decoded.errors == []
    assert (decoded.site_id, decoded.camera_id) == ("s1", "c1")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        ({"confidence": 1.5}, "confidence"),
        ({"plate": "vbb-12-b"}, "plate"),
        ({"direction": "sideways"}, "direction"),
        ({"frames": 0}, "frames"),
        ({"passage_id": "not-a-uuid"}, "passage_id"),
        ({"seen_at": "2026-03-03T08:15:30"}, "seen_at"),
        ({"image": "aGVsbG8="}, "image"),
    ],
)
def test_malformed_passage_says_what_is_wrong(mutate: dict[str, object], message: str) -> None:
    raw = msgspec.json.decode(encode_passage(passage()))
    raw.update(mutate)
    with pytest.raises(RecordError, match=message) as info:
        decode_passage(msgspec.json.encode(raw))
    assert info.value.kind == "passage"


def test_envelope_reports_the_bad_passage_and_keeps_the_good_ones() -> None:
    good = [passage(), passage(), passage()]
    body = msgspec.json.decode(encode_envelope(good, site_id="s1", camera_id="c1"))
    body["passages"][1]["confidence"] = "high"
    body["passages"].insert(0, {"plate": 42})
    decoded = decode_envelope(msgspec.json.encode(body))
    assert [p.passage_id for p in decoded.passages] == [good[0].passage_id, good[2].passage_id]
    assert [e.index for e in decoded.errors] == [0, 2]
    assert "confidence" in str(decoded.errors[1])
    assert len(decoded.raw_bad) == 2 and b"high" in decoded.raw_bad[1]


@pytest.mark.parametrize(
    "payload", [b"", b"not json", b"[]", b'{"schema": 1}', b"\xff\xfe", b'{"passages": 5}']
)
def test_unusable_envelope_raises_one_typed_error(payload: bytes) -> None:
    with pytest.raises(RecordError, match="malformed envelope"):
        decode_envelope(payload)


def test_empty_envelope_is_an_error_not_silence() -> None:
    with pytest.raises(ValueError, match="at least one"):
        encode_envelope([], site_id="s", camera_id="c")
    body = b'{"schema":1,"site_id":"s","camera_id":"c","sent_at":"2026-01-01T00:00:00Z",'
    decoded = decode_envelope(body + b'"passages":[]}')
    assert decoded.passages == [] and decoded.errors
    assert len(decoded.raw_bad) == len(decoded.errors)  # one dead-letter payload per error
    assert decoded.errors[0].index is None


def test_evidence_round_trip_and_integrity() -> None:
    image = bytes(range(256)) * 100
    evidence = Evidence(
        passage_id=uuid.uuid4(),
        kind="overview",
        sha256=hashlib.sha256(image).hexdigest(),
        captured_at=SEEN,
        data=image,
    )
    data = encode_evidence(evidence)
    assert len(data) < len(image) + 300  # msgpack: no base64 blow-up
    assert decode_evidence(data) == evidence
    tampered = msgspec.structs.replace(evidence, data=image[:-1] + b"\x00")
    with pytest.raises(RecordError, match="sha256"):
        decode_evidence(encode_evidence(tampered))


def test_violation_record_carries_rules_in_both_languages() -> None:
    vehicle = Vehicle(
        "VBB12B",
        "Bedrijfsauto",
        2800,
        first_admission=date(2008, 2, 1),
        fuels=(Fuel("Diesel", "4"),),
    )
    p = passage(seen_at=datetime(2026, 3, 10, 14, tzinfo=LOCAL_TZ))
    decision = decide(p.seen_at, default_catalog().resolve("Utrecht"), vehicle)
    record = violation_record(
        p,
        decision,
        vehicle,
        case_key="VBB12B:utrecht:2026-03-10",
        first_sighting=True,
        decided_at=SEEN,
    )
    assert decode_violation(encode_violation(record)) == record
    assert "R7" in record.rule_ids and record.sanction.kind == "fine"
    assert all(r.nl and r.en and r.nl != r.en for r in record.rules)
    assert record.vehicle is not None and record.vehicle.fuels[0].emission_class == "4"


def test_allowed_passages_never_become_violation_records() -> None:
    vehicle = Vehicle(
        "VBB12B", "Bedrijfsauto", 2800, first_admission=date(2020, 1, 1),
        fuels=(Fuel("Elektriciteit"),),
    )  # fmt: skip
    decision = decide(SEEN, default_catalog().resolve("Utrecht"), vehicle)
    with pytest.raises(ValueError, match="no-hit"):
        violation_record(passage(), decision, vehicle, case_key="k", first_sighting=True,
                         decided_at=SEEN)  # fmt: skip


def test_dead_letter_round_trip() -> None:
    letter = DeadLetter(
        source_topic="passages", partition=2, offset=17, error="malformed", payload=b"\x00x",
        failed_at=SEEN,
    )  # fmt: skip
    assert decode_dead_letter(encode_dead_letter(letter)) == letter
    with pytest.raises(RecordError):
        decode_violation(b"{}")
