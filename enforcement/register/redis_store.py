"""The vehicle and exemption registers in Redis, for the stream's batched join.

One key layout and one codec serve a synchronous (`RedisRegister`) and an asyncio
(`AsyncRedisRegister`) adapter. The logic is written once, sans I/O: every operation is a
*plan*, a generator that yields Redis work (`_Batch`: one pipelined round trip; `_Read`: the
same for the hot lookup path, pre-packed; `_Watch` / `_Commit`: an optimistic
WATCH/MULTI/EXEC transaction) and receives the replies. Each adapter only runs plans against
its client, so the two cannot drift apart.

Key layout (`P` = prefix, `G` = a generation number, `H` = `plate_hash(plate)`):

    P:veh:cur              current vehicle generation G (absent: "0", an empty register)
    P:veh:next             INCR counter handing out generation numbers
    P:veh:gens             ZSET of non-current generations that may still hold keys:
                           loading ones (score = heartbeat, ms) and retired ones (score 0)
    P:veh:size             vehicle count of the current generation
    P:veh:G:{plate}        one vehicle, msgpack (see `encode_vehicle`)
    P:exm:cur|next|gens|size, P:exm:G:{plate}
                           the same for exemptions: a msgpack list per plate
    P:case:{zone}:H:{date} a 24 h sanction interval: the local calendar day (SET NX)
    P:case:{zone}:H:{n}h   an n-hour rolling sanction interval: "{first ms}|{first date}"
    P:dp:{municipality}:{year}:H
                           SET of the ISO days on which a day permit was used (R22)

Reloads write a whole new generation next to the current one, flip `cur` atomically and
only then delete the old generation (SCAN + UNLINK), so a reader sees either the old or the
new register, never a mixture. Readers cache `cur` and read it in the same pipeline *after*
their MGETs: each generation is current during one contiguous stretch of time only, so if
`cur` still equals the cached value the MGETs read a complete, current generation; otherwise
they retry once with the new one.

Designed for a single Redis primary (with replicas): multi-key MGET across plates does not
map onto Redis Cluster slots.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final, TypeAlias, TypeVar, cast

import hiredis
import msgspec
import redis
import redis.asyncio
import redis.exceptions
from redis.exceptions import NoScriptError, WatchError

from enforcement.model import (
    LOCAL_TZ,
    Exemption,
    ExemptionStatus,
    Fuel,
    Vehicle,
    end_of_day,
    fold_name,
)
from enforcement.plates import plate_hash
from enforcement.register.protocol import (
    CaseClaim,
    ClaimRequest,
    DayPermitUse,
    RegisterUnavailable,
    RegisterView,
)
from enforcement.settings import Settings

__all__ = [
    "AsyncRedisRegister",
    "RedisRegister",
    "RegisterReloadError",
    "decode_exemptions",
    "decode_vehicle",
    "encode_exemptions",
    "encode_vehicle",
    "plate_hash",
]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Errors of Redis I/O that mean "the store cannot answer now", as opposed to a bug or bad
#: data. A read-only replica after a failover counts: writes fail until a primary is back.
#: Only errors raised by Redis calls are converted: an OSError from a loader's own source
#: file stays an OSError.
_OUTAGE: Final = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    OSError,
)

#: How often a lookup re-runs when the generation pointer moved under it. Two flips within
#: one lookup are already unlikely; more means something is flipping in a loop.
_MAX_GENERATION_RETRIES: Final = 4
_SCAN_COUNT: Final = 2000
#: Plates per WATCH/MULTI round in `add_exemptions`: small enough that a concurrent grant
#: rarely conflicts, large enough to amortise the round trips.
_ADD_CHUNK: Final = 500
#: Day-permit sets outlive their year by this much, so January reviews can still count.
_DAY_PERMIT_MARGIN: Final = timedelta(days=31)
_EPOCH_DAY: Final = date(1970, 1, 1).toordinal()


class RegisterReloadError(RuntimeError):
    """A reload lost its new generation (reaped as stale by another loader) and was aborted.

    The previous generation is still current; run the reload again.
    """


# --------------------------------------------------------------------------------------------
# Codec: compact msgpack arrays. The array position *is* the format: once data is deployed,
# add fields at the end only (older values then decode with the default). Rarely-set fields
# come last, and trailing fields equal to their default are not written (msgspec fills them
# in on decode), so a typical van takes ~60 bytes. Dates are day numbers since 1970-01-01
# (3 bytes for any date 1880-2059); instants are epoch seconds UTC (int when whole, float
# otherwise: lossless to the microsecond).
# --------------------------------------------------------------------------------------------


class _FuelRec(msgspec.Struct, array_like=True, frozen=True, gc=False):
    name: str
    emission_class: str | None = None
    hybrid_class: str | None = None


class _VehicleRec(msgspec.Struct, array_like=True, frozen=True, gc=False):
    kind: str | None
    max_mass_kg: int | None = None
    eu_category: str | None = None
    body: str | None = None
    axles: int | None = None
    length_cm: int | None = None
    first_admission: int | None = None
    first_nl_registration: int | None = None
    fuels: tuple[_FuelRec, ...] = ()
    body_type_codes: tuple[str, ...] = ()
    body_codes: tuple[str, ...] = ()
    particularity_codes: tuple[int, ...] = ()
    fairground: bool = False
    removal: bool = False
    exported: bool = False


class _ExemptionRec(msgspec.Struct, array_like=True, frozen=True, gc=False):
    type: str
    scope: str
    starts_at: int | float | None = None
    ends_before: int | float | None = None
    status: ExemptionStatus = ExemptionStatus.GRANTED
    sequence: int | None = None
    reference: str = ""
    note: str = ""


_NO_DEFAULT: Final = object()


def _defaults(struct: type[msgspec.Struct]) -> tuple[object, ...]:
    return tuple(
        _NO_DEFAULT if f.default is msgspec.NODEFAULT else f.default
        for f in msgspec.structs.fields(struct)
    )


_FUEL_DEFAULTS: Final = _defaults(_FuelRec)
_VEHICLE_DEFAULTS: Final = _defaults(_VehicleRec)
_EXEMPTION_DEFAULTS: Final = _defaults(_ExemptionRec)

_encoder: Final = msgspec.msgpack.Encoder()
_vehicle_decoder: Final = msgspec.msgpack.Decoder(_VehicleRec)
_exemptions_decoder: Final = msgspec.msgpack.Decoder(list[_ExemptionRec])

#: Decoded values shared between vehicles: immutable, few distinct ones.
_fuel_cache: dict[tuple[_FuelRec, ...], tuple[Fuel, ...]] = {}
_date_cache: dict[int, date] = {}


def _trim(values: tuple[Any, ...], defaults: tuple[object, ...]) -> tuple[Any, ...]:
    """Drop trailing values that equal their default (type-exact: 0 is not False)."""
    n = len(values)
    while n:
        default = defaults[n - 1]
        value = values[n - 1]
        if default is _NO_DEFAULT or type(value) is not type(default) or value != default:
            break
        n -= 1
    return values[:n]


def _day(value: date | None) -> int | None:
    return None if value is None else value.toordinal() - _EPOCH_DAY


def _date(days: int | None) -> date | None:
    if days is None:
        return None
    found = _date_cache.get(days)
    if found is None:
        if len(_date_cache) > 100_000:
            _date_cache.clear()
        found = _date_cache[days] = date.fromordinal(days + _EPOCH_DAY)
    return found


def _fuels(recs: tuple[_FuelRec, ...]) -> tuple[Fuel, ...]:
    found = _fuel_cache.get(recs)
    if found is None:
        if len(_fuel_cache) > 10_000:
            _fuel_cache.clear()
        found = _fuel_cache[recs] = tuple(
            Fuel(name=f.name, emission_class=f.emission_class, hybrid_class=f.hybrid_class)
            for f in recs
        )
    return found


def encode_vehicle(vehicle: Vehicle) -> bytes:
    """The stored value of a vehicle. The plate is the key, so it is not repeated here."""
    fuels = tuple(
        _trim((f.name, f.emission_class, f.hybrid_class), _FUEL_DEFAULTS) for f in vehicle.fuels
    )
    row = (
        vehicle.kind,
        vehicle.max_mass_kg,
        vehicle.eu_category,
        vehicle.body,
        vehicle.axles,
        vehicle.length_cm,
        _day(vehicle.first_admission),
        _day(vehicle.first_nl_registration),
        fuels,
        tuple(vehicle.body_type_codes),
        tuple(vehicle.body_codes),
        tuple(vehicle.particularity_codes),
        vehicle.fairground,
        vehicle.removal,
        vehicle.exported,
    )
    return _encoder.encode(_trim(row, _VEHICLE_DEFAULTS))


#: Vehicle's fields in the order `_vehicle_values` yields them (by name, not by position in
#: the dataclass, so reordering Vehicle cannot mix values up).
_VEHICLE_FIELDS: Final = (
    "plate",
    "kind",
    "max_mass_kg",
    "eu_category",
    "body",
    "body_type_codes",
    "body_codes",
    "particularity_codes",
    "axles",
    "length_cm",
    "first_admission",
    "first_nl_registration",
    "fuels",
    "fairground",
    "removal",
    "exported",
)


def _vehicle_values(plate: str, rec: _VehicleRec) -> tuple[Any, ...]:
    return (
        plate,
        rec.kind,
        rec.max_mass_kg,
        rec.eu_category,
        rec.body,
        rec.body_type_codes,
        rec.body_codes,
        rec.particularity_codes,
        rec.axles,
        rec.length_cm,
        _date(rec.first_admission),
        _date(rec.first_nl_registration),
        _fuels(rec.fuels),
        rec.fairground,
        rec.removal,
        rec.exported,
    )


def _slot_setters() -> tuple[Callable[[Vehicle, Any], None], ...] | None:
    """Setters for Vehicle's slots, or None when `__init__` must run (validation added).

    A frozen dataclass's `__init__` sets each field through `object.__setattr__`; calling
    the slot descriptors directly does the same in ~half the time, which is most of the
    cost of a cold lookup (decoding is ~0.5 µs, building the Vehicle ~2.5 µs).
    """
    if hasattr(Vehicle, "__post_init__") or not hasattr(Vehicle, "__slots__"):
        return None
    return tuple(getattr(Vehicle, name).__set__ for name in _VEHICLE_FIELDS)


_SETTERS: Final = _slot_setters()
_new_object: Final = object.__new__


def _vehicle_from(plate: str, rec: _VehicleRec) -> Vehicle:
    values = _vehicle_values(plate, rec)
    if _SETTERS is None:
        return Vehicle(**dict(zip(_VEHICLE_FIELDS, values, strict=True)))
    vehicle: Vehicle = _new_object(Vehicle)
    for setter, value in zip(_SETTERS, values, strict=True):
        setter(vehicle, value)
    return vehicle


def decode_vehicle(plate: str, raw: bytes) -> Vehicle:
    """The inverse of `encode_vehicle`."""
    return _vehicle_from(plate, _vehicle_decoder.decode(raw))


def _epoch(instant: datetime | None) -> int | float | None:
    if instant is None:
        return None
    if instant.utcoffset() is None:
        raise ValueError("exemption instants must be timezone-aware")
    seconds = instant.timestamp()
    return int(seconds) if instant.microsecond == 0 else seconds


def _instant(seconds: int | float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, LOCAL_TZ)


def _exemption_rec(exemption: Exemption) -> _ExemptionRec:
    return _ExemptionRec(
        type=exemption.type,
        scope=exemption.scope,
        starts_at=_epoch(exemption.starts_at),
        ends_before=_epoch(exemption.ends_before),
        status=ExemptionStatus(exemption.status),
        sequence=exemption.sequence,
        reference=exemption.reference,
        note=exemption.note,
    )


def _exemption_from(plate: str, rec: _ExemptionRec) -> Exemption:
    return Exemption(
        plate=plate,
        type=rec.type,
        scope=rec.scope,
        starts_at=_instant(rec.starts_at),
        ends_before=_instant(rec.ends_before),
        status=rec.status,
        sequence=rec.sequence,
        reference=rec.reference,
        note=rec.note,
    )


def _encode_recs(recs: Iterable[_ExemptionRec]) -> bytes:
    return _encoder.encode(
        [_trim(msgspec.structs.astuple(rec), _EXEMPTION_DEFAULTS) for rec in recs]
    )


def encode_exemptions(exemptions: Iterable[Exemption]) -> bytes:
    """The stored value of one plate's exemptions (the plate is the key)."""
    return _encode_recs(_exemption_rec(e) for e in exemptions)


def decode_exemptions(plate: str, raw: bytes) -> tuple[Exemption, ...]:
    """The inverse of `encode_exemptions`: every stored exemption, unfiltered."""
    return tuple(_exemption_from(plate, rec) for rec in _exemptions_decoder.decode(raw))


def _relevant(rec: _ExemptionRec, at: float | None) -> bool:
    """Does an exemption bear on a passage at `at`? Its window contains `at`, whatever its
    status (the law cites refused and revoked permits), or its window is unknown (the law
    must see incomplete records to answer "undetermined" rather than "violation").
    `at` None: every exemption of the plate (the stream decides a batch spanning hours, and
    a reviewer wants to see the permit that expired yesterday)."""
    if at is None or rec.starts_at is None or rec.ends_before is None:
        return True
    return rec.starts_at <= at < rec.ends_before


def _merge(current: list[_ExemptionRec], incoming: Iterable[_ExemptionRec]) -> int:
    """Add `incoming` to `current` in place; return how many records were added or changed.

    Idempotent: a record already present is skipped. A record with the same issuer reference
    (and type and scope) as a stored one replaces it, so a revocation updates the grant.
    """
    changed = 0
    for rec in incoming:
        if rec in current:
            continue
        if rec.reference:
            for i, old in enumerate(current):
                if (old.reference, old.type, old.scope) == (rec.reference, rec.type, rec.scope):
                    current[i] = rec
                    break
            else:
                current.append(rec)
        else:
            current.append(rec)
        changed += 1
    return changed


def _timestamp(at: datetime) -> float:
    if at.utcoffset() is None:
        raise ValueError("`at` must be timezone-aware (R39)")
    return at.timestamp()


def _now_ms() -> int:
    return int(time.time() * 1000)


_GLOB_SPECIAL: Final = re.compile(r"([*?\[\]\\])")


def _glob_escape(text: str) -> str:
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def _text(raw: object) -> str | None:
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


# --------------------------------------------------------------------------------------------
# Lua: the few read-decide-write steps that must be atomic across workers.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Script:
    text: str
    sha: str

    @classmethod
    def of(cls, text: str) -> _Script:
        return cls(text, hashlib.sha1(text.encode()).hexdigest())


#: KEYS cur, gens, size; ARGV gen, size. Make `gen` current unless it was reaped meanwhile;
#: retire the old generation (score 0 = reap at once). Returns {1, old} or {0}.
_FLIP: Final = _Script.of("""
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {0} end
local old = redis.call('GET', KEYS[1]) or '0'
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
if old ~= ARGV[1] then redis.call('ZADD', KEYS[2], 0, old) end
return {1, old}
""")

#: KEYS case; ARGV at_ms, span_ms, local date, expire-at ms. A rolling n-hour interval
#: opened by the first violation: sightings within `span` of it join its case. Returns
#: {first (0/1), case date}.
_ROLLING_CASE: Final = _Script.of("""
local at = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  local sep2 = string.find(cur, '|', sep + 1, true)
  local t0 = tonumber(string.sub(cur, 1, sep - 1))
  local day = string.sub(cur, sep + 1, sep2 - 1)
  local opener = string.sub(cur, sep2 + 1)
  if at > t0 - span and at < t0 + span then
    if ARGV[5] ~= '' and opener == ARGV[5] then return {1, day} end
    return {0, day}
  end
  if at < t0 then return {1, ARGV[3]} end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[3] .. '|' .. ARGV[5], 'PXAT', ARGV[4])
return {1, ARGV[3]}
""")

#: KEYS permit-day set; ARGV day, max, expire-at s. Returns {count, consumed, refused}.
_DAY_PERMIT: Final = _Script.of("""
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  return {redis.call('SCARD', KEYS[1]), 0, 0}
end
local n = redis.call('SCARD', KEYS[1])
if n >= tonumber(ARGV[2]) then return {n, 0, 1} end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
return {n + 1, 1, 0}
""")


# --------------------------------------------------------------------------------------------
# Plans: the logic, written once. A plan yields these and gets the replies sent back.
# --------------------------------------------------------------------------------------------

_Arg: TypeAlias = str | bytes | int | float
_Command: TypeAlias = tuple[_Arg, ...]


@dataclass(frozen=True, slots=True)
class _Batch:
    """Run commands in one pipeline (one round trip). Reply: one result per command, with
    a command's error as an exception object in its place."""

    commands: Sequence[_Command]


@dataclass(frozen=True, slots=True)
class _Read:
    """Plain reads (GET/MGET) in one round trip, on the hot lookup path. Reply: the raw
    replies; an error reply is raised. Sent pre-packed by hiredis on a pooled connection:
    redis-py's pipeline spends about as long re-checking each of the ~2000 arguments of a
    batch in Python as the whole round trip takes."""

    commands: Sequence[_Command]


@dataclass(frozen=True, slots=True)
class _Watch:
    """WATCH `keys` on a held connection, then run `reads` there. Reply: the read results."""

    keys: Sequence[str]
    reads: Sequence[_Command]


@dataclass(frozen=True, slots=True)
class _Commit:
    """MULTI, `commands`, EXEC on the watching connection. Reply: the results, or None when
    a watched key changed (nothing was written)."""

    commands: Sequence[_Command]


_Op: TypeAlias = _Batch | _Read | _Watch | _Commit
_Plan: TypeAlias = Generator[_Op, Any, _T]


def _ok(results: list[Any]) -> list[Any]:
    """The replies of a `_Batch`, raising the first error reply (an outage as
    `RegisterUnavailable`)."""
    for result in results:
        if isinstance(result, Exception):
            _raise_reply(result)
    return results


def _raise_reply(error: Exception) -> None:
    if isinstance(error, _OUTAGE):
        raise _unavailable("reply", error) from error
    raise error


@dataclass(frozen=True, slots=True)
class _Kind:
    """The keys of one independently reloaded register (vehicles or exemptions)."""

    name: str
    base: str

    @property
    def cur(self) -> str:
        return f"{self.base}:cur"

    @property
    def next(self) -> str:
        return f"{self.base}:next"

    @property
    def gens(self) -> str:
        return f"{self.base}:gens"

    @property
    def size(self) -> str:
        return f"{self.base}:size"

    def data(self, gen: str) -> str:
        """The key prefix of generation `gen`'s per-plate keys."""
        return f"{self.base}:{gen}:"


class _Core:
    """Key layout, codec use and every algorithm; no I/O of its own."""

    def __init__(
        self,
        prefix: str,
        secret: bytes | None,
        *,
        vehicle_cache_size: int,
        case_margin: timedelta,
        stale_load_after: timedelta,
    ) -> None:
        if not prefix:
            raise ValueError("the key prefix must not be empty")
        if secret is not None and len(secret) < 16:
            raise ValueError("the plate-hash secret must be at least 16 bytes")
        if vehicle_cache_size < 0:
            raise ValueError("vehicle_cache_size must be >= 0")
        self.prefix = prefix
        self.veh = _Kind("vehicles", f"{prefix}:veh")
        self.exm = _Kind("exemptions", f"{prefix}:exm")
        self._secret = secret
        self._case_margin_ms = int(case_margin.total_seconds() * 1000)
        self._stale_ms = int(stale_load_after.total_seconds() * 1000)
        # Cached generation pointers (None: not read yet). Plain attribute writes: safe to
        # share one register between threads.
        self._gens: dict[str, str | None] = {self.veh.name: None, self.exm.name: None}
        # Plate -> (stored bytes, decoded vehicle). Building a frozen 15-field dataclass
        # costs more than fetching it; the same vans pass every day, and comparing the
        # bytes keeps the cache exact across reloads.
        self._vehicle_cache: dict[str, tuple[bytes, Vehicle]] = {}
        self._vehicle_cache_size = vehicle_cache_size

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def batch(*commands: _Command) -> _Plan[list[Any]]:
        return _ok((yield _Batch(commands)))

    def eval(self, script: _Script, keys: Sequence[str], args: Sequence[_Arg]) -> _Plan[Any]:
        """EVALSHA, falling back to EVAL when the server lost its script cache (restart,
        failover): one round trip in the normal case."""
        tail = (len(keys), *keys, *args)
        (result,) = yield _Batch([("EVALSHA", script.sha, *tail)])
        if isinstance(result, NoScriptError):
            (result,) = yield from self.batch(("EVAL", script.text, *tail))
        elif isinstance(result, Exception):
            _raise_reply(result)
        return result

    def _hash(self, plate: str) -> str:
        if self._secret is None:
            raise RuntimeError("case and day-permit keys need the register's `secret`")
        return plate_hash(self._secret, plate)

    # -- reads ------------------------------------------------------------------------------

    def read(
        self, plates: Sequence[str], at: datetime | None, *, vehicles: bool, exemptions: bool
    ) -> _Plan[RegisterView]:
        """MGET vehicles and/or exemptions plus the generation pointers, one round trip."""
        at_ts = _timestamp(at) if at is not None else None
        plates = list(plates)
        if not plates:
            return RegisterView({}, {})
        kinds = [k for k, wanted in ((self.veh, vehicles), (self.exm, exemptions)) if wanted]
        for _attempt in range(_MAX_GENERATION_RETRIES):
            used = {k.name: self._gens[k.name] for k in kinds}
            commands: list[_Command] = []
            for kind in kinds:
                gen = used[kind.name]
                if gen is not None:
                    data = kind.data(gen)
                    commands.append(("MGET", *[data + plate for plate in plates]))
            # The pointers come last: read after the data, they prove the data was current.
            commands.extend(("GET", kind.cur) for kind in kinds)
            results = yield _Read(commands)
            pointers = results[-len(kinds) :]
            fresh = True
            for kind, raw in zip(kinds, pointers, strict=True):
                now = _text(raw) or "0"
                if now != used[kind.name]:
                    self._gens[kind.name] = now
                    fresh = False
            if not fresh:
                continue
            found = iter(results[: -len(kinds)])
            vehicle_map = self._decode_vehicles(plates, next(found)) if vehicles else {}
            exemption_map = (
                self._decode_exemptions(plates, next(found), at_ts) if exemptions else {}
            )
            return RegisterView(vehicle_map, exemption_map)
        raise RegisterUnavailable("the register generation kept changing during a lookup")

    def _decode_vehicles(self, plates: list[str], raws: list[bytes | None]) -> dict[str, Vehicle]:
        cache = self._vehicle_cache
        limit = self._vehicle_cache_size
        out: dict[str, Vehicle] = {}
        for plate, raw in zip(plates, raws, strict=True):
            if raw is None:
                continue
            hit = cache.get(plate)
            if hit is not None and hit[0] == raw:
                out[plate] = hit[1]
                continue
            vehicle = out[plate] = _vehicle_from(plate, _vehicle_decoder.decode(raw))
            if len(cache) < limit:
                # A full cache keeps what it has: with more distinct plates than entries,
                # clearing it would empty it again and again (measured: slower than no
                # cache at 1M vehicles); an LRU would cost on every hit.
                cache[plate] = (raw, vehicle)
        return out

    @staticmethod
    def _decode_exemptions(
        plates: list[str], raws: list[bytes | None], at: float | None
    ) -> dict[str, tuple[Exemption, ...]]:
        out: dict[str, tuple[Exemption, ...]] = {}
        for plate, raw in zip(plates, raws, strict=True):
            if raw is None:
                continue
            relevant = tuple(
                _exemption_from(plate, rec)
                for rec in _exemptions_decoder.decode(raw)
                if _relevant(rec, at)
            )
            if relevant:
                out[plate] = relevant
        return out

    # -- reloads ----------------------------------------------------------------------------

    def replace(
        self,
        kind: _Kind,
        rows: Iterable[tuple[str, bytes]],
        chunk: int,
        progress: Callable[[int], None] | None,
    ) -> _Plan[int]:
        """Write a new generation in MSET chunks, flip `cur` to it, drop the old one."""
        if chunk < 1:
            raise ValueError("chunk must be >= 1")
        (number,) = yield from self.batch(("INCR", kind.next))
        gen = str(number)
        # Registered before the first key is written, so a crash leaves it findable.
        yield from self.batch(("ZADD", kind.gens, _now_ms(), gen))
        written = 0
        try:
            data = kind.data(gen)
            pairs: list[_Arg] = []
            for plate, value in rows:
                pairs.append(data + plate)
                pairs.append(value)
                if len(pairs) >= 2 * chunk:
                    written += yield from self._write_chunk(kind, gen, pairs)
                    pairs = []
                    if progress is not None:
                        progress(written)
            if pairs:
                written += yield from self._write_chunk(kind, gen, pairs)
                if progress is not None:
                    progress(written)
            flipped = yield from self.eval(_FLIP, (kind.cur, kind.gens, kind.size), (gen, written))
            if not flipped[0]:
                raise RegisterReloadError(
                    f"the new {kind.name} generation was reaped by another loader"
                )
        except Exception:
            # Old generation stays current; remove what we wrote (or a later load will).
            yield from self._abandon(kind, gen)
            raise
        self._gens[kind.name] = gen
        yield from self._drop_quietly(kind, _text(flipped[1]) or "0")
        yield from self._reap_quietly(kind)
        return written

    def _write_chunk(self, kind: _Kind, gen: str, pairs: list[_Arg]) -> _Plan[int]:
        results = yield from self.batch(
            ("MSET", *pairs),
            # Heartbeat (XX: never re-register a generation that was reaped) and proof that
            # it is still ours, in the same round trip as the data.
            ("ZADD", kind.gens, "XX", _now_ms(), gen),
            ("ZSCORE", kind.gens, gen),
        )
        if results[2] is None:
            raise RegisterReloadError(f"the new {kind.name} generation was reaped mid-load")
        return len(pairs) // 2

    def drop(self, kind: _Kind, gen: str) -> _Plan[int]:
        """UNLINK every key of a generation (SCAN, each batch's UNLINK riding along with
        the next SCAN), then forget the generation."""
        pattern = _glob_escape(kind.data(gen)) + "*"
        cursor = 0
        pending: list[bytes] = []
        removed = 0
        while True:
            commands: list[_Command] = []
            if pending:
                commands.append(("UNLINK", *pending))
                removed += len(pending)
            commands.append(("SCAN", cursor, "MATCH", pattern, "COUNT", _SCAN_COUNT))
            results = yield from self.batch(*commands)
            cursor, pending = int(results[-1][0]), list(results[-1][1])
            if cursor == 0:
                break
        tail: list[_Command] = [("ZREM", kind.gens, gen)]
        if pending:
            tail.insert(0, ("UNLINK", *pending))
            removed += len(pending)
        yield from self.batch(*tail)
        return removed

    def _abandon(self, kind: _Kind, gen: str) -> _Plan[None]:
        """Drop a failed load's generation, unless the failure was a lost *reply* to a flip
        that did happen: then `gen` is current and must stay."""
        try:
            (current,) = yield from self.batch(("GET", kind.cur))
        except Exception as exc:
            _log.warning("could not check %s generation %s (%s)", kind.name, gen, exc)
            return
        if _text(current) != gen:
            yield from self._drop_quietly(kind, gen)

    def _drop_quietly(self, kind: _Kind, gen: str) -> _Plan[None]:
        try:
            yield from self.drop(kind, gen)
        except Exception as exc:
            # The generation stays listed in `gens`; the next load reaps it.
            _log.warning(
                "could not remove %s generation %s (%s); a later load will", kind.name, gen, exc
            )

    def _reap_quietly(self, kind: _Kind) -> _Plan[None]:
        """Remove generations left behind by crashed or failed loads."""
        try:
            (stale,) = yield from self.batch(
                ("ZRANGEBYSCORE", kind.gens, "-inf", _now_ms() - self._stale_ms)
            )
            for gen in stale:
                yield from self.drop(kind, _text(gen) or "0")
        except Exception as exc:
            _log.warning("could not reap stale %s generations (%s)", kind.name, exc)

    def replace_exemptions(
        self,
        exemptions: Iterable[Exemption],
        chunk: int,
        progress: Callable[[int], None] | None,
    ) -> _Plan[int]:
        # One key holds all of a plate's exemptions, so group before writing anything.
        grouped: dict[str, list[_ExemptionRec]] = {}
        for exemption in exemptions:
            _merge(grouped.setdefault(exemption.plate, []), (_exemption_rec(exemption),))
        rows = ((plate, _encode_recs(recs)) for plate, recs in grouped.items())
        return (yield from self.replace(self.exm, rows, chunk, progress))

    def add_exemptions(self, exemptions: Iterable[Exemption]) -> _Plan[int]:
        """Merge grants into the current exemption generation (optimistic transaction:
        a concurrent grant or a reload flip makes the round start over)."""
        grouped: dict[str, list[_ExemptionRec]] = {}
        for exemption in exemptions:
            grouped.setdefault(exemption.plate, []).append(_exemption_rec(exemption))
        plates = list(grouped)
        changed = 0
        for start in range(0, len(plates), _ADD_CHUNK):
            part = plates[start : start + _ADD_CHUNK]
            while True:
                (raw_gen,) = yield _Watch([self.exm.cur], [("GET", self.exm.cur)])
                data = self.exm.data(_text(raw_gen) or "0")
                keys = [data + plate for plate in part]
                (raws,) = yield _Watch(keys, [("MGET", *keys)])
                writes: list[_Arg] = []
                new_plates = part_changed = 0
                for plate, key, raw in zip(part, keys, raws, strict=True):
                    current = [] if raw is None else _exemptions_decoder.decode(raw)
                    n = _merge(current, grouped[plate])
                    if n:
                        part_changed += n
                        new_plates += raw is None
                        writes.extend((key, _encode_recs(current)))
                commands: list[_Command] = []
                if writes:
                    commands.append(("MSET", *writes))
                if new_plates:
                    commands.append(("INCRBY", self.exm.size, new_plates))
                if (yield _Commit(commands)) is not None:
                    changed += part_changed
                    break
        return changed

    # -- cases and day permits --------------------------------------------------------------

    def claim_case(
        self, plate: str, zone_id: str, at: datetime, interval_hours: int, opener: str = ""
    ) -> _Plan[CaseClaim]:
        (claim,) = yield from self.claim_cases([(plate, zone_id, at, interval_hours, opener)])
        return claim

    def claim_cases(self, requests: Sequence[ClaimRequest]) -> _Plan[list[CaseClaim]]:
        """Claim many cases in one round trip (the stream claims a whole batch at once).

        24 h: SET NX then GET; the stored opener tells a re-decision of the opening passage
        (after a crash) that it is still the first. Other intervals: a rolling window in Lua.
        """
        now_ms = _now_ms()
        commands: list[_Command] = []
        shapes: list[tuple[str, str, str, int]] = []  # plate, zone, day, commands used
        for plate, zone_id, at, interval_hours, opener in requests:
            if interval_hours < 1:
                raise ValueError("interval_hours must be >= 1")
            at_ms = int(_timestamp(at) * 1000)  # also rejects a naive instant
            day = at.astimezone(LOCAL_TZ).date()
            base = f"{self.prefix}:case:{zone_id}:{self._hash(plate)}"
            if interval_hours == 24:
                # R35: one sanction per local calendar day (23 or 25 hours around DST).
                end_ms = int(end_of_day(day).timestamp() * 1000)
                expire_ms = max(end_ms, now_ms) + self._case_margin_ms
                key = f"{base}:{day.isoformat()}"
                commands.append(("SET", key, opener or "1", "NX", "PXAT", expire_ms))
                commands.append(("GET", key))
                shapes.append((plate, zone_id, day.isoformat(), 2))
            else:
                span_ms = interval_hours * 3_600_000
                expire_ms = max(at_ms + span_ms, now_ms) + self._case_margin_ms
                tail = (1, f"{base}:{interval_hours}h", at_ms, span_ms, day.isoformat())
                commands.append(("EVALSHA", _ROLLING_CASE.sha, *tail, expire_ms, opener))
                shapes.append((plate, zone_id, day.isoformat(), 1))
        replies = list((yield _Batch(commands))) if commands else []
        if any(isinstance(r, NoScriptError) for r in replies):
            # The server lost its script cache (restart, failover): load it, then redo.
            yield from self.batch(("SCRIPT", "LOAD", _ROLLING_CASE.text))
            replies = list((yield _Batch(commands)))
        claims: list[CaseClaim] = []
        position = 0
        for (plate, zone_id, day_text, used), request in zip(shapes, requests, strict=True):
            reply = replies[position : position + used]
            position += used
            for item in reply:
                if isinstance(item, Exception):
                    _raise_reply(item)
            opener = request[4]
            if used == 2:
                opened, stored = reply
                first = bool(opened) or (bool(opener) and _text(stored) == opener)
                claims.append(CaseClaim(f"{plate}:{zone_id}:{day_text}", first))
            else:
                first_flag, case_day = reply[0]
                claims.append(CaseClaim(f"{plate}:{zone_id}:{_text(case_day)}", bool(first_flag)))
        return claims

    def _permit_key(self, plate: str, municipality: str, year: int) -> str:
        folded = fold_name(municipality)
        if not folded:
            raise ValueError("municipality must not be empty")
        return f"{self.prefix}:dp:{folded}:{year}:{self._hash(plate)}"

    def use_day_permit(
        self, plate: str, municipality: str, day: date, max_per_year: int
    ) -> _Plan[DayPermitUse]:
        if max_per_year < 0:
            raise ValueError("max_per_year must be >= 0")
        key = self._permit_key(plate, municipality, day.year)
        year_end = end_of_day(date(day.year, 12, 31)) + _DAY_PERMIT_MARGIN
        expire_s = int(max(year_end.timestamp(), time.time() + _DAY_PERMIT_MARGIN.total_seconds()))
        count, consumed, refused = yield from self.eval(
            _DAY_PERMIT, (key,), (day.isoformat(), max_per_year, expire_s)
        )
        return DayPermitUse(int(count), bool(consumed), bool(refused))

    def day_permits_used(self, plate: str, municipality: str, year: int) -> _Plan[int]:
        (count,) = yield from self.batch(("SCARD", self._permit_key(plate, municipality, year)))
        return int(count)

    def stats(self) -> _Plan[dict[str, int]]:
        veh_gen, veh_size, exm_gen, exm_size, memory = yield from self.batch(
            ("GET", self.veh.cur),
            ("GET", self.veh.size),
            ("GET", self.exm.cur),
            ("GET", self.exm.size),
            ("INFO", "memory"),
        )
        return {
            "vehicles": int(veh_size or 0),
            "vehicle_generation": int(veh_gen or 0),
            "exemption_plates": int(exm_size or 0),
            "exemption_generation": int(exm_gen or 0),
            "used_memory_bytes": int(memory["used_memory"]),
        }


def _pack(commands: Sequence[_Command]) -> list[bytes]:
    # hiredis accepts any tuple of str, bytes, int and float (its stub says a 1-tuple).
    return [hiredis.pack_command(cast(Any, command)) for command in commands]


def _unavailable(what: str, exc: BaseException) -> RegisterUnavailable:
    # Redis connection errors name host and port, never keys: safe to pass on.
    return RegisterUnavailable(f"Redis register unavailable ({what}): {type(exc).__name__}: {exc}")


def _io_error(what: str, exc: Exception) -> Exception:
    """What a failed Redis call raises inside the plan: outages become
    `RegisterUnavailable` (chained to the cause), anything else stays as it is."""
    if isinstance(exc, _OUTAGE):
        unavailable = _unavailable(what, exc)
        unavailable.__cause__ = exc
        return unavailable
    return exc


# --------------------------------------------------------------------------------------------
# The adapters: run plans, nothing else.
# --------------------------------------------------------------------------------------------


def _make_core(
    client: redis.Redis | redis.asyncio.Redis,
    prefix: str,
    secret: bytes | None,
    vehicle_cache_size: int,
    case_margin: timedelta,
    stale_load_after: timedelta,
) -> _Core:
    """Check the client and build the shared core (both adapters' constructors)."""
    if client.get_connection_kwargs().get("decode_responses"):
        raise ValueError("the register stores msgpack bytes: use decode_responses=False")
    return _Core(
        prefix,
        secret,
        vehicle_cache_size=vehicle_cache_size,
        case_margin=case_margin,
        stale_load_after=stale_load_after,
    )


class RedisRegister:
    """The register on a synchronous `redis.Redis` client (loaders, tools, tests).

    `secret` keys the plate hash of case and day-permit keys (needed for `claim_case`,
    `use_day_permit`, `day_permits_used`); every worker must share it.
    `vehicle_cache_size` bounds the per-instance cache of decoded vehicles (~700 bytes
    each; 0: off). A hit skips decoding (2-3x faster lookups); it stays exact across reloads
    because the stored bytes are compared.
    `case_margin` is how long case keys outlive their interval; `stale_load_after` is how
    long a loading generation may go without a heartbeat before another load reaps it.
    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "zes",
        *,
        secret: bytes | None = None,
        vehicle_cache_size: int = 100_000,
        case_margin: timedelta = timedelta(hours=1),
        stale_load_after: timedelta = timedelta(hours=1),
    ) -> None:
        self._client = client
        self._core = _make_core(
            client, prefix, secret, vehicle_cache_size, case_margin, stale_load_after
        )

    def _run(self, plan: _Plan[_T], what: str) -> _T:
        watching: Any = None
        try:
            op = next(plan)
            while True:
                try:
                    result: Any
                    if isinstance(op, _Batch):
                        pipe: Any = self._client.pipeline(transaction=False)
                        for command in op.commands:
                            pipe.execute_command(*command)
                        result = pipe.execute(raise_on_error=False)
                    elif isinstance(op, _Read):
                        result = self._read(op.commands)
                    elif isinstance(op, _Watch):
                        if watching is None:
                            watching = self._client.pipeline(transaction=True)
                        watching.watch(*op.keys)
                        result = [watching.execute_command(*c) for c in op.reads]
                    else:
                        tx, watching = watching, None
                        try:
                            tx.multi()
                            for command in op.commands:
                                tx.execute_command(*command)
                            result = tx.execute()
                        except WatchError:
                            result = None
                        finally:
                            tx.reset()
                except Exception as exc:
                    op = plan.throw(_io_error(what, exc))  # the plan may clean up, or re-raise
                else:
                    op = plan.send(result)
        except StopIteration as stop:
            return cast(_T, stop.value)
        finally:
            if watching is not None:
                watching.reset()
            plan.close()

    def _read(self, commands: Sequence[_Command]) -> list[Any]:
        """Send pre-packed commands on a pooled connection, under the client's retry
        policy; a connection left with unread replies is closed, never reused."""
        pool: Any = self._client.connection_pool
        conn: Any = pool.get_connection()
        packed = _pack(commands)

        def attempt() -> list[Any]:
            conn.send_packed_command(packed, check_health=True)
            return [conn.read_response() for _ in commands]

        try:
            return cast(
                list[Any], conn.retry.call_with_retry(attempt, lambda _e: conn.disconnect())
            )
        except BaseException:
            conn.disconnect()
            raise
        finally:
            pool.release(conn)

    def lookup(self, plates: Sequence[str], at: datetime | None = None) -> RegisterView:
        """Vehicles, and the exemptions relevant at `at`, for a batch: one round trip."""
        return self._run(self._core.read(plates, at, vehicles=True, exemptions=True), "lookup")

    def vehicles(self, plates: Sequence[str]) -> dict[str, Vehicle]:
        view = self._run(self._core.read(plates, None, vehicles=True, exemptions=False), "lookup")
        return dict(view.vehicles)

    def exemptions(
        self, plates: Sequence[str], at: datetime | None = None
    ) -> dict[str, tuple[Exemption, ...]]:
        view = self._run(self._core.read(plates, at, vehicles=False, exemptions=True), "lookup")
        return dict(view.exemptions)

    def claim_case(
        self, plate: str, zone_id: str, at: datetime, interval_hours: int, opener: str = ""
    ) -> CaseClaim:
        """Open the sanction case of this violation, or join the one already open (R35)."""
        plan = self._core.claim_case(plate, zone_id, at, interval_hours, opener)
        return self._run(plan, "claim case")

    def claim_cases(self, requests: Sequence[ClaimRequest]) -> list[CaseClaim]:
        """`claim_case` for many violations in one round trip."""
        return self._run(self._core.claim_cases(requests), "claim cases")

    def use_day_permit(
        self, plate: str, municipality: str, day: date, max_per_year: int
    ) -> DayPermitUse:
        """Count local day `day` as a day permit day of this plate in this municipality."""
        plan = self._core.use_day_permit(plate, municipality, day, max_per_year)
        return self._run(plan, "day permit")

    def day_permits_used(self, plate: str, municipality: str, year: int) -> int:
        return self._run(self._core.day_permits_used(plate, municipality, year), "day permit")

    def replace_vehicles(
        self,
        vehicles: Iterable[Vehicle],
        *,
        chunk: int = 5000,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Replace the whole vehicle register atomically; returns the rows written.

        Plates are expected unique (the RDW export is keyed by kenteken): a repeated plate
        keeps its last row but is counted twice. `progress` gets the running row count.
        """
        rows = ((v.plate, encode_vehicle(v)) for v in vehicles)
        return self._run(self._core.replace(self._core.veh, rows, chunk, progress), "reload")

    def replace_exemptions(
        self,
        exemptions: Iterable[Exemption],
        *,
        chunk: int = 5000,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Replace the whole exemption register atomically; returns the plates written.

        A plate's records are merged as in `add_exemptions` (exact duplicates dropped, the
        last record of an issuer reference wins). Grants added with `add_exemptions` while
        this runs are not carried over: the source this reads must already contain them.
        """
        return self._run(self._core.replace_exemptions(exemptions, chunk, progress), "reload")

    def add_exemptions(self, exemptions: Iterable[Exemption]) -> int:
        """Add grants to the current exemption generation; returns records added or changed
        (idempotent; the same issuer reference replaces, e.g. a revocation)."""
        return self._run(self._core.add_exemptions(exemptions), "add exemptions")

    def stats(self) -> dict[str, int]:
        return self._run(self._core.stats(), "stats")


class AsyncRedisRegister:
    """The register on a `redis.asyncio.Redis` client (the Faust stream). Same API and
    options as `RedisRegister`, every method a coroutine."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        prefix: str = "zes",
        *,
        secret: bytes | None = None,
        vehicle_cache_size: int = 100_000,
        case_margin: timedelta = timedelta(hours=1),
        stale_load_after: timedelta = timedelta(hours=1),
    ) -> None:
        self._client = client
        self._core = _make_core(
            client, prefix, secret, vehicle_cache_size, case_margin, stale_load_after
        )

    async def _run(self, plan: _Plan[_T], what: str) -> _T:
        watching: Any = None
        try:
            op = next(plan)
            while True:
                try:
                    result: Any
                    if isinstance(op, _Batch):
                        pipe: Any = self._client.pipeline(transaction=False)
                        for command in op.commands:
                            pipe.execute_command(*command)
                        result = await pipe.execute(raise_on_error=False)
                    elif isinstance(op, _Read):
                        result = await self._read(op.commands)
                    elif isinstance(op, _Watch):
                        if watching is None:
                            watching = self._client.pipeline(transaction=True)
                        await watching.watch(*op.keys)
                        result = [
                            await cast(Awaitable[Any], watching.execute_command(*c))
                            for c in op.reads
                        ]
                    else:
                        tx, watching = watching, None
                        try:
                            tx.multi()
                            for command in op.commands:
                                tx.execute_command(*command)
                            result = await tx.execute()
                        except WatchError:
                            result = None
                        finally:
                            await tx.reset()
                except Exception as exc:
                    op = plan.throw(_io_error(what, exc))
                else:
                    op = plan.send(result)
        except StopIteration as stop:
            return cast(_T, stop.value)
        finally:
            if watching is not None:
                await watching.reset()
            plan.close()

    async def _read(self, commands: Sequence[_Command]) -> list[Any]:
        pool: Any = self._client.connection_pool
        conn: Any = await pool.get_connection()
        packed = _pack(commands)

        async def attempt() -> list[Any]:
            await conn.send_packed_command(packed, check_health=True)
            return [await conn.read_response() for _ in commands]

        async def fail(_error: Exception) -> None:
            await conn.disconnect()

        try:
            return cast(list[Any], await conn.retry.call_with_retry(attempt, fail))
        except BaseException:
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)

    async def lookup(self, plates: Sequence[str], at: datetime | None = None) -> RegisterView:
        plan = self._core.read(plates, at, vehicles=True, exemptions=True)
        return await self._run(plan, "lookup")

    async def vehicles(self, plates: Sequence[str]) -> dict[str, Vehicle]:
        plan = self._core.read(plates, None, vehicles=True, exemptions=False)
        return dict((await self._run(plan, "lookup")).vehicles)

    async def exemptions(
        self, plates: Sequence[str], at: datetime | None = None
    ) -> dict[str, tuple[Exemption, ...]]:
        plan = self._core.read(plates, at, vehicles=False, exemptions=True)
        return dict((await self._run(plan, "lookup")).exemptions)

    async def claim_case(
        self, plate: str, zone_id: str, at: datetime, interval_hours: int, opener: str = ""
    ) -> CaseClaim:
        plan = self._core.claim_case(plate, zone_id, at, interval_hours, opener)
        return await self._run(plan, "claim case")

    async def claim_cases(self, requests: Sequence[ClaimRequest]) -> list[CaseClaim]:
        return await self._run(self._core.claim_cases(requests), "claim cases")

    async def use_day_permit(
        self, plate: str, municipality: str, day: date, max_per_year: int
    ) -> DayPermitUse:
        plan = self._core.use_day_permit(plate, municipality, day, max_per_year)
        return await self._run(plan, "day permit")

    async def day_permits_used(self, plate: str, municipality: str, year: int) -> int:
        plan = self._core.day_permits_used(plate, municipality, year)
        return await self._run(plan, "day permit")

    async def replace_vehicles(
        self,
        vehicles: Iterable[Vehicle],
        *,
        chunk: int = 5000,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        rows = ((v.plate, encode_vehicle(v)) for v in vehicles)
        plan = self._core.replace(self._core.veh, rows, chunk, progress)
        return await self._run(plan, "reload")

    async def replace_exemptions(
        self,
        exemptions: Iterable[Exemption],
        *,
        chunk: int = 5000,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        return await self._run(self._core.replace_exemptions(exemptions, chunk, progress), "reload")

    async def add_exemptions(self, exemptions: Iterable[Exemption]) -> int:
        return await self._run(self._core.add_exemptions(exemptions), "add exemptions")

    async def stats(self) -> dict[str, int]:
        return await self._run(self._core.stats(), "stats")


def register_from(settings: Settings, *, socket_timeout_s: float | None = None) -> RedisRegister:
    """The register the settings name (Redis URL, key prefix, plate-hash secret): the one
    every process decides with. `socket_timeout_s` bounds a call when an outage must not
    hang the caller (the review app, the export)."""
    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=2, socket_timeout=socket_timeout_s
    )
    return RedisRegister(
        client,
        prefix=settings.register_prefix,
        secret=settings.hash_secret.get_secret_value().encode(),
    )
