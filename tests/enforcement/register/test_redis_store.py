"""The Redis register against a real Redis: codec, lookups, atomic reloads, case claims,
day permits and outages (sync and asyncio)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time as clock
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import msgspec
import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from enforcement.model import LOCAL_TZ, Exemption, ExemptionStatus, Fuel, Vehicle
from enforcement.plates import plate_hash
from enforcement.register.protocol import (
    AsyncRegister,
    CaseClaim,
    ClaimRequest,
    DayPermitUse,
    Register,
    RegisterUnavailable,
)
from enforcement.register.redis import AsyncRedisRegister, RedisRegister, RegisterReloadError
from enforcement.register.redis.codec import (
    decode_exemptions,
    decode_vehicle,
    encode_exemptions,
    encode_vehicle,
)
from zes.embedded import free_port

pytestmark = pytest.mark.redis

SECRET = b"test-secret-0123456789abcdef"
AT = datetime(2026, 6, 3, 12, 0, tzinfo=LOCAL_TZ)

VAN = Vehicle(
    plate="VXL12B",
    kind="Bedrijfsauto",
    max_mass_kg=3500,
    eu_category="N1",
    body="gesloten opbouw",
    body_type_codes=("BB",),
    axles=2,
    length_cm=599,
    first_admission=date(2019, 3, 14),
    first_nl_registration=date(2019, 3, 14),
    fuels=(Fuel("Diesel", "6"),),
)

#: Every field away from its default, including dates before 1970 and a hybrid fuel row.
FULL = Vehicle(
    plate="BXZ99Q",
    kind="Bedrijfsauto",
    max_mass_kg=18_000,
    eu_category="N3",
    body="opleggertrekker",
    body_type_codes=("BC", "SH"),
    body_codes=("15", "04"),
    particularity_codes=(145, 149),
    axles=4,
    length_cm=1_650,
    first_admission=date(1962, 2, 28),
    first_nl_registration=date(2024, 2, 29),
    fuels=(Fuel("Benzine", "6", "OVC-HEV"), Fuel("Elektriciteit", None, "OVC-HEV")),
    fairground=True,
    removal=True,
    exported=True,
    make="DAF",
    commercial_name="XF 480",
    colour="WIT",
    second_colour="BLAUW",
)

BARE = Vehicle(plate="ZZ001Z", kind=None)


def _vehicles(tag: str, count: int) -> list[Vehicle]:
    """`count` vehicles whose `kind` names the load they came from."""
    return [Vehicle(plate=f"T{i:05d}X", kind=tag, axles=2) for i in range(count)]


def _permit(plate: str, day: date, **kwargs: Any) -> Exemption:
    return Exemption.day_permit(plate, "Utrecht", day, **kwargs)


@pytest.fixture
def register(redis_client: redis.Redis, redis_prefix: str) -> RedisRegister:
    return RedisRegister(redis_client, redis_prefix, secret=SECRET)


def _keys(client: redis.Redis, pattern: str) -> list[bytes]:
    return sorted(client.scan_iter(match=pattern, count=1000))


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on."""
    return free_port()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (in the kernel backlog) but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def _dead_client(port: int) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_connect_timeout=0.3,
        socket_timeout=0.3,
        retry=Retry(NoBackoff(), 1),
    )


# -- codec ---------------------------------------------------------------------------------


def test_codec_covers_every_field_of_the_domain_models() -> None:
    """A field added to Vehicle, Fuel or Exemption must be added to the codec too, or it
    would silently vanish in the register."""
    from enforcement.register.redis import codec

    def names(struct: type[msgspec.Struct]) -> set[str]:
        return {f.name for f in msgspec.structs.fields(struct)}

    def dc_names(cls: type) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    assert names(codec._VehicleRec) | {"plate"} == names(Vehicle)
    assert names(codec._FuelRec) == dc_names(Fuel)
    assert names(codec._ExemptionRec) | {"plate"} == dc_names(Exemption)


def test_vehicle_codec_round_trips_every_field() -> None:
    for vehicle in (VAN, FULL, BARE):
        assert decode_vehicle(vehicle.plate, encode_vehicle(vehicle)) == vehicle


def test_typical_van_is_small_and_its_format_is_pinned() -> None:
    raw = encode_vehicle(VAN)
    assert len(raw) < 80
    # The array positions are the stored format: a reorder would misread deployed data.
    assert raw == (
        b"\x9a\xacBedrijfsauto\xcd\r\xac\xa2N1\xafgesloten opbouw\x02\xcd\x02W"
        b"\xcdF1\xcdF1\x91\x92\xa6Diesel\xa16\x91\xa2BB"
    )
    assert len(encode_vehicle(BARE)) <= 2


def test_exemption_codec_round_trips_every_field() -> None:
    exemptions = (
        Exemption(
            plate="VXL12B",
            type="netcongestie",
            scope="NL(RVO)",
            starts_at=datetime(2026, 1, 1, 0, 0, 0, 250_000, tzinfo=LOCAL_TZ),
            ends_before=datetime(2026, 12, 31, 22, 59, 59, tzinfo=UTC),
            status=ExemptionStatus.REVOKED,
            sequence=3,
            reference="RVO-2026-0042",
            note="revoked after audit",
        ),
        Exemption("VXL12B", "dagontheffing", "Utrecht", None, None, ExemptionStatus.REFUSED),
        _permit("VXL12B", date(2026, 3, 10)),
    )
    assert decode_exemptions("VXL12B", encode_exemptions(exemptions)) == exemptions


def test_naive_instants_are_rejected() -> None:
    naive = Exemption("VXL12B", "dagontheffing", "Utrecht", datetime(2026, 1, 1), None)
    with pytest.raises(ValueError, match="timezone-aware"):
        encode_exemptions([naive])


def test_constructor_checks(redis_url: str, redis_client: redis.Redis) -> None:
    text_client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            RedisRegister(text_client)
    finally:
        text_client.close()
    with pytest.raises(ValueError, match="16 bytes"):
        RedisRegister(redis_client, secret=b"short")
    with pytest.raises(ValueError, match="prefix"):
        RedisRegister(redis_client, "")


def test_registers_satisfy_the_protocols(redis_client: redis.Redis) -> None:
    sync: Register = RedisRegister(redis_client, secret=SECRET)
    assert sync is not None
    async_client = redis.asyncio.Redis()
    try:
        asynchronous: AsyncRegister = AsyncRedisRegister(async_client, secret=SECRET)
        assert asynchronous is not None
    finally:
        asyncio.run(async_client.aclose())


# -- lookups -------------------------------------------------------------------------------


def test_round_trip_and_batch_with_missing_plates(register: RedisRegister) -> None:
    assert register.replace_vehicles([VAN, FULL, BARE]) == 3
    long_permit = Exemption.for_dates(
        "VXL12B", "netcongestie", "NL", date(2026, 1, 1), date(2026, 12, 31), reference="N-1"
    )
    assert register.replace_exemptions([long_permit, _permit("BXZ99Q", date(2026, 6, 3))]) == 2

    view = register.lookup(["VXL12B", "NOPE01", "BXZ99Q", "ZZ001Z", "VXL12B"], AT)
    assert dict(view.vehicles) == {"VXL12B": VAN, "BXZ99Q": FULL, "ZZ001Z": BARE}
    assert "NOPE01" not in view.vehicles
    assert view.exemptions == {
        "VXL12B": (long_permit,),
        "BXZ99Q": (_permit("BXZ99Q", date(2026, 6, 3)),),
    }
    assert register.vehicles(["BXZ99Q", "NOPE01"]) == {"BXZ99Q": FULL}
    assert register.exemptions(["ZZ001Z", "VXL12B"], AT) == {"VXL12B": (long_permit,)}
    assert register.lookup([], AT).vehicles == {}


def test_lookup_is_one_round_trip_once_the_generations_are_known(
    register: RedisRegister,
    redis_client: redis.Redis,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register.replace_vehicles([VAN])
    register.replace_exemptions([])
    reader = RedisRegister(redis_client, redis_prefix)
    sent: list[list[tuple[object, ...]]] = []
    real_read = reader._read

    def counting(commands: list[tuple[object, ...]], errors_in_place: bool = False) -> list[object]:
        sent.append([command[:2] for command in commands])
        return real_read(commands, errors_in_place)  # type: ignore[arg-type]

    monkeypatch.setattr(reader, "_read", counting)
    reader.lookup(["VXL12B"], AT)
    # First use: learn the generation pointers, read the vehicle generation's tables, read.
    assert len(sent) == 3
    sent.clear()
    reader.lookup(["VXL12B", "BXZ99Q"], AT)
    assert [[c[0] for c in trip] for trip in sent] == [["MGET", "MGET", "GET", "GET"]]
    sent.clear()
    register.replace_vehicles([FULL])  # another loader flips the vehicle generation
    assert reader.lookup(["VXL12B", "BXZ99Q"], AT).vehicles == {"BXZ99Q": FULL}
    assert len(sent) == 3  # the stale generation is noticed, its tables read, the batch re-read


def test_exemptions_are_those_relevant_at_the_instant(register: RedisRegister) -> None:
    """In the window at `at` (any status: the law cites revoked ones) or with an unknown
    window (the law must see incomplete records); others are left out."""
    day = _permit("VXL12B", date(2026, 3, 10))
    revoked = _permit("VXL12B", date(2026, 3, 11), status=ExemptionStatus.REVOKED)
    refused = Exemption("VXL12B", "dagontheffing", "Utrecht", None, None, ExemptionStatus.REFUSED)
    register.replace_exemptions([day, revoked, refused])

    def at(day_: int, hour: int) -> tuple[Exemption, ...]:
        when = datetime(2026, 3, day_, hour, tzinfo=LOCAL_TZ)
        return register.exemptions(["VXL12B"], when).get("VXL12B", ())

    assert at(10, 12) == (day, refused)
    assert at(11, 5) == (day, revoked, refused)  # the 06:00 tail of the 10th (R22)
    assert at(11, 6) == (revoked, refused)
    assert at(12, 6) == (refused,)
    with pytest.raises(ValueError, match="timezone-aware"):
        register.lookup(["VXL12B"], datetime(2026, 3, 10, 12))


def test_cached_vehicle_follows_a_reload(register: RedisRegister) -> None:
    register.replace_vehicles([VAN])
    assert register.vehicles(["VXL12B"]) == {"VXL12B": VAN}
    changed = msgspec.structs.replace(VAN, max_mass_kg=3000)
    register.replace_vehicles([changed])
    assert register.vehicles(["VXL12B"]) == {"VXL12B": changed}
    register.replace_vehicles([])
    assert register.vehicles(["VXL12B"]) == {}


# -- reloads -------------------------------------------------------------------------------


def test_reload_replaces_and_removes_the_old_generation(
    register: RedisRegister, redis_client: redis.Redis, redis_prefix: str
) -> None:
    seen: list[int] = []
    assert register.replace_vehicles(_vehicles("A", 1200), chunk=500, progress=seen.append) == 1200
    assert seen[:2] == [500, 1000]  # packed, then written
    assert seen[2:] == sorted(seen[2:]) and seen[-1] == 1200
    veh = f"{{{redis_prefix}:veh}}"
    first = _keys(redis_client, f"{veh}:1:*")
    # ~16 vehicles a bucket (the buckets of a small register are emptier), and the meta.
    assert f"{veh}:1:meta".encode() in first and 1200 // 16 < len(first) <= 257

    assert register.replace_vehicles(_vehicles("B", 700), chunk=500) == 700
    assert _keys(redis_client, f"{veh}:1:*") == []
    assert _keys(redis_client, f"{veh}:2:*")
    assert not redis_client.exists(f"{veh}:gens")
    view = register.vehicles([f"T{i:05d}X" for i in range(1200)])
    assert len(view) == 700
    assert {v.kind for v in view.values()} == {"B"}
    assert register.stats()["vehicles"] == 700


def test_exemptions_reload_independently(register: RedisRegister) -> None:
    register.replace_vehicles([VAN])
    register.replace_exemptions([_permit("VXL12B", date(2026, 6, 3))])
    register.replace_exemptions([])
    view = register.lookup(["VXL12B"], AT)
    assert view.vehicles == {"VXL12B": VAN}
    assert view.exemptions == {}


def test_failing_source_leaves_the_old_generation_current(
    register: RedisRegister, redis_client: redis.Redis, redis_prefix: str
) -> None:
    register.replace_vehicles(_vehicles("A", 1000), chunk=300)

    def broken() -> Iterator[Vehicle]:
        yield from _vehicles("B", 1000)[:700]
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        register.replace_vehicles(broken(), chunk=300)
    view = register.vehicles([f"T{i:05d}X" for i in range(1000)])
    assert len(view) == 1000
    assert {v.kind for v in view.values()} == {"A"}
    # The partial generation 2 is gone, and nothing is left for a reaper.
    assert _keys(redis_client, f"{{{redis_prefix}:veh}}:2:*") == []
    assert not redis_client.exists(f"{{{redis_prefix}:veh}}:gens")


def test_a_source_os_error_is_not_mistaken_for_an_outage(register: RedisRegister) -> None:
    register.replace_vehicles([VAN])

    def unreadable() -> Iterator[Vehicle]:
        yield FULL
        raise FileNotFoundError("rdw-export.csv")

    with pytest.raises(FileNotFoundError):
        register.replace_vehicles(unreadable())
    assert register.vehicles(["VXL12B", "BXZ99Q"]) == {"VXL12B": VAN}


def test_reaped_generation_aborts_the_load(
    register: RedisRegister, redis_client: redis.Redis, redis_prefix: str
) -> None:
    """A loader whose generation another loader reaped as stale must not flip to it."""
    register.replace_vehicles(_vehicles("A", 100))

    def reaper(_written: int) -> None:
        redis_client.zrem(f"{{{redis_prefix}:veh}}:gens", "2")

    with pytest.raises(RegisterReloadError):
        register.replace_vehicles(_vehicles("B", 100), chunk=40, progress=reaper)
    assert {v.kind for v in register.vehicles(["T00001X"]).values()} == {"A"}
    assert _keys(redis_client, f"{{{redis_prefix}:veh}}:2:*") == []


def test_a_later_load_reaps_what_a_crashed_load_left(
    register: RedisRegister, redis_client: redis.Redis, redis_prefix: str
) -> None:
    # A crashed loader (heartbeat long ago) and one still running (fresh heartbeat).
    veh = f"{{{redis_prefix}:veh}}"
    redis_client.mset({f"{veh}:98:7": b"x", f"{veh}:99:3": b"y"})
    redis_client.zadd(f"{veh}:gens", {"98": 1, "99": clock.time() * 1000})
    register.replace_vehicles([VAN])
    assert not redis_client.exists(f"{veh}:98:7")
    assert redis_client.exists(f"{veh}:99:3")
    assert redis_client.zrange(f"{veh}:gens", 0, -1) == [b"99"]


def test_concurrent_reader_only_sees_whole_generations(
    register: RedisRegister, redis_url: str, redis_prefix: str
) -> None:
    plates = [f"T{i:05d}X" for i in range(2000)]
    register.replace_vehicles(_vehicles("G0", 2000))
    register.replace_exemptions([])
    stop = threading.Event()
    problems: list[str] = []
    seen: set[str] = set()
    lookups = 0

    def reader() -> None:
        nonlocal lookups
        client = redis.Redis.from_url(redis_url)
        own = RedisRegister(client, redis_prefix)
        try:
            while not stop.is_set():
                view = own.lookup(plates, AT)
                kinds = {v.kind or "" for v in view.vehicles.values()}
                notes = {e.note for es in view.exemptions.values() for e in es}
                if len(view.vehicles) != len(plates) or len(kinds) != 1:
                    problems.append(f"vehicles mixed: {len(view.vehicles)} {sorted(kinds)}")
                if view.exemptions and (len(view.exemptions) != 50 or len(notes) != 1):
                    problems.append(f"exemptions mixed: {len(view.exemptions)} {sorted(notes)}")
                seen.update(kinds)
                lookups += 1
        except Exception as exc:  # reported below rather than lost in the thread
            problems.append(repr(exc))
        finally:
            client.close()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(1, 7):
            slow = lambda _n: clock.sleep(0.002)  # noqa: E731 - interleave with the reader
            register.replace_vehicles(_vehicles(f"G{n}", 2000), chunk=200, progress=slow)
            register.replace_exemptions(
                (Exemption(p, "netcongestie", "NL", None, None, note=f"G{n}") for p in plates[:50]),
                chunk=10,
                progress=slow,
            )
    finally:
        stop.set()
        thread.join()
    assert problems == []
    assert lookups > 5
    assert len(seen) >= 2


# -- incremental grants --------------------------------------------------------------------


def test_add_exemptions_is_idempotent_and_upserts_by_reference(register: RedisRegister) -> None:
    register.replace_exemptions([_permit("VXL12B", date(2026, 6, 2), reference="D-1")])
    today = _permit("VXL12B", date(2026, 6, 3), reference="D-2")
    other = _permit("BXZ99Q", date(2026, 6, 3))
    assert register.add_exemptions([today, other]) == 2
    assert register.add_exemptions([today, other]) == 0
    assert register.exemptions(["VXL12B", "BXZ99Q"], AT) == {
        "VXL12B": (today,),
        "BXZ99Q": (other,),
    }
    revoked = dataclasses.replace(today, status=ExemptionStatus.REVOKED)
    assert register.add_exemptions([revoked]) == 1
    assert register.exemptions(["VXL12B"], AT) == {"VXL12B": (revoked,)}
    assert register.stats()["exemption_plates"] == 2


def test_grants_before_the_first_load_are_cleaned_up(
    register: RedisRegister, redis_client: redis.Redis, redis_prefix: str
) -> None:
    assert register.add_exemptions([_permit("VXL12B", date(2026, 6, 3))]) == 1
    assert "VXL12B" in register.exemptions(["VXL12B"], AT)
    register.replace_exemptions([])
    assert _keys(redis_client, f"{{{redis_prefix}:exm}}:0:*") == []


def test_concurrent_grants_to_one_plate_are_all_kept(
    register: RedisRegister, redis_url: str, redis_prefix: str
) -> None:
    register.replace_exemptions([])
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(40)]

    def grant(part: list[date]) -> None:
        client = redis.Redis.from_url(redis_url)
        try:
            own = RedisRegister(client, redis_prefix)
            for day in part:
                own.add_exemptions([_permit("VXL12B", day)])
        finally:
            client.close()

    threads = [threading.Thread(target=grant, args=(days[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # At noon on each day exactly that day's permit is valid.
    for day in days:
        noon = datetime.combine(day, time(12), LOCAL_TZ)
        assert register.exemptions(["VXL12B"], noon) == {"VXL12B": (_permit("VXL12B", day),)}
    assert register.stats()["exemption_plates"] == 1


# -- case claims (R35) ---------------------------------------------------------------------


def _local(year: int, month: int, day: int, hour: int, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=LOCAL_TZ)


def test_claim_case_24h_is_the_local_calendar_day(register: RedisRegister) -> None:
    claim = register.claim_case
    assert claim("VXL12B", "utrecht", _local(2026, 6, 3, 9), 24) == CaseClaim(
        "VXL12B", "utrecht", date(2026, 6, 3), True
    )
    assert claim("VXL12B", "utrecht", _local(2026, 6, 3, 18), 24) == CaseClaim(
        "VXL12B", "utrecht", date(2026, 6, 3), False
    )
    assert not claim("VXL12B", "utrecht", _local(2026, 6, 3, 23, 59, 59), 24).first
    assert claim("VXL12B", "utrecht", _local(2026, 6, 4, 0, 0), 24) == CaseClaim(
        "VXL12B", "utrecht", date(2026, 6, 4), True
    )
    # Other zones and other plates are separate cases.
    assert claim("VXL12B", "den-haag", _local(2026, 6, 3, 18), 24).first
    assert claim("BXZ99Q", "utrecht", _local(2026, 6, 3, 18), 24).first


def test_claim_case_24h_across_dst(register: RedisRegister) -> None:
    # 25 October 2026 has 25 hours: 00:30 CEST and 23:30 CET are 24 h apart, one day.
    first = register.claim_case("VXL12B", "z", datetime(2026, 10, 24, 22, 30, tzinfo=UTC), 24)
    assert first == CaseClaim("VXL12B", "z", date(2026, 10, 25), True)
    assert register.claim_case("VXL12B", "z", _local(2026, 10, 25, 23, 30), 24) == CaseClaim(
        "VXL12B", "z", date(2026, 10, 25), False
    )
    # 29 March 2026 has 23 hours: 01:59 CET and 03:00 CEST are one minute apart, one day.
    assert register.claim_case("VXL12B", "z", _local(2026, 3, 29, 1, 59), 24).first
    assert not register.claim_case("VXL12B", "z", _local(2026, 3, 29, 3, 0), 24).first
    assert register.claim_case("VXL12B", "z", _local(2026, 3, 30, 0, 0), 24).first


def test_claim_case_48h_holds_from_the_first_violation(register: RedisRegister) -> None:
    start = _local(2026, 6, 3, 23, 50)
    key = ("VXL12B", "utrecht", date(2026, 6, 3))
    opened = register.claim_case("VXL12B", "utrecht", start, 48)
    assert opened == CaseClaim(*key, True)
    assert opened.case_key == "VXL12B:utrecht:2026-06-03"
    # Across local midnight: still the same case (a 24 h zone would open a new one).
    later = start + timedelta(minutes=20)
    assert register.claim_case("VXL12B", "utrecht", later, 48) == CaseClaim(*key, False)
    almost = start + timedelta(hours=47, minutes=59)
    assert register.claim_case("VXL12B", "utrecht", almost, 48) == CaseClaim(*key, False)
    after = start + timedelta(hours=48)
    assert register.claim_case("VXL12B", "utrecht", after, 48) == CaseClaim(
        "VXL12B", "utrecht", date(2026, 6, 5), True
    )
    assert not register.claim_case("VXL12B", "utrecht", after + timedelta(hours=1), 48).first


def test_claim_case_48h_counts_real_hours_across_dst(register: RedisRegister) -> None:
    start = _local(2026, 3, 28, 12, 0)  # CET; the clocks jump forward on the 29th
    assert register.claim_case("VXL12B", "z", start, 48).first
    # 12:59 CEST on the 30th is 47 h 59 min later in real time.
    assert register.claim_case("VXL12B", "z", _local(2026, 3, 30, 12, 59), 48) == CaseClaim(
        "VXL12B", "z", date(2026, 3, 28), False
    )
    assert register.claim_case("VXL12B", "z", _local(2026, 3, 30, 13, 0), 48) == CaseClaim(
        "VXL12B", "z", date(2026, 3, 30), True
    )


def test_claim_case_from_many_workers_opens_one_case(
    register: RedisRegister, redis_url: str, redis_prefix: str
) -> None:
    results: list[bool] = []

    def worker() -> None:
        client = redis.Redis.from_url(redis_url)
        try:
            own = RedisRegister(client, redis_prefix, secret=SECRET)
            for hours in (24, 48):
                results.append(own.claim_case("VXL12B", "utrecht", AT, hours).first)
        finally:
            client.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 14 + [True] * 2


def test_claim_keys_hold_no_plate_text_and_expire(
    register: RedisRegister, redis_client: redis.Redis, redis_prefix: str
) -> None:
    now = datetime.now(LOCAL_TZ)
    register.claim_case("VXL12B", "utrecht", now, 24)
    register.claim_case("VXL12B", "utrecht", now, 48)
    register.use_day_permit("VXL12B", "Utrecht", now.date(), 12)
    keys = _keys(redis_client, f"{redis_prefix}:*")
    assert len(keys) == 3
    assert all(b"VXL12B" not in key for key in keys)
    assert all(plate_hash(SECRET, "VXL12B").encode() in key for key in keys)
    ttls = {key: redis_client.ttl(key) for key in keys}
    day_key = next(k for k in keys if k.endswith(now.date().isoformat().encode()))
    assert 0 < ttls[day_key] <= 26 * 3600
    rolling = next(k for k in keys if k.endswith(b":48h"))
    assert 47 * 3600 < ttls[rolling] <= 50 * 3600
    assert all(ttl > 0 for ttl in ttls.values())


def test_claim_case_needs_the_secret_and_sane_arguments(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    bare = RedisRegister(redis_client, redis_prefix)
    with pytest.raises(RuntimeError, match="secret"):
        bare.claim_case("VXL12B", "z", AT, 24)
    keyed = RedisRegister(redis_client, redis_prefix, secret=SECRET)
    with pytest.raises(ValueError, match="interval_hours"):
        keyed.claim_case("VXL12B", "z", AT, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        keyed.claim_case("VXL12B", "z", datetime(2026, 6, 3, 12), 24)


# -- day permits (R22) ---------------------------------------------------------------------


def test_day_permits_twelve_then_refused(register: RedisRegister) -> None:
    days = [date(2026, 1, 5) + timedelta(days=7 * i) for i in range(13)]
    for n, day in enumerate(days[:12], start=1):
        assert register.use_day_permit("VXL12B", "Utrecht", day, 12) == DayPermitUse(n, True, False)
    assert register.use_day_permit("VXL12B", "Utrecht", days[12], 12) == DayPermitUse(
        12, False, True
    )
    # A day already counted stays usable after the maximum is reached.
    assert register.use_day_permit("VXL12B", "utrecht", days[3], 12) == DayPermitUse(
        12, False, False
    )
    assert register.day_permits_used("VXL12B", "Utrecht", 2026) == 12
    assert register.day_permits_used("VXL12B", "Den Haag", 2026) == 0
    assert register.use_day_permit("VXL12B", "Utrecht", date(2027, 1, 1), 12).consumed


def test_same_day_twice_counts_once(register: RedisRegister) -> None:
    day = date(2026, 6, 3)
    assert register.use_day_permit("VXL12B", "Den Haag", day, 12) == DayPermitUse(1, True, False)
    assert register.use_day_permit("VXL12B", "den-haag", day, 12) == DayPermitUse(1, False, False)
    assert register.day_permits_used("VXL12B", "DEN HAAG", 2026) == 1
    with pytest.raises(ValueError, match="max_per_year"):
        register.use_day_permit("VXL12B", "Den Haag", day, -1)


def test_racing_threads_never_exceed_the_maximum(
    register: RedisRegister, redis_url: str, redis_prefix: str
) -> None:
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(40)]
    outcomes: list[DayPermitUse] = []

    def worker(part: list[date]) -> None:
        client = redis.Redis.from_url(redis_url)
        try:
            own = RedisRegister(client, redis_prefix, secret=SECRET)
            for day in part:
                outcomes.append(own.use_day_permit("VXL12B", "Utrecht", day, 12))
                outcomes.append(own.use_day_permit("VXL12B", "Utrecht", day, 12))
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(days[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(o.consumed for o in outcomes) == 12
    assert all(o.day_count <= 12 for o in outcomes)
    assert sum(o.refused for o in outcomes) >= 28
    assert register.day_permits_used("VXL12B", "Utrecht", 2026) == 12


# -- stats and outages ---------------------------------------------------------------------


def test_stats(register: RedisRegister) -> None:
    assert register.stats()["vehicles"] == 0
    register.replace_vehicles([VAN, FULL])
    register.replace_exemptions([_permit("VXL12B", date(2026, 6, 3))])
    stats = register.stats()
    assert stats["vehicles"] == 2
    assert stats["exemption_plates"] == 1
    assert stats["vehicle_generation"] >= 1
    assert stats["used_memory_bytes"] > 0


def test_closed_port_raises_register_unavailable(closed_port: int) -> None:
    client = _dead_client(closed_port)
    try:
        register = RedisRegister(client, secret=SECRET)
        calls = [
            lambda: register.lookup(["VXL12B"], AT),
            lambda: register.vehicles(["VXL12B"]),
            lambda: register.claim_case("VXL12B", "utrecht", AT, 24),
            lambda: register.claim_case("VXL12B", "utrecht", AT, 48),
            lambda: register.use_day_permit("VXL12B", "Utrecht", AT.date(), 12),
            lambda: register.replace_vehicles([VAN]),
            lambda: register.add_exemptions([_permit("VXL12B", AT.date())]),
            register.stats,
        ]
        for call in calls:
            with pytest.raises(RegisterUnavailable) as caught:
                call()
            assert "VXL12B" not in str(caught.value)
            assert "unavailable" in str(caught.value)
    finally:
        client.close()


def test_silent_server_times_out_as_unavailable(silent_port: int) -> None:
    client = _dead_client(silent_port)
    try:
        with pytest.raises(RegisterUnavailable, match="Timeout"):
            RedisRegister(client).lookup(["VXL12B"], AT)
    finally:
        client.close()


# -- asyncio -------------------------------------------------------------------------------


def test_async_register_reads_and_claims_as_the_sync_one(
    register: RedisRegister, redis_url: str, redis_prefix: str
) -> None:
    """The stream's store: what a tool loaded, read back; claims and day permits shared
    with the sync store (one key space)."""
    assert register.replace_vehicles([VAN, FULL], chunk=1) == 2
    permit = _permit("VXL12B", date(2026, 6, 3))
    assert register.replace_exemptions([permit]) == 1

    async def scenario() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            stream = AsyncRedisRegister(client, redis_prefix, secret=SECRET)
            view = await stream.lookup(["VXL12B", "BXZ99Q", "NOPE01"], AT)
            assert dict(view.vehicles) == {"VXL12B": VAN, "BXZ99Q": FULL}
            assert view.exemptions == {"VXL12B": (permit,)}
            claims = await stream.claim_cases(
                [
                    ClaimRequest("VXL12B", "utrecht", AT, 24),
                    ClaimRequest("VXL12B", "utrecht", AT, 24),
                    ClaimRequest("VXL12B", "utrecht", AT, 48),
                ]
            )
            assert [c.first for c in claims] == [True, False, True]
            use = await stream.use_day_permit("VXL12B", "Utrecht", AT.date(), 12)
            assert use == DayPermitUse(1, True, False)
            register.replace_vehicles([VAN])
            assert dict((await stream.lookup(["BXZ99Q", "VXL12B"], AT)).vehicles) == {"VXL12B": VAN}
        finally:
            await client.aclose()

    asyncio.run(scenario())
    assert not register.claim_case("VXL12B", "utrecht", AT, 24).first
    assert register.day_permits_used("VXL12B", "Utrecht", 2026) == 1


def test_the_async_store_is_the_stream_path_only() -> None:
    """Loads, grants and statistics run on the sync store; the stream's store offers the
    calls of `AsyncRegister` and no more (issue 24: no async twin of every method)."""
    public = {name for name in vars(AsyncRedisRegister) if not name.startswith("_")}
    assert public == {"lookup", "claim_cases", "use_day_permit"}


def test_async_outage_raises_register_unavailable(closed_port: int) -> None:
    async def scenario() -> None:
        client = redis.asyncio.Redis(
            host="127.0.0.1",
            port=closed_port,
            socket_connect_timeout=0.3,
            socket_timeout=0.3,
            retry=AsyncRetry(NoBackoff(), 1),
        )
        try:
            register = AsyncRedisRegister(client, secret=SECRET)
            with pytest.raises(RegisterUnavailable):
                await register.lookup(["VXL12B"], AT)
            with pytest.raises(RegisterUnavailable):
                await register.claim_cases([ClaimRequest("VXL12B", "utrecht", AT, 24)])
            with pytest.raises(RegisterUnavailable):
                await register.use_day_permit("VXL12B", "Utrecht", AT.date(), 12)
        finally:
            await client.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize("interval", [24, 48])
def test_claim_case_is_idempotent_for_the_passage_that_opened_it(
    redis_client: redis.Redis, redis_prefix: str, interval: int
) -> None:
    """A worker that crashed after claiming re-decides the same passage: still first."""
    register = RedisRegister(redis_client, redis_prefix, secret=b"0123456789abcdef-claims")
    at = datetime(2026, 3, 10, 9, 0, tzinfo=LOCAL_TZ)
    opened = register.claim_case("VBB12B", "utrecht", at, interval, opener="passage-1")
    again = register.claim_case("VBB12B", "utrecht", at, interval, opener="passage-1")
    other = register.claim_case("VBB12B", "utrecht", at, interval, opener="passage-2")
    assert (opened.first, again.first, other.first) == (True, True, False)
    assert opened.case_key == again.case_key == other.case_key
