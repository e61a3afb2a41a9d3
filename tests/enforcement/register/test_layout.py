"""Layout 2 of the vehicle register (buckets of packed vehicles) and the way from layout 1:
the codec round trip for any vehicle, the refusal of a layout this release does not read,
and `migrate` carrying a layout-1 register over (grants added at a desk included)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

import msgspec
import pytest
import redis
import redis.asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from enforcement.model import LOCAL_TZ, Exemption, Fuel, Vehicle
from enforcement.register.redis import AsyncRedisRegister, RedisRegister
from enforcement.register.redis.codec import (
    VehicleLayoutError,
    VehicleTables,
    bucket_count,
    bucket_record,
    encode_bucket,
    encode_exemptions,
    encode_vehicle,
)
from enforcement.register.redis.plans import RegisterLayoutError

SECRET = b"layout-test-secret-0123456789"
AT = datetime(2026, 6, 3, 10, 0, tzinfo=LOCAL_TZ)

_text = st.text(alphabet="ABCDEFGHJKLNPRSTVXZ -0123456789éü", min_size=0, max_size=12)
_maybe_text = st.none() | _text
_maybe_int = st.none() | st.integers(min_value=0, max_value=200_000)
_maybe_date = st.none() | st.dates(min_value=date(1880, 1, 1), max_value=date(2100, 12, 31))
_plates = st.text(alphabet="BCDFGHJKLNPRSTVXZ0123456789", min_size=1, max_size=10)
_vehicles = st.builds(
    Vehicle,
    plate=_plates,
    kind=_maybe_text,
    max_mass_kg=_maybe_int,
    eu_category=_maybe_text,
    body=_maybe_text,
    body_type_codes=st.tuples(_text) | st.just(()) | st.tuples(_text, _text),
    body_codes=st.tuples(_text) | st.just(()),
    particularity_codes=st.lists(st.integers(0, 9999), max_size=3).map(tuple),
    axles=st.none() | st.integers(0, 12),
    length_cm=_maybe_int,
    first_admission=_maybe_date,
    first_nl_registration=_maybe_date,
    fuels=st.lists(
        st.builds(Fuel, name=_text, emission_class=_maybe_text, hybrid_class=_maybe_text),
        max_size=3,
    ).map(tuple),
    fairground=st.booleans(),
    removal=st.booleans(),
    exported=st.booleans(),
    make=_maybe_text,
    commercial_name=_maybe_text,
    colour=_maybe_text,
    second_colour=_maybe_text,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_vehicles, min_size=1, max_size=60))
def test_any_vehicles_round_trip_through_buckets_and_tables(vehicles: list[Vehicle]) -> None:
    tables = VehicleTables()
    last = {v.plate: v for v in vehicles}  # a repeated plate keeps its last row
    records = {plate: tables.pack(v) for plate, v in last.items()}
    bucket = encode_bucket([(p.encode(), r) for p, r in records.items()])
    reader = VehicleTables.from_meta(tables.meta(bucket_count(len(records))))
    for plate, vehicle in last.items():
        record = bucket_record(bucket, plate.encode())
        assert record is not None
        assert reader.unpack(plate, record) == vehicle
    # A plate that is a part of another, or absent, is not found.
    for plate in last:
        for part in (plate[1:], plate[:-1], plate + "X"):
            if part and part not in last:
                assert bucket_record(bucket, part.encode()) is None


def test_a_typical_van_packs_into_a_fraction_of_layout_1() -> None:
    van = Vehicle(
        "VBB12B",
        "Bedrijfsauto",
        2800,
        eu_category="N1",
        body="Gesloten opbouw",
        axles=2,
        length_cm=541,
        first_admission=date(2018, 2, 1),
        first_nl_registration=date(2018, 2, 1),
        fuels=(Fuel("Diesel", "6"),),
        body_type_codes=("BB",),
    )
    tables = VehicleTables()
    assert len(tables.pack(van)) <= 20 < len(encode_vehicle(van))


def test_a_described_van_costs_a_few_bytes_more_and_reads_back_whole() -> None:
    van = Vehicle(
        "VBB12B",
        "Bedrijfsauto",
        2800,
        eu_category="N1",
        body="gesloten opbouw",
        axles=2,
        length_cm=541,
        first_admission=date(2018, 2, 1),
        first_nl_registration=date(2018, 2, 1),
        fuels=(Fuel("Diesel", "6"),),
        body_type_codes=("BB",),
        body_codes=("04",),
    )
    described = msgspec.structs.replace(
        van, make="MERCEDES-BENZ", commercial_name="SPRINTER", colour="WIT"
    )
    tables = VehicleTables()
    plain, full = tables.pack(van), tables.pack(described)
    # The description is one index before the rarely-set fields, not four strings.
    assert len(full) - len(plain) <= 3
    reader = VehicleTables.from_meta(tables.meta(1))
    assert reader.unpack("VBB12B", full) == described
    assert reader.unpack("VBB12B", plain) == van


def test_a_layout_2_generation_reads_as_undescribed_vehicles() -> None:
    """A generation loaded by the release before descriptions (layout 2: no description
    table, the rarely-set fields right after the code sets) reads until the next load."""
    strings = ["Bedrijfsauto", "N1"]
    meta = msgspec.msgpack.encode([2, 256, strings, [[]], [[]]])
    # kind, mass, category, body, axles, length, DET, NL, fuels, types, codes, then in
    # layout 2 the particularity codes and the fairground flag.
    record = msgspec.msgpack.encode([0, 2800, 1, None, 2, 541, None, None, 0, 0, 0, [145], True])
    assert VehicleTables.from_meta(meta).unpack("VBB12B", record) == Vehicle(
        "VBB12B",
        "Bedrijfsauto",
        2800,
        eu_category="N1",
        axles=2,
        length_cm=541,
        particularity_codes=(145,),
        fairground=True,
    )


def test_a_meta_of_another_layout_is_refused_by_name() -> None:
    future = msgspec.msgpack.encode([4, 256, ["something else"]])
    with pytest.raises(VehicleLayoutError, match="layout 4; this release reads layouts 2, 3"):
        VehicleTables.from_meta(future)
    with pytest.raises(VehicleLayoutError, match="not readable"):
        VehicleTables.from_meta(b"\xc1")


def _write_layout_1(client: redis.Redis, prefix: str, vehicles: list[Vehicle]) -> None:
    """A register as the previous release wrote it: one key per plate, no hash tags."""
    client.set(f"{prefix}:veh:cur", "4")
    client.set(f"{prefix}:veh:size", len(vehicles))
    client.mset({f"{prefix}:veh:4:{v.plate}": encode_vehicle(v) for v in vehicles})


VAN = Vehicle("VBB12B", "Bedrijfsauto", 2800, fuels=(Fuel("Diesel", "4"),))
EV = Vehicle("VBB13B", "Bedrijfsauto", 2400, fuels=(Fuel("Elektriciteit", "Z"),))
DESK_GRANT = Exemption.day_permit("VBB12B", "Utrecht", date(2026, 6, 3), reference="desk-1")


def test_layout_1_is_refused_until_migrated_then_carried_over_whole(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    _write_layout_1(redis_client, redis_prefix, [VAN, EV])
    redis_client.set(f"{redis_prefix}:exm:cur", "2")
    redis_client.set(f"{redis_prefix}:exm:2:VBB12B", encode_exemptions([DESK_GRANT]))
    reader = RedisRegister(redis_client, redis_prefix, secret=SECRET)
    # Never "not in the register" (which would read as an unknown vehicle): refused, by name.
    with pytest.raises(RegisterLayoutError, match=r"layout 1.*zes register migrate"):
        reader.lookup(["VBB12B"], AT)
    with pytest.raises(RegisterLayoutError, match="exemptions register"):
        reader.exemptions(["VBB12B"], AT)
    with pytest.raises(RegisterLayoutError, match="exemptions register"):
        reader.add_exemptions([DESK_GRANT])

    moved = RedisRegister(redis_client, redis_prefix, secret=SECRET).migrate()
    assert moved == {"vehicles": 2, "exemptions": 1}
    view = reader.lookup(["VBB12B", "VBB13B", "XX99XX"], AT)
    assert view.vehicles == {"VBB12B": VAN, "VBB13B": EV}
    assert view.exemptions == {"VBB12B": (DESK_GRANT,)}
    assert list(redis_client.scan_iter(match=f"{redis_prefix}:veh:*")) == []
    assert list(redis_client.scan_iter(match=f"{redis_prefix}:exm:*")) == []
    assert reader.stats()["vehicles"] == 2
    # Migrating again is a no-op.
    assert reader.migrate() == {}


def test_a_reload_replaces_a_layout_1_register_of_its_kind(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    _write_layout_1(redis_client, redis_prefix, [VAN])
    register = RedisRegister(redis_client, redis_prefix, secret=SECRET)
    assert register.replace_vehicles([EV]) == 1
    assert register.vehicles(["VBB12B", "VBB13B"]) == {"VBB13B": EV}
    assert list(redis_client.scan_iter(match=f"{redis_prefix}:veh:*")) == []


def test_the_stream_reader_refuses_layout_1_too(
    redis_client: redis.Redis, redis_url: str, redis_prefix: str
) -> None:
    _write_layout_1(redis_client, redis_prefix, [VAN])

    async def run() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            reader = AsyncRedisRegister(client, redis_prefix, secret=SECRET)
            with pytest.raises(RegisterLayoutError, match="zes register migrate"):
                await reader.lookup(["VBB12B"], AT)
            assert RedisRegister(redis_client, redis_prefix).migrate() == {"vehicles": 1}
            assert (await reader.lookup(["VBB12B"], AT)).vehicles == {"VBB12B": VAN}
        finally:
            await client.aclose()

    asyncio.run(run())


def test_a_lookup_decodes_its_own_generation_even_after_a_reload(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    register = RedisRegister(redis_client, redis_prefix, secret=SECRET)
    register.replace_vehicles([VAN, EV])
    before = register.lookup(["VBB12B", "VBB13B", "XX99XX"], AT).vehicles
    changed = Vehicle("VBB12B", "Personenauto", 1200)
    register.replace_vehicles([changed])  # new tables, new buckets, the old ones dropped
    # Decoded only now, from the bytes and tables read at lookup time.
    assert before.get("VBB12B") == VAN and "VBB13B" in before and "XX99XX" not in before
    assert dict(before) == {"VBB12B": VAN, "VBB13B": EV}
    after = register.lookup(["VBB12B", "VBB13B"], AT).vehicles
    assert dict(after) == {"VBB12B": changed}
    # The same reader's cache never hands the old generation's vehicle to the new one.
    assert register.lookup(["VBB12B"], AT).vehicles["VBB12B"] == changed
