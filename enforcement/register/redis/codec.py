"""The register's stored values: vehicles and exemptions as compact msgpack arrays.

One module (some 600 lines): every stored format (layout 1's records, layout 2 and 3's
buckets and tables, exemption lists) is read and written here, so a format change is
reviewed in one place against the formats already deployed."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, Final, TypeAlias

import msgspec

from enforcement.model import (
    LOCAL_TZ,
    Exemption,
    ExemptionStatus,
    Fuel,
    Vehicle,
)

_EPOCH_DAY: Final = date(1970, 1, 1).toordinal()


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
    make: str | None = None
    commercial_name: str | None = None
    colour: str | None = None
    second_colour: str | None = None


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
        vehicle.make,
        vehicle.commercial_name,
        vehicle.colour,
        vehicle.second_colour,
    )
    return _encoder.encode(_trim(row, _VEHICLE_DEFAULTS))


def _vehicle_from(plate: str, rec: _VehicleRec) -> Vehicle:
    return Vehicle(
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
        rec.make,
        rec.commercial_name,
        rec.colour,
        rec.second_colour,
    )


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


# --------------------------------------------------------------------------------------------
# Layout 2: vehicles in buckets. Layout 1 (one key per plate, `encode_vehicle`) cost ~170 MB
# of Redis per million vehicles, ~110 bytes of it the key's own overhead (dict entry, key
# and value objects). Layout 2 packs ~16 vehicles into one string value (one key per bucket)
# and writes each vehicle as small integers into per-generation tables of the few distinct
# strings, fuel rows and code sets: 15 bytes a typical van, 37 MB of Redis per million
# vehicles all told (benchmarks.register, 1M synthetic RDW vehicles).
# A lookup still reads one key per plate (MGET), and decodes only the plate's own record.
# Layout 3 is layout 2 (the same keys, buckets and tables) with the vehicle's description
# (make, commercial name, colours) as one index into a table of description sets, placed
# before the rarely-set fields so a described van stays a short array: +1 to 3 bytes a
# vehicle, where a trailing field would cost ~8 (benchmarks.register, issue 21).
# --------------------------------------------------------------------------------------------

#: The stored layout this code writes (the generation's `meta` says which).
VEHICLE_LAYOUT: Final = 3
#: The layouts this code reads: a layout-2 generation reads as undescribed vehicles until
#: the next load writes layout 3.
READABLE_LAYOUTS: Final = frozenset({2, 3})
#: Vehicles per bucket on average. Fewer: more key overhead; more: each lookup moves more
#: bytes (measured on 1M vehicles: 8 per bucket 388k MGET keys/s, 16 486k/s, 24 454k/s;
#: 16 and 24 both ~41 bytes of Redis a vehicle).
BUCKET_TARGET: Final = 16
#: Buckets come in multiples of this, so a load can spread rows over this many pre-buckets
#: before it knows how many buckets there will be (`crc % buckets % PRE == crc % PRE`).
PRE_BUCKETS: Final = 256

_U16: Final = struct.Struct("<H")
_U16_PAIR: Final = struct.Struct("<HH")
_SEP: Final = b"\x00"


class _PackedHead(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """The first eleven fields of a packed vehicle (table indexes, `VehicleTables`): the
    same names at the same array positions in layouts 2 and 3, so one list serves both."""

    kind: int | None
    max_mass_kg: int | None = None
    eu_category: int | None = None
    body: int | None = None
    axles: int | None = None
    length_cm: int | None = None
    first_admission: int | None = None
    first_nl_registration: int | None = None
    fuels: int = 0
    body_type_codes: int = 0
    body_codes: int = 0


class _PackedVehicle(_PackedHead, frozen=True):
    """A vehicle as table indexes, layout 3 (a subclass's fields follow the head's)."""

    description: int = 0
    """Index into the generation's description sets: (make, commercial name, colour,
    second colour); 0 none."""
    particularity_codes: tuple[int, ...] = ()
    fairground: bool = False
    removal: bool = False
    exported: bool = False


class _PackedVehicle2(_PackedHead, frozen=True):
    """A layout-2 record: layout 3 without the description (read only)."""

    particularity_codes: tuple[int, ...] = ()
    fairground: bool = False
    removal: bool = False
    exported: bool = False
    description: int = 0
    """Never stored in layout 2: always the default, "no description"."""


_PACKED_DEFAULTS: Final = _defaults(_PackedVehicle)
_COMMON_TAIL: Final = ((), False, False, False)


class _VehicleMeta(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One generation's `meta` value: its layout, bucket count and tables."""

    layout: int
    buckets: int
    strings: list[str]
    fuel_sets: list[tuple[_FuelRec, ...]]
    code_sets: list[tuple[str, ...]]
    descriptions: list[_Description] = []


_Description: TypeAlias = tuple[str | None, str | None, str | None, str | None]
#: Index 0 of the description sets: nothing registered (and every record written before
#: descriptions were stored).
_NO_DESCRIPTION: Final[_Description] = (None, None, None, None)

_meta_decoder: Final = msgspec.msgpack.Decoder(_VehicleMeta)
_PackedDecoder: TypeAlias = (
    "msgspec.msgpack.Decoder[_PackedVehicle] | msgspec.msgpack.Decoder[_PackedVehicle2]"
)
_packed_decoders: Final[dict[int, _PackedDecoder]] = {
    3: msgspec.msgpack.Decoder(_PackedVehicle),
    2: msgspec.msgpack.Decoder(_PackedVehicle2),
}


class VehicleLayoutError(ValueError):
    """A stored vehicle generation is in a layout this code does not read."""


def bucket_of(plate: bytes, buckets: int) -> int:
    """The bucket of a plate (ASCII bytes): stable across processes and releases."""
    return zlib.crc32(plate) % buckets


def bucket_keys(plates: Sequence[str], keys: Sequence[str]) -> list[str]:
    """`keys[bucket_of(plate)]` for each plate: the lookup's hot loop, written out.

    Measured per plate: this comprehension 0.31 µs, the same as chained maps 0.47 µs, a
    loop that first asks the vehicle cache 2 µs."""
    buckets = len(keys)
    crc32 = zlib.crc32
    return [keys[crc32(plate.encode()) % buckets] for plate in plates]


def bucket_count(vehicles: int) -> int:
    """Buckets for a generation of `vehicles`: ~BUCKET_TARGET each, a multiple of
    PRE_BUCKETS."""
    per_pre = -(-vehicles // (BUCKET_TARGET * PRE_BUCKETS))
    return max(1, per_pre) * PRE_BUCKETS


class VehicleTables:
    """The tables of one generation: built while a load encodes (`pack`), read back from the
    generation's `meta` by readers (`from_meta`, `unpack`)."""

    def __init__(self) -> None:
        self._strings: dict[str, int] = {}
        self._fuel_sets: dict[tuple[_FuelRec, ...], int] = {(): 0}
        self._fuel_ids: dict[int, tuple[tuple[Fuel, ...], int]] = {}
        self._code_sets: dict[tuple[str, ...], int] = {(): 0}
        self._descriptions: dict[_Description, int] = {_NO_DESCRIPTION: 0}
        self.descriptions: list[_Description] = [_NO_DESCRIPTION]
        self.strings: list[str] = []
        self.fuel_sets: list[tuple[Fuel, ...]] = [()]
        self.code_sets: list[tuple[str, ...]] = [()]
        self.buckets = 0
        self._decoder: _PackedDecoder = _packed_decoders[VEHICLE_LAYOUT]

    def _string(self, value: str | None) -> int | None:
        if value is None:
            return None
        found = self._strings.get(value)
        if found is None:
            found = self._strings[value] = len(self.strings)
            self.strings.append(value)
        return found

    def _code_set(self, values: tuple[str, ...]) -> int:
        found = self._code_sets.get(values)
        if found is None:
            found = self._code_sets[values] = len(self.code_sets)
            self.code_sets.append(values)
        return found

    def _description(self, vehicle: Vehicle) -> int:
        key = (vehicle.make, vehicle.commercial_name, vehicle.colour, vehicle.second_colour)
        found = self._descriptions.get(key)
        if found is None:
            found = self._descriptions[key] = len(self.descriptions)
            self.descriptions.append(key)
        return found

    def _fuel_set(self, fuels: tuple[Fuel, ...]) -> int:
        # The RDW loader shares one tuple between vehicles with the same fuel rows: by
        # identity first (the tuple is kept alive here, so its id stays its own).
        known = self._fuel_ids.get(id(fuels))
        if known is not None and known[0] is fuels:
            return known[1]
        recs = tuple(_FuelRec(f.name, f.emission_class, f.hybrid_class) for f in fuels)
        found = self._fuel_sets.get(recs)
        if found is None:
            found = self._fuel_sets[recs] = len(self.fuel_sets)
            self.fuel_sets.append(fuels)
        if len(self._fuel_ids) < 100_000:
            self._fuel_ids[id(fuels)] = (fuels, found)
        return found

    def pack(self, vehicle: Vehicle) -> bytes:
        """A vehicle's record (the plate is stored beside it in the bucket)."""
        string = self._string
        row = (
            string(vehicle.kind),
            vehicle.max_mass_kg,
            string(vehicle.eu_category),
            string(vehicle.body),
            vehicle.axles,
            vehicle.length_cm,
            _day(vehicle.first_admission),
            _day(vehicle.first_nl_registration),
            self._fuel_set(tuple(vehicle.fuels)),
            self._code_set(tuple(vehicle.body_type_codes)),
            self._code_set(tuple(vehicle.body_codes)),
            self._description(vehicle),
            tuple(vehicle.particularity_codes),
            vehicle.fairground,
            vehicle.removal,
            vehicle.exported,
        )
        # Most vehicles end in the defaults (no particularities, no flags): cut those four
        # in one comparison, the rest value by value.
        if row[-4:] == _COMMON_TAIL:
            return _encoder.encode(_trim(row[:-4], _PACKED_DEFAULTS))
        return _encoder.encode(_trim(row, _PACKED_DEFAULTS))

    def meta(self, buckets: int) -> bytes:
        fuel_sets = [
            tuple(
                _FuelRec(*_trim((f.name, f.emission_class, f.hybrid_class), _FUEL_DEFAULTS))
                for f in fuels
            )
            for fuels in self.fuel_sets
        ]
        return _encoder.encode(
            _VehicleMeta(
                VEHICLE_LAYOUT,
                buckets,
                self.strings,
                fuel_sets,
                self.code_sets,
                self.descriptions if len(self.descriptions) > 1 else [],
            )
        )

    @classmethod
    def from_meta(cls, raw: bytes) -> VehicleTables:
        """A generation's tables; a layout not in READABLE_LAYOUTS is refused."""
        # The layout is read before the rest, so another layout's tables never decode here.
        try:
            head = msgspec.msgpack.decode(raw)
            layout = head[0] if isinstance(head, list) and head else None
        except msgspec.DecodeError as exc:
            raise VehicleLayoutError("the vehicle generation's meta is not readable") from exc
        if layout not in READABLE_LAYOUTS:
            raise VehicleLayoutError(
                f"the vehicle register is stored in layout {layout}; this release reads "
                f"layouts {', '.join(map(str, sorted(READABLE_LAYOUTS)))}"
            )
        meta = _meta_decoder.decode(raw)
        tables = cls()
        tables.strings = meta.strings
        tables.fuel_sets = [_fuels(recs) for recs in meta.fuel_sets]
        tables.code_sets = meta.code_sets
        tables.descriptions = [_NO_DESCRIPTION, *meta.descriptions[1:]]
        tables.buckets = meta.buckets
        tables._decoder = _packed_decoders[meta.layout]
        return tables

    def unpack(self, plate: str, raw: bytes) -> Vehicle:
        """The inverse of `pack`."""
        rec = self._decoder.decode(raw)
        strings = self.strings
        make, name, colour, second_colour = self.descriptions[rec.description]
        # Positional, in Vehicle's field order (a Struct is built in C: ~0.3 µs).
        return Vehicle(
            plate,
            None if rec.kind is None else strings[rec.kind],
            rec.max_mass_kg,
            None if rec.eu_category is None else strings[rec.eu_category],
            None if rec.body is None else strings[rec.body],
            self.code_sets[rec.body_type_codes],
            self.code_sets[rec.body_codes],
            rec.particularity_codes,
            rec.axles,
            rec.length_cm,
            _date(rec.first_admission),
            _date(rec.first_nl_registration),
            self.fuel_sets[rec.fuels],
            rec.fairground,
            rec.removal,
            rec.exported,
            make,
            name,
            colour,
            second_colour,
        )


def encode_bucket(entries: Sequence[tuple[bytes, bytes]]) -> bytes:
    """One bucket: `u16 plates_end`, the plates as `\\0P1\\0P2...\\0Pn\\0`, then n+1 u16
    record offsets, then the records. A lookup finds its plate with one `find` and reads
    only its own record."""
    if not entries:
        raise ValueError("a bucket holds at least one vehicle")
    plates = _SEP + _SEP.join(plate for plate, _ in entries) + _SEP
    plates_end = 2 + len(plates)
    start = plates_end + 2 * (len(entries) + 1)
    offsets = [start]
    for _, record in entries:
        offsets.append(offsets[-1] + len(record))
    if offsets[-1] > 0xFFFF:
        raise ValueError("a bucket would exceed 64 KiB: too few buckets for the generation")
    return b"".join(
        (
            _U16.pack(plates_end),
            plates,
            struct.pack(f"<{len(offsets)}H", *offsets),
            *(record for _, record in entries),
        )
    )


def bucket_record(bucket: bytes, plate: bytes) -> bytes | None:
    """The record of `plate` (ASCII bytes) in a bucket, or None when it is not there."""
    (plates_end,) = _U16.unpack_from(bucket)
    at = bucket.find(_SEP + plate + _SEP, 2, plates_end)
    if at < 0:
        return None
    index = bucket.count(_SEP, 2, at)
    start, end = _U16_PAIR.unpack_from(bucket, plates_end + 2 * index)
    return bucket[start:end]
