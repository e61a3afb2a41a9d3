"""The vehicle and exemption registers in Redis, for the stream's batched join: the key
layout and every algorithm, with no I/O of its own.

Every operation is a *plan*, a generator that yields Redis work (`Batch`: one pipelined
round trip; `Read`: the same for the hot lookup path, pre-packed; `Watch` / `Commit`: an
optimistic WATCH/MULTI/EXEC transaction) and receives the replies. The stores only run plans
against their client: `sync_store.RedisRegister` (every operation: loaders, tools, the review
app) and `async_store.AsyncRedisRegister` (the stream's read and claim path), so they cannot
drift apart. `RegisterPlans` is the one entry point; `routing` holds what the stores need of
their client. One module of some 900 lines on purpose: the key layout below is shared by
every plan (reads, reloads with their generations, grants, claims), and each is read against
it; split by operation, the layout would be spelled in several files.

Key layout 2 (`P` = prefix, `G` = a generation number, `H` = `plate_hash(plate)`):

    {P:veh}:cur            current vehicle generation G (absent: "0", an empty register)
    {P:veh}:next           INCR counter handing out generation numbers
    {P:veh}:gens           ZSET of non-current generations that may still hold keys:
                           loading ones (score = heartbeat, ms) and retired ones (score 0)
    {P:veh}:size           vehicle count of the current generation
    {P:veh}:G:meta         the generation's layout, bucket count and tables (`VehicleTables`)
    {P:veh}:G:{bucket}     ~16 vehicles (`encode_bucket`), bucket = crc32(plate) % buckets
    {P:exm}:cur|next|gens|size, {P:exm}:G:{plate}
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

The braces are Redis Cluster hash tags: every key of the vehicle register sits in one slot,
and every key of the exemption register in another, so a lookup's MGET and its pointer
read, a reload's flip and a grant's WATCH/MULTI stay single-slot commands on a Cluster too.
One slot holds a national fleet easily (~40 MB per million vehicles); the case and
day-permit keys, which take the writes, carry no tag and spread over the Cluster.

Layout 1 (`P:veh:G:{plate}`, one key per vehicle, no tags) is refused with
`RegisterLayoutError` while it is the only register there; `migrate` converts it in place,
and a reload of either kind removes that kind's layout-1 keys.
"""

from __future__ import annotations

import logging
import re
import struct
import time
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import compress
from typing import Any, Final, TypeAlias, TypeVar, cast

import redis.exceptions
from redis.exceptions import NoScriptError

from enforcement.model import (
    LOCAL_TZ,
    Exemption,
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
from enforcement.register.redis.codec import (
    BUCKET_TARGET,
    PRE_BUCKETS,
    VEHICLE_LAYOUT,
    VehicleLayoutError,
    VehicleTables,
    _encode_recs,
    _exemption_from,
    _exemption_rec,
    _ExemptionRec,
    _exemptions_decoder,
    _merge,
    _relevant,
    bucket_count,
    bucket_keys,
    bucket_record,
    decode_vehicle,
    encode_bucket,
)
from enforcement.register.redis.scripts import _DAY_PERMIT, _FLIP, _ROLLING_CASE, _Script

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
    # A Cluster without a primary for a slot (failover, resharding) answers these.
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.SlotNotCoveredError,
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


class RegisterLayoutError(RegisterUnavailable):
    """The register in Redis is stored in a layout this release does not read.

    A `RegisterUnavailable`: the stream decides nothing and retries, never reading the
    register as empty. `zes register migrate` converts layout 1 in place."""


class RegisterReloadError(RuntimeError):
    """A reload lost its new generation (reaped as stale by another loader) and was aborted.

    The previous generation is still current; run the reload again.
    """


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
# Plans: the logic, written once. A plan yields these and gets the replies sent back.
# --------------------------------------------------------------------------------------------

Arg: TypeAlias = str | bytes | int | float
Command: TypeAlias = tuple[Arg, ...]


@dataclass(frozen=True, slots=True)
class Batch:
    """Run commands in one pipeline (one round trip). Reply: one result per command, with
    a command's error as an exception object in its place."""

    commands: Sequence[Command]


@dataclass(frozen=True, slots=True)
class Read:
    """Plain reads (GET/MGET) in one round trip, on the hot lookup path. Reply: the raw
    replies; an error reply is raised, or with `errors_in_place` put in its reply's place
    (as `Batch` does). Sent pre-packed by hiredis on a pooled connection: redis-py's
    pipeline spends about as long re-checking each of the ~2000 arguments of a batch in
    Python as the whole round trip takes (and, for a batch's case claims, a fifth of the
    stream's time per passage)."""

    commands: Sequence[Command]
    errors_in_place: bool = False


@dataclass(frozen=True, slots=True)
class Watch:
    """WATCH `keys` on a held connection, then run `reads` there. Reply: the read results."""

    keys: Sequence[str]
    reads: Sequence[Command]


@dataclass(frozen=True, slots=True)
class Commit:
    """MULTI, `commands`, EXEC on the watching connection. Reply: the results, or None when
    a watched key changed (nothing was written)."""

    commands: Sequence[Command]


Op: TypeAlias = Batch | Read | Watch | Commit
Plan: TypeAlias = Generator[Op, Any, _T]


def ok(results: list[Any]) -> list[Any]:
    """The replies of a `Batch`, raising the first error reply (an outage as
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
    legacy: str
    """The layout-1 key prefix (no hash tag) of this kind."""

    @property
    def legacy_cur(self) -> str:
        return f"{self.legacy}:cur"

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
        """The key prefix of generation `gen`'s keys."""
        return f"{self.base}:{gen}:"


@dataclass(frozen=True, slots=True)
class _VehicleGeneration:
    """What a reader holds about the current vehicle generation."""

    gen: str | None
    """The generation these tables are of; None: the pointer is not read yet."""
    tables: VehicleTables | None
    """None for generation "0", the empty register (and before the first read)."""
    bucket_keys: tuple[str, ...]
    cache: dict[str, tuple[bytes, Vehicle]] = field(default_factory=dict)
    """Plate -> (bucket bytes, decoded vehicle). Decoding a plate's record (finding it in
    its bucket, unpacking, building the Vehicle: ~1.5 µs) costs more than a cache hit, and
    the same vans pass every day.
    Equal bucket bytes mean an equal record. One cache per generation: the tables the
    records index, and the bucket keys, belong to it; a view of an older generation
    decoding late writes to that generation's cache only."""
    cache_size: int = 0


_UNREAD_VEHICLES: Final = _VehicleGeneration(None, None, ())
_EMPTY_VEHICLES: Final = _VehicleGeneration("0", None, ())


class _LazyVehicles(Mapping[str, Vehicle]):
    """A lookup's vehicles, decoded on first access: a lookup only fetches the buckets, and
    the stream decodes the vehicles of the passages it decides. Holds its generation's
    tables, so a reload after the lookup cannot change what it decodes."""

    __slots__ = ("_decoded", "_generation", "_raws")

    def __init__(self, raws: dict[str, bytes | None], generation: _VehicleGeneration) -> None:
        self._raws = raws
        self._generation = generation
        self._decoded: dict[str, Vehicle | None] = {}

    def get(self, plate: str, default: Any = None) -> Any:  # the hot path: no KeyError
        found = self._decoded.get(plate, _UNSEEN)
        if found is _UNSEEN:
            found = self._decoded[plate] = self._decode(plate)
        return default if found is None else found

    def _decode(self, plate: str) -> Vehicle | None:
        raw = self._raws.get(plate)
        if raw is None:
            return None
        generation = self._generation
        cache = generation.cache
        hit = cache.get(plate)
        if hit is not None and hit[0] == raw:
            return hit[1]
        encoded = plate.encode()
        record = bucket_record(raw, encoded)
        if record is None:
            return None
        vehicle = cast(VehicleTables, generation.tables).unpack(plate, record)
        if len(cache) < generation.cache_size:
            # A full cache keeps what it has: with more distinct plates than entries,
            # clearing it would empty it again and again (measured: slower than no
            # cache at 1M vehicles); an LRU would cost on every hit.
            cache[plate] = (raw, vehicle)
        return vehicle

    def __getitem__(self, plate: str) -> Vehicle:
        vehicle = self.get(plate)
        if vehicle is None:
            raise KeyError(plate)
        return cast(Vehicle, vehicle)

    def __contains__(self, plate: object) -> bool:
        return isinstance(plate, str) and self.get(plate) is not None

    def __iter__(self) -> Iterator[str]:
        return (plate for plate, raw in self._raws.items() if raw and self.get(plate) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"_LazyVehicles({dict(self)!r})"


_UNSEEN: Final = object()


class _BucketBuilder:
    """A vehicle load's rows before it knows how many buckets there will be: each vehicle
    is packed at once and appended to one of PRE_BUCKETS byte arrays (~25 bytes a vehicle
    in memory, so a national register loads in a few hundred MB)."""

    def __init__(self) -> None:
        self.tables = VehicleTables()
        self._pre: list[bytearray] = [bytearray() for _ in range(PRE_BUCKETS)]
        self.count = 0
        self.unique = 0
        """Distinct plates written (known once `rows` is exhausted)."""

    def add(self, vehicle: Vehicle) -> None:
        plate = vehicle.plate.encode("ascii")
        if not plate or len(plate) > 255 or 0 in plate:
            raise ValueError("a register plate is 1-255 ASCII characters without NUL")
        record = self.tables.pack(vehicle)
        crc = zlib.crc32(plate)  # kept: `crc % buckets` is `bucket_of` once the count is known
        self._pre[crc % PRE_BUCKETS] += b"".join(
            (_FRAME.pack(crc, len(plate), len(record)), plate, record)
        )
        self.count += 1

    def rows(self) -> Iterator[tuple[str, bytes]]:
        """(key suffix, value): every non-empty bucket, then `meta` (written last, so a
        generation with a meta is complete)."""
        buckets = bucket_count(self.count)
        for pre in self._pre:
            grouped: dict[int, dict[bytes, bytes]] = {}
            view = memoryview(pre)
            at = 0
            while at < len(pre):
                crc, plate_len, record_len = _FRAME.unpack_from(pre, at)
                at += _FRAME.size
                plate = bytes(view[at : at + plate_len])
                at += plate_len
                # A repeated plate keeps its last row.
                grouped.setdefault(crc % buckets, {})[plate] = bytes(view[at : at + record_len])
                at += record_len
            view.release()
            pre.clear()  # the packed rows of this pre-bucket are in `grouped` now
            for bucket, entries in grouped.items():
                self.unique += len(entries)
                yield str(bucket), encode_bucket(list(entries.items()))
        yield "meta", self.tables.meta(buckets)


_FRAME: Final = struct.Struct("<IBH")


class RegisterPlans:
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
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError("the key prefix must not be empty or contain braces")
        if secret is not None and len(secret) < 16:
            raise ValueError("the plate-hash secret must be at least 16 bytes")
        if vehicle_cache_size < 0:
            raise ValueError("vehicle_cache_size must be >= 0")
        self.prefix = prefix
        self.veh = _Kind("vehicles", f"{{{prefix}:veh}}", f"{prefix}:veh")
        self.exm = _Kind("exemptions", f"{{{prefix}:exm}}", f"{prefix}:exm")
        self._secret = secret
        self._case_margin_ms = int(case_margin.total_seconds() * 1000)
        self._stale_ms = int(stale_load_after.total_seconds() * 1000)
        # Cached generation pointers (None: not read yet). The vehicle one is the generation
        # whose tables are held, so the two cannot disagree. Plain attribute writes: safe to
        # share one register between threads.
        self._vehicles = _UNREAD_VEHICLES
        self._exemption_gen: str | None = None
        self._vehicle_cache_size = vehicle_cache_size

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def batch(*commands: Command) -> Plan[list[Any]]:
        return ok((yield Batch(commands)))

    def eval(self, script: _Script, keys: Sequence[str], args: Sequence[Arg]) -> Plan[Any]:
        """EVALSHA, falling back to EVAL when the server lost its script cache (restart,
        failover): one round trip in the normal case."""
        tail = (len(keys), *keys, *args)
        (result,) = yield Batch([("EVALSHA", script.sha, *tail)])
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
    ) -> Plan[RegisterView]:
        """MGET vehicle buckets and/or exemptions plus the generation pointers, one round
        trip (two once per vehicle generation, to read its tables)."""
        at_ts = _timestamp(at) if at is not None else None
        plates = list(plates)
        if not plates:
            return RegisterView({}, {})
        kinds = [k for k, wanted in ((self.veh, vehicles), (self.exm, exemptions)) if wanted]
        for _attempt in range(_MAX_GENERATION_RETRIES):
            held = self._vehicles
            used = {self.veh.name: held.gen, self.exm.name: self._exemption_gen}
            commands: list[Command] = []
            empty: list[_Kind] = []
            if vehicles and used[self.veh.name] is not None:
                if held.tables is not None:
                    commands.append(("MGET", *bucket_keys(plates, held.bucket_keys)))
                else:
                    empty.append(self.veh)
            if exemptions and used[self.exm.name] is not None:
                gen = used[self.exm.name]
                if gen == "0":
                    empty.append(self.exm)
                data = self.exm.data(cast(str, gen))
                commands.append(("MGET", *map(data.__add__, plates)))
            # While a kind reads as empty, ask whether a layout-1 register is there instead.
            commands.extend(("EXISTS", kind.legacy_cur) for kind in empty)
            # The pointers come last: read after the data, they prove the data was current.
            commands.extend(("GET", kind.cur) for kind in kinds)
            results = yield Read(commands)
            pointers = results[-len(kinds) :]
            legacy = results[-len(kinds) - len(empty) : -len(kinds)]
            fresh = True
            for kind, raw in zip(kinds, pointers, strict=True):
                now = _text(raw) or "0"
                if now != used[kind.name]:
                    if kind is self.veh:
                        yield from self._hold_vehicles(now)
                    else:
                        self._exemption_gen = now
                    fresh = False
            if not fresh:
                continue
            for kind, there in zip(empty, legacy, strict=True):
                if there:
                    raise _legacy_error(kind)
            found = iter(results)
            vehicle_map: Mapping[str, Vehicle] = {}
            if vehicles and held.tables is not None:
                vehicle_map = _LazyVehicles(dict(zip(plates, next(found), strict=True)), held)
            exemption_map = (
                self._decode_exemptions(plates, next(found), at_ts) if exemptions else {}
            )
            return RegisterView(vehicle_map, exemption_map)
        raise RegisterUnavailable("the register generation kept changing during a lookup")

    def _hold_vehicles(self, gen: str) -> Plan[None]:
        """Read generation `gen`'s tables (once per generation and reader)."""
        if gen == "0":
            self._vehicles = _EMPTY_VEHICLES
            return
        data = self.veh.data(gen)
        (raw,) = yield Read([("GET", data + "meta")])
        if raw is None:
            # A current generation always has a meta (written before the flip): this one
            # was written by something else.
            raise RegisterLayoutError(
                "the current vehicle generation has no meta: not a layout-"
                f"{VEHICLE_LAYOUT} register; reload it (zes register load)"
            )
        try:
            tables = VehicleTables.from_meta(raw)
        except VehicleLayoutError as exc:
            raise RegisterLayoutError(f"{exc}; reload it (zes register load)") from exc
        keys = tuple(f"{data}{bucket}" for bucket in range(tables.buckets))
        self._vehicles = _VehicleGeneration(gen, tables, keys, cache_size=self._vehicle_cache_size)

    @staticmethod
    def _decode_exemptions(
        plates: list[str], raws: list[bytes | None], at: float | None
    ) -> dict[str, tuple[Exemption, ...]]:
        out: dict[str, tuple[Exemption, ...]] = {}
        if len(raws) != len(plates):
            raise ValueError("one exemption reply per plate")
        # Few plates hold exemptions: skip the others in C (compress), not in this loop.
        for plate, raw in zip(compress(plates, raws), filter(None, raws), strict=True):
            relevant = tuple(
                _exemption_from(plate, rec)
                for rec in _exemptions_decoder.decode(raw)
                if _relevant(rec, at)
            )
            if relevant:
                out[plate] = relevant
        return out

    # -- reloads ----------------------------------------------------------------------------

    def replace_vehicles(
        self,
        vehicles: Iterable[Vehicle],
        chunk: int,
        progress: Callable[[int], None] | None,
    ) -> Plan[int]:
        """Pack every vehicle (no I/O yet), then write the buckets as a new generation."""
        builder = _BucketBuilder()
        for vehicle in vehicles:
            builder.add(vehicle)
            if progress is not None and builder.count % chunk == 0:
                progress(builder.count)
        return (yield from self._write_vehicles(builder, chunk, progress))

    def _write_vehicles(
        self, builder: _BucketBuilder, chunk: int, progress: Callable[[int], None] | None
    ) -> Plan[int]:
        written: Callable[[int], None] | None = None
        if progress is not None:
            written = lambda _rows: progress(builder.unique)  # noqa: E731
        buckets_per_write = max(1, chunk // BUCKET_TARGET)
        yield from self.replace(
            self.veh, builder.rows(), buckets_per_write, written, lambda: builder.unique
        )
        return builder.unique

    def migrate(self) -> Plan[dict[str, int]]:
        """Convert a layout-1 register in place: vehicles re-packed into buckets,
        exemptions (grants added at a desk included) copied; then the layout-1 keys go.
        Returns the vehicles and exemption plates carried over per kind (absent: that
        kind had no layout-1 register)."""
        moved: dict[str, int] = {}
        veh_gen, exm_gen = yield from self.batch(
            ("GET", self.veh.legacy_cur), ("GET", self.exm.legacy_cur)
        )
        if veh_gen is not None:
            builder = _BucketBuilder()
            for plate, raw in (yield from self._legacy_rows(self.veh, _text(veh_gen) or "0")):
                builder.add(decode_vehicle(plate, raw))
            moved[self.veh.name] = yield from self._write_vehicles(builder, 5000, None)
        if exm_gen is not None:
            rows = yield from self._legacy_rows(self.exm, _text(exm_gen) or "0")
            moved[self.exm.name] = yield from self.replace(self.exm, rows, 5000, None)
        return moved

    def _legacy_rows(self, kind: _Kind, gen: str) -> Plan[list[tuple[str, bytes]]]:
        """(plate, stored value) of every key of a layout-1 generation."""
        data = f"{kind.legacy}:{gen}:"
        pattern = _glob_escape(data) + "*"
        rows: list[tuple[str, bytes]] = []
        cursor = 0
        while True:
            ((cursor_raw, keys),) = yield from self.batch(
                ("SCAN", cursor, "MATCH", pattern, "COUNT", _SCAN_COUNT)
            )
            cursor = int(cursor_raw)
            if keys:
                (values,) = yield from self.batch(("MGET", *keys))
                for key, value in zip(keys, values, strict=True):
                    if value is not None:
                        rows.append((_text(key)[len(data) :], value))  # type: ignore[index]
            if cursor == 0:
                return rows

    def replace(
        self,
        kind: _Kind,
        rows: Iterable[tuple[str, bytes]],
        chunk: int,
        progress: Callable[[int], None] | None,
        size: Callable[[], int] | None = None,
    ) -> Plan[int]:
        """Write a new generation in MSET chunks, flip `cur` to it, drop the old one.

        `rows` are (key suffix, value): a plate for exemptions, a bucket for vehicles;
        `size` (after the rows are written) is the count the generation records, the rows
        when None."""
        if chunk < 1:
            raise ValueError("chunk must be >= 1")
        (number,) = yield from self.batch(("INCR", kind.next))
        gen = str(number)
        # Registered before the first key is written, so a crash leaves it findable.
        yield from self.batch(("ZADD", kind.gens, _now_ms(), gen))
        written = 0
        try:
            data = kind.data(gen)
            pairs: list[Arg] = []
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
            count = written if size is None else size()
            flipped = yield from self.eval(_FLIP, (kind.cur, kind.gens, kind.size), (gen, count))
            if not flipped[0]:
                raise RegisterReloadError(
                    f"the new {kind.name} generation was reaped by another loader"
                )
        except Exception:
            # Old generation stays current; remove what we wrote (or a later load will).
            yield from self._abandon(kind, gen)
            raise
        if kind is self.exm:
            self._exemption_gen = gen
        else:
            self._vehicles = _UNREAD_VEHICLES  # the new generation's tables are read first
        yield from self._drop_quietly(kind, _text(flipped[1]) or "0")
        yield from self._drop_legacy_quietly(kind)
        yield from self._reap_quietly(kind)
        return count

    def _write_chunk(self, kind: _Kind, gen: str, pairs: list[Arg]) -> Plan[int]:
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

    def drop(self, kind: _Kind, gen: str) -> Plan[int]:
        """UNLINK every key of a generation (SCAN, each batch's UNLINK riding along with
        the next SCAN), then forget the generation."""
        removed = yield from self._unlink_matching(_glob_escape(kind.data(gen)) + "*")
        yield from self.batch(("ZREM", kind.gens, gen))
        return removed

    def _drop_legacy_quietly(self, kind: _Kind) -> Plan[None]:
        """Remove a layout-1 register of this kind, now that layout 2 is current."""
        try:
            (there,) = yield from self.batch(("EXISTS", kind.legacy_cur))
            if there:
                yield from self._unlink_matching(_glob_escape(kind.legacy) + ":*")
                _log.info("removed the layout-1 %s register", kind.name)
        except Exception as exc:
            _log.warning("could not remove the layout-1 %s register (%s)", kind.name, exc)

    def _unlink_matching(self, pattern: str) -> Plan[int]:
        cursor = 0
        pending: list[bytes] = []
        removed = 0
        while True:
            commands: list[Command] = []
            if pending:
                commands.append(("UNLINK", *pending))
                removed += len(pending)
            commands.append(("SCAN", cursor, "MATCH", pattern, "COUNT", _SCAN_COUNT))
            results = yield from self.batch(*commands)
            cursor, pending = int(results[-1][0]), list(results[-1][1])
            if cursor == 0:
                break
        if pending:
            yield from self.batch(("UNLINK", *pending))
            removed += len(pending)
        return removed

    def _abandon(self, kind: _Kind, gen: str) -> Plan[None]:
        """Drop a failed load's generation, unless the failure was a lost *reply* to a flip
        that did happen: then `gen` is current and must stay."""
        try:
            (current,) = yield from self.batch(("GET", kind.cur))
        except Exception as exc:
            _log.warning("could not check %s generation %s (%s)", kind.name, gen, exc)
            return
        if _text(current) != gen:
            yield from self._drop_quietly(kind, gen)

    def _drop_quietly(self, kind: _Kind, gen: str) -> Plan[None]:
        try:
            yield from self.drop(kind, gen)
        except Exception as exc:
            # The generation stays listed in `gens`; the next load reaps it.
            _log.warning(
                "could not remove %s generation %s (%s); a later load will", kind.name, gen, exc
            )

    def _reap_quietly(self, kind: _Kind) -> Plan[None]:
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
    ) -> Plan[int]:
        # One key holds all of a plate's exemptions, so group before writing anything.
        grouped: dict[str, list[_ExemptionRec]] = {}
        for exemption in exemptions:
            _merge(grouped.setdefault(exemption.plate, []), (_exemption_rec(exemption),))
        rows = ((plate, _encode_recs(recs)) for plate, recs in grouped.items())
        return (yield from self.replace(self.exm, rows, chunk, progress))

    def add_exemptions(self, exemptions: Iterable[Exemption]) -> Plan[int]:
        """Merge grants into the current exemption generation (optimistic transaction:
        a concurrent grant or a reload flip makes the round start over)."""
        grouped: dict[str, list[_ExemptionRec]] = {}
        for exemption in exemptions:
            grouped.setdefault(exemption.plate, []).append(_exemption_rec(exemption))
        plates = list(grouped)
        changed = 0
        # Apart from the transaction: the layout-1 key is in another Cluster slot.
        current, legacy = yield from self.batch(
            ("GET", self.exm.cur), ("EXISTS", self.exm.legacy_cur)
        )
        if current is None and legacy:
            raise _legacy_error(self.exm)
        for start in range(0, len(plates), _ADD_CHUNK):
            part = plates[start : start + _ADD_CHUNK]
            while True:
                (raw_gen,) = yield Watch([self.exm.cur], [("GET", self.exm.cur)])
                data = self.exm.data(_text(raw_gen) or "0")
                keys = [data + plate for plate in part]
                (raws,) = yield Watch(keys, [("MGET", *keys)])
                writes: list[Arg] = []
                new_plates = part_changed = 0
                for plate, key, raw in zip(part, keys, raws, strict=True):
                    current = [] if raw is None else _exemptions_decoder.decode(raw)
                    n = _merge(current, grouped[plate])
                    if n:
                        part_changed += n
                        new_plates += raw is None
                        writes.extend((key, _encode_recs(current)))
                commands: list[Command] = []
                if writes:
                    commands.append(("MSET", *writes))
                if new_plates:
                    commands.append(("INCRBY", self.exm.size, new_plates))
                if (yield Commit(commands)) is not None:
                    changed += part_changed
                    break
        return changed

    # -- cases and day permits --------------------------------------------------------------

    def claim_case(
        self, plate: str, scope: str, at: datetime, interval_hours: int, opener: str = ""
    ) -> Plan[CaseClaim]:
        (claim,) = yield from self.claim_cases(
            [ClaimRequest(plate, scope, at, interval_hours, opener)]
        )
        return claim

    def claim_cases(self, requests: Sequence[ClaimRequest]) -> Plan[list[CaseClaim]]:
        """Claim many cases in one round trip (the stream claims a whole batch at once).

        24 h: SET NX then GET; the stored opener tells a re-decision of the opening passage
        (after a crash) that it is still the first. Other intervals: a rolling window in Lua.
        """
        now_ms = _now_ms()
        commands: list[Command] = []
        shapes: list[tuple[str, str, date, int]] = []  # plate, scope, day, commands used
        for plate, scope, at, interval_hours, opener in requests:
            if interval_hours < 1:
                raise ValueError("interval_hours must be >= 1")
            at_ms = int(_timestamp(at) * 1000)  # also rejects a naive instant
            day = at.astimezone(LOCAL_TZ).date()
            base = f"{self.prefix}:case:{scope}:{self._hash(plate)}"
            if interval_hours == 24:
                # R35: one sanction per local calendar day (23 or 25 hours around DST).
                end_ms = int(end_of_day(day).timestamp() * 1000)
                expire_ms = max(end_ms, now_ms) + self._case_margin_ms
                key = f"{base}:{day.isoformat()}"
                commands.append(("SET", key, opener or "1", "NX", "PXAT", expire_ms))
                commands.append(("GET", key))
                shapes.append((plate, scope, day, 2))
            else:
                span_ms = interval_hours * 3_600_000
                expire_ms = max(at_ms + span_ms, now_ms) + self._case_margin_ms
                tail = (1, f"{base}:{interval_hours}h", at_ms, span_ms, day.isoformat())
                commands.append(("EVALSHA", _ROLLING_CASE.sha, *tail, expire_ms, opener))
                shapes.append((plate, scope, day, 1))
        replies = list((yield Read(commands, errors_in_place=True))) if commands else []
        if any(isinstance(r, NoScriptError) for r in replies):
            # The server lost its script cache (restart, failover): load it, then redo.
            yield from self.batch(("SCRIPT", "LOAD", _ROLLING_CASE.text))
            replies = list((yield Read(commands, errors_in_place=True)))
        claims: list[CaseClaim] = []
        position = 0
        for (plate, scope, day, used), request in zip(shapes, requests, strict=True):
            reply = replies[position : position + used]
            position += used
            for item in reply:
                if isinstance(item, Exception):
                    _raise_reply(item)
            opener = request[4]
            if used == 2:
                opened, stored = reply
                first = bool(opened) or (bool(opener) and _text(stored) == opener)
                claims.append(CaseClaim(plate, scope, day, first))
            else:
                first_flag, case_day = reply[0]
                # A rolling case is keyed by the day its interval started, kept in Redis.
                started = date.fromisoformat(cast(str, _text(case_day)))
                claims.append(CaseClaim(plate, scope, started, bool(first_flag)))
        return claims

    def _permit_key(self, plate: str, municipality: str, year: int) -> str:
        folded = fold_name(municipality)
        if not folded:
            raise ValueError("municipality must not be empty")
        return f"{self.prefix}:dp:{folded}:{year}:{self._hash(plate)}"

    def use_day_permit(
        self, plate: str, municipality: str, day: date, max_per_year: int
    ) -> Plan[DayPermitUse]:
        if max_per_year < 0:
            raise ValueError("max_per_year must be >= 0")
        key = self._permit_key(plate, municipality, day.year)
        year_end = end_of_day(date(day.year, 12, 31)) + _DAY_PERMIT_MARGIN
        expire_s = int(max(year_end.timestamp(), time.time() + _DAY_PERMIT_MARGIN.total_seconds()))
        count, consumed, refused = yield from self.eval(
            _DAY_PERMIT, (key,), (day.isoformat(), max_per_year, expire_s)
        )
        return DayPermitUse(int(count), bool(consumed), bool(refused))

    def day_permits_used(self, plate: str, municipality: str, year: int) -> Plan[int]:
        (count,) = yield from self.batch(("SCARD", self._permit_key(plate, municipality, year)))
        return int(count)

    def stats(self) -> Plan[dict[str, int]]:
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


def _legacy_error(kind: _Kind) -> RegisterLayoutError:
    return RegisterLayoutError(
        f"the {kind.name} register in Redis is in layout 1 (one key per plate); this "
        f"release reads layout {VEHICLE_LAYOUT}: run `zes register migrate` once"
    )


def _unavailable(what: str, exc: BaseException) -> RegisterUnavailable:
    # Redis connection errors name host and port, never keys: safe to pass on.
    return RegisterUnavailable(f"Redis register unavailable ({what}): {type(exc).__name__}: {exc}")


def io_error(what: str, exc: Exception) -> Exception:
    """What a failed Redis call raises inside the plan: outages become
    `RegisterUnavailable` (chained to the cause), anything else stays as it is."""
    if isinstance(exc, _OUTAGE):
        unavailable = _unavailable(what, exc)
        unavailable.__cause__ = exc
        return unavailable
    return exc
