"""The on-disk bucketed join of the secondary RDW files (fuels, bodies, axles, ...) by plate."""

# Joining: the files are several GB and not sorted, and a vehicle's rows in the other datasets
# can be anywhere in them. So the secondary datasets are read first, each row packed into one
# 8-byte number (base-36 plate code, dataset, sequence numbers, id of the value), and spilled
# into 64 bucket files by plate (buffered, so a small load never touches the disk). Each bucket
# is then sorted on its own and every plate's run of rows becomes a key id; plates share keys
# ("Diesel class 6, body BB, 2 axles" recurs across the fleet), so each distinct key is turned
# into tuples of `Fuel`s and codes only once. The vehicle file is then streamed, and each batch
# of `batch_size` plates finds its key ids with a vectorised binary search (numpy) in the
# memory-mapped sorted arrays. Python memory stays bounded (~1/64 of the secondary rows while
# sorting, plus the distinct keys); the temporary files take ~8 bytes per row. (An SQLite join
# was tried first: its per-plate lookups made the load 2-3x slower.)

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from enforcement.model import Fuel, parse_emission_class
from enforcement.register.rdw.sources import (
    AXLE_FIELDS,
    BODY_CODE_FIELDS,
    BODY_FIELDS,
    FUEL_FIELDS,
    PARTICULARITY_FIELDS,
    _Source,
)
from enforcement.register.rdw.values import (
    _int,
    _OddChunkError,
    _plain_ints,
    _plain_plates,
    _plate,
    _RowError,
    _text,
)
from enforcement.register.report import LoadReport

# --- plate codes ------------------------------------------------------------------------------
# A loaded plate is six characters from 0-9A-Z, so it is a 6-digit base-36 number below
# 36**6 < 2**32: the join and the duplicate check work on those numbers with numpy.
_DIGIT_VALUE: Final = np.zeros(256, dtype=np.uint64)
for _i, _ch in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
    _DIGIT_VALUE[ord(_ch)] = _i
_PLACE_VALUE: Final = np.array([36**p for p in range(5, -1, -1)], dtype=np.uint64)


def _plate_codes(plates: Sequence[str]) -> npt.NDArray[np.uint64]:
    """The base-36 numbers of loaded (normalised, 6 character) plates."""
    raw = np.frombuffer("".join(plates).encode("ascii"), dtype=np.uint8).reshape(-1, 6)
    codes: npt.NDArray[np.uint64] = (_DIGIT_VALUE[raw] * _PLACE_VALUE).sum(axis=1, dtype=np.uint64)
    return codes


def _plate_of(code: int) -> str:
    chars = []
    for _ in range(6):
        code, digit = divmod(code, 36)
        chars.append("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[digit])
    return "".join(reversed(chars))


# --- external buckets -------------------------------------------------------------------------
_BUCKETS: Final = 64
_BUFFERED: Final = 2_000_000  # entries (16 MB) kept in memory before they go to disk
_LOW32: Final = np.uint64(0xFFFFFFFF)
_SHIFT32: Final = np.uint64(32)


class _Buckets:
    """uint64 entries `plate code << 32 | payload`, spread over files by plate code.

    This is the bounded-memory part of the join: entries go to `_BUCKETS` files (buffered in
    memory first, so a small load never touches the disk) and each bucket is later sorted on
    its own, so memory is ~1/64 of the data however big the register is."""

    def __init__(self, folder: Path, name: str) -> None:
        self.paths = [folder / f"{name}-{b:02d}.u64" for b in range(_BUCKETS)]
        self.buffers: list[list[npt.NDArray[np.uint64]]] = [[] for _ in range(_BUCKETS)]
        self.buffered = 0
        self.on_disk = [False] * _BUCKETS

    def add(self, entries: npt.NDArray[np.uint64]) -> None:
        if not len(entries):
            return
        bucket = (entries >> _SHIFT32) % np.uint64(_BUCKETS)
        order = np.argsort(bucket, kind="stable")
        sizes = np.bincount(bucket.astype(np.intp), minlength=_BUCKETS)
        start = 0
        ordered = entries[order]
        for b, size in enumerate(sizes.tolist()):
            if size:
                self.buffers[b].append(ordered[start : start + size])
                start += size
        self.buffered += len(entries)
        if self.buffered >= _BUFFERED:
            self.flush()

    def flush(self) -> None:
        for b, parts in enumerate(self.buffers):
            if parts:
                with self.paths[b].open("ab") as fh:
                    for part in parts:
                        part.tofile(fh)
                self.on_disk[b] = True
                parts.clear()
        self.buffered = 0

    def bucket(self, b: int) -> npt.NDArray[np.uint64]:
        """All entries of bucket `b`, sorted (plate code, then payload)."""
        parts = list(self.buffers[b])
        if self.on_disk[b]:
            parts.insert(0, np.fromfile(self.paths[b], dtype=np.uint64))
        if not parts:
            return np.empty(0, dtype=np.uint64)
        entries = np.concatenate(parts)
        entries.sort()
        return entries


# --- the secondary datasets -------------------------------------------------------------------
_SPILL_CHUNK: Final = 20_000

# Dataset tags (3 bits of the payload).
_FUELS: Final = 0
_BODIES: Final = 1
_BODY_CODES: Final = 2
_PARTICULARITIES: Final = 3
_AXLES: Final = 4
_TAINTED: Final = 5

# Payload: tag (3 bits) | k1 (8 bits) | k2 (5 bits) | value id (16 bits). k1/k2 are the
# sequence numbers that order a plate's rows; the value id indexes a per-dataset table of
# the distinct values (fuel kinds, body codes, ...), of which real data has a few hundred.
_K1_MAX: Final = 255
_K2_MAX: Final = 31
_VALUES_MAX: Final = 65_535


class _SideColumns(NamedTuple):
    """A parsed chunk of secondary rows as columns."""

    plates: Sequence[str]
    k1: Sequence[int]
    k2: Sequence[int]
    value_ids: Sequence[int]


@dataclass(frozen=True, slots=True)
class _Extras:
    """What the secondary datasets say about one plate."""

    fuels: tuple[Fuel, ...] = ()
    body_types: tuple[str, ...] = ()
    body_codes: tuple[str, ...] = ()
    particularities: tuple[int, ...] = ()
    axles: int | None = None
    tainted: bool = False
    """A secondary row of this plate was skipped: the vehicle would be incomplete."""


_NO_EXTRAS: Final = _Extras()


class _Folded(NamedTuple):
    """One bucket after `_Join.fold`: its plates' codes, sorted, and each one's key id."""

    codes: npt.NDArray[np.uint32]
    key_ids: npt.NDArray[np.uint32]


_TUPLES: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _shared(value: tuple[Any, ...]) -> tuple[Any, ...]:
    """One object per distinct small tuple (fuel lists, codes): less memory downstream."""
    found = _TUPLES.get(value)
    if found is None:
        if len(_TUPLES) >= 100_000:
            return value
        found = _TUPLES[value] = value
    return found


class _Join:
    """The secondary datasets, folded per plate, and the plates of the vehicle file.

    Secondary rows become 8-byte entries in external buckets; `fold` sorts each bucket and
    turns each plate's run of entries into a key id (a plate's rows, e.g. "Diesel class 6,
    body BB, 2 axles", repeat across the fleet, so there are few distinct keys) saved as two
    sorted arrays per bucket; a chunk of vehicles then finds its key ids with one vectorised
    binary search per bucket. The vehicles' own plate codes go to buckets too, for the
    duplicate check and the count of unused secondary rows at the end."""

    def __init__(self, report: LoadReport, work_dir: Path | None) -> None:
        self.report = report
        self._tmp = tempfile.TemporaryDirectory(prefix="zes-rdw-", dir=work_dir)
        self.folder = Path(self._tmp.name)
        self.side = _Buckets(self.folder, "side")
        self.seen = _Buckets(self.folder, "seen")
        self.sources: dict[int, str] = {}  # dataset tag -> file name, for the report
        self.values: dict[int, dict[Any, int]] = {ds: {} for ds in range(_TAINTED + 1)}
        self.value_list: dict[int, list[Any]] = {ds: [] for ds in range(_TAINTED + 1)}
        self.raw_fuels: dict[tuple[Any, ...], int] = {}
        """(brandstof_omschrijving, emissiecode_omschrijving, klasse) as read -> value id."""
        self.tainted: dict[int, str] = {}
        """Plate code -> why its secondary row was skipped (the first 100,000)."""
        self.joined = False
        self.keys: list[bytes] = []
        self.extras: list[_Extras | None] = []
        self.key_rows: npt.NDArray[np.int64] = np.zeros((0, _TAINTED + 1), dtype=np.int64)
        self.folded: list[_Folded] = []

    def close(self) -> None:
        self._tmp.cleanup()

    def value_id(self, ds: int, value: Any) -> int:
        table = self.values[ds]
        vid = table.get(value)
        if vid is None:
            if len(table) > _VALUES_MAX:
                raise _RowError(f"more than {_VALUES_MAX + 1} distinct values in this file")
            vid = table[value] = len(table)
            self.value_list[ds].append(value)
        return vid

    # spilling ---------------------------------------------------------------------------------
    def spill(self, ds: int, source: _Source, parse: _RowParser, fast: _ChunkParser) -> None:
        """Add one dataset's rows; a bad row whose plate is readable taints that plate."""
        report, name = self.report, source.name
        self.sources[ds] = name
        for rows, lines in source.chunks(_SPILL_CHUNK):
            try:
                self._add(ds, *fast(rows))
                continue
            except _OddChunkError:
                pass
            plates: list[str] = []
            k1s: list[int] = []
            k2s: list[int] = []
            vids: list[int] = []
            bad: list[str] = []
            for values, line in zip(rows, lines, strict=True):
                try:
                    plate, k1, k2, vid = parse(values, line)
                    if k1 > _K1_MAX or k2 > _K2_MAX:
                        raise _RowError(f"sequence number {max(k1, k2)} is too large")
                except _RowError as exc:
                    report.skip(name, line, str(exc))
                    try:
                        plate = _plate(values[0])
                    except _RowError:
                        continue
                    bad.append(plate)
                    code = int(_plate_codes([plate])[0])
                    if len(self.tainted) < 100_000:
                        self.tainted.setdefault(
                            code, f"its row on {name}:{line} was skipped ({exc})"
                        )
                    continue
                plates.append(plate)
                k1s.append(k1)
                k2s.append(k2)
                vids.append(vid)
            self._add(ds, plates, k1s, k2s, vids)
            self._add(_TAINTED, bad, [0] * len(bad), [0] * len(bad), [0] * len(bad))

    def _add(
        self,
        ds: int,
        plates: Sequence[str],
        k1: Sequence[int],
        k2: Sequence[int],
        vids: Sequence[int],
    ) -> None:
        if not plates:
            return
        first = np.asarray(k1, dtype=np.uint64)
        second = np.asarray(k2, dtype=np.uint64)
        if first.max() > _K1_MAX or second.max() > _K2_MAX:
            raise _OddChunkError
        payload = (
            np.uint64(ds << 29)
            | (first << np.uint64(21))
            | (second << np.uint64(16))
            | np.asarray(vids, dtype=np.uint64)
        )
        self.side.add((_plate_codes(plates) << _SHIFT32) | payload)

    def fold(self) -> None:
        """After the last secondary file: per bucket, sorted plate codes and their key ids."""
        if not self.sources:
            return
        key_ids: dict[bytes, int] = {}
        rows_per_key: list[list[int]] = []
        for b in range(_BUCKETS):
            entries = self.side.bucket(b)
            codes = (entries >> _SHIFT32).astype(np.uint32)
            payload = (entries & _LOW32).astype(np.uint32)
            new_plate = np.ones(len(codes), dtype=bool)
            new_plate[1:] = codes[1:] != codes[:-1]
            starts = np.flatnonzero(new_plate)
            ends = np.append(starts[1:], len(codes))[: len(starts)]
            blob = payload.tobytes()
            ids: list[int] = []
            for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
                key = blob[4 * start : 4 * end]
                kid = key_ids.get(key)
                if kid is None:
                    kid = key_ids[key] = len(self.keys)
                    self.keys.append(key)
                    tags = np.frombuffer(key, dtype=np.uint32) >> np.uint32(29)
                    rows_per_key.append(np.bincount(tags, minlength=_TAINTED + 1).tolist())
                ids.append(kid)
            unique = codes[starts]
            path = self.folder / f"folded-{b:02d}.npy"
            np.save(path, np.stack([unique, np.asarray(ids, dtype=np.uint32)]))
            folded = np.load(path, mmap_mode="r")
            self.folded.append(_Folded(folded[0], folded[1]))
        # Drop the raw entries now: the folded arrays hold everything the join needs.
        for path in self.side.paths:
            path.unlink(missing_ok=True)
        self.side = _Buckets(self.folder, "side")
        self.extras = [None] * len(self.keys) + [_NO_EXTRAS]  # the last one: no key
        self.key_rows = np.asarray(rows_per_key, dtype=np.int64).reshape(-1, _TAINTED + 1)
        self.joined = True

    # joining ----------------------------------------------------------------------------------
    def lookup(self, codes: npt.NDArray[np.uint64]) -> list[int]:
        """Key id per plate code; `len(self.keys)` (no secondary rows) where there is none."""
        found = np.full(len(codes), len(self.keys), dtype=np.uint32)
        small = codes.astype(np.uint32)
        bucket = codes % np.uint64(_BUCKETS)
        order = np.argsort(bucket, kind="stable")
        sizes = np.bincount(bucket.astype(np.intp), minlength=_BUCKETS).tolist()
        start = 0
        for b, size in enumerate(sizes):
            if not size:
                continue
            where = order[start : start + size]
            start += size
            unique, ids = self.folded[b]
            if not len(unique):
                continue
            wanted = small[where]
            pos = np.searchsorted(unique, wanted)
            pos[pos == len(unique)] = 0
            hit = unique[pos] == wanted
            found[where[hit]] = ids[pos[hit]]
        result: list[int] = found.tolist()
        return result

    def parse(self, kid: int) -> _Extras:
        """A key's entries (sorted: tag, k1, k2, value) as the Vehicle's tuples; cached."""
        payload = np.unique(np.frombuffer(self.keys[kid], dtype=np.uint32)).tolist()
        fuels: list[Fuel] = []
        bodies: list[str] = []
        codes: list[str] = []
        parts: list[int] = []
        axle_rows: set[int] = set()
        axle_counts: list[int] = []
        tainted = False
        for entry in payload:
            ds, k1, vid = entry >> 29, (entry >> 21) & 0xFF, entry & 0xFFFF
            value: Any = self.value_list[ds][vid] if ds != _TAINTED else None
            if ds == _FUELS:
                fuels.append(value)
            elif value is None and ds in (_BODIES, _BODY_CODES, _PARTICULARITIES):
                continue  # an empty code says nothing
            elif ds == _BODIES:
                bodies.append(value)
            elif ds == _BODY_CODES:
                codes.append(value)
            elif ds == _PARTICULARITIES:
                parts.append(value)
            elif ds == _AXLES:
                axle_rows.add(k1)
                if value is not None:
                    axle_counts.append(value)
            else:
                tainted = True
        extras = _Extras(
            _shared(tuple(fuels)),
            _shared(tuple(bodies)),
            _shared(tuple(codes)),
            _shared(tuple(parts)),
            max(axle_counts) if axle_counts else (len(axle_rows) or None),
            tainted,
        )
        self.extras[kid] = extras
        return extras

    def mark_seen(self, codes: npt.NDArray[np.uint64], lines: Sequence[int]) -> None:
        self.seen.add((codes << _SHIFT32) | np.asarray(lines, dtype=np.uint64))

    def finish(self, vehicles: str) -> None:
        """After the vehicle file: report repeated plates and secondary rows nobody used."""
        report = self.report
        what = "duplicate kenteken (later row wins)"
        unused = np.zeros(_TAINTED + 1, dtype=np.int64)
        for b in range(_BUCKETS):
            entries = self.seen.bucket(b)
            codes = (entries >> _SHIFT32).astype(np.uint32)
            repeat_at = np.flatnonzero(codes[1:] == codes[:-1]) + 1
            for i in repeat_at.tolist():
                line = int(entries[i] & _LOW32)
                report.note(what, vehicles, line, f"kenteken {_plate_of(int(codes[i]))} again")
            if self.joined:
                unique, ids = self.folded[b]
                orphan = ~np.isin(unique, codes)
                if orphan.any():
                    unused += self.key_rows[np.asarray(ids[orphan], dtype=np.intp)].sum(axis=0)
        for ds, count in enumerate(unused.tolist()):
            if count and ds in self.sources:
                what = f"{self.sources[ds]}: rows for a kenteken not in the vehicle file"
                report.add_notes(what, count)


# --- per-dataset parsers: a row at a time (exact reasons) and a chunk at a time (fast) --------
#: Parse one secondary record into (plate, k1, k2, value id); raises _RowError.
_RowParser = Callable[[tuple[Any, ...], int], tuple[str, int, int, int]]
#: Parse a chunk into columns at C speed; raises _OddChunkError if anything is unusual.
_ChunkParser = Callable[[list[tuple[Any, ...]]], _SideColumns]
_EMISSION_NOTE: Final = "unrecognised emissiecode_omschrijving (read as not registered)"


def _fuel_parsers(join: _Join, source: _Source) -> tuple[_RowParser, _ChunkParser]:
    report, name, raw_fuels = source.report, source.name, join.raw_fuels

    def learn(raw: tuple[Any, ...]) -> int | None:
        """Value id of a (brandstof, emissiecode, klasse) triple as read; None if odd."""
        vid = raw_fuels.get(raw)
        if vid is not None:
            return vid
        fuel, emission, hybrid = raw
        fuel_name = _text(fuel)
        if fuel_name is None:
            return None
        try:
            klass = parse_emission_class(emission)
        except ValueError:
            return None  # the row parser notes it, for every row
        vid = join.value_id(_FUELS, Fuel(fuel_name, klass, _text(hybrid)))
        if len(raw_fuels) < 10_000:
            raw_fuels[raw] = vid
        return vid

    def parse(values: tuple[Any, ...], line: int) -> tuple[str, int, int, int]:
        raw_plate, seq, fuel, emission, hybrid = values
        plate = _plate(raw_plate)
        number = _int(seq, "brandstof_volgnummer") if seq else 0
        vid = learn(values[2:])
        if vid is None:
            fuel_name = _text(fuel)
            if fuel_name is None:
                raise _RowError("brandstof_omschrijving is missing")
            detail = f"emissiecode_omschrijving {emission!r} for {plate}"
            report.note(_EMISSION_NOTE, name, line, detail)
            vid = join.value_id(_FUELS, Fuel(fuel_name, None, _text(hybrid)))
        return plate, number, 0, vid

    def fast(rows: list[tuple[Any, ...]]) -> _SideColumns:
        raw_plates, seqs, names, emissions, hybrids = zip(*rows, strict=True)
        plates = _plain_plates(raw_plates)
        numbers = _plain_ints(seqs)
        raws = list(zip(names, emissions, hybrids, strict=True))
        ids = list(map(raw_fuels.get, raws))
        i = -1
        while True:  # combinations not seen before: learn them, one by one
            try:
                i = ids.index(None, i + 1)
            except ValueError:
                break
            vid = learn(raws[i])
            if vid is None:
                raise _OddChunkError
            ids[i] = vid
        return _SideColumns(plates, numbers, [0] * len(plates), ids)  # type: ignore[arg-type]

    return parse, fast


_CODE: Final = re.compile(r"[0-9A-Za-z]{1,4}")


def _code_parsers(
    join: _Join, ds: int, field: str, *, numeric: bool
) -> tuple[_RowParser, _ChunkParser]:
    """carrosserie, carrosserie_specificatie, bijzonderheden: (plate, seq[, seq], code)."""
    table = join.values[ds]

    def parse(values: tuple[Any, ...], line: int) -> tuple[str, int, int, int]:
        plate = _plate(values[0])
        k1 = _int(values[1], "volgnummer") if values[1] else 0
        k2 = _int(values[2], "volgnummer") if len(values) > 3 and values[2] else 0
        raw = values[-1]
        code: Any = _text(raw)
        if code is not None:
            if numeric:
                code = _int(code, field)
            elif not _CODE.fullmatch(code):
                raise _RowError(f"{field} {raw[:40]!r} is not a code")
        return plate, k1, k2, join.value_id(ds, code)

    def fast(rows: list[tuple[Any, ...]]) -> _SideColumns:
        columns = list(zip(*rows, strict=True))
        plates = _plain_plates(columns[0])
        k1 = _plain_ints(columns[1])
        k2 = _plain_ints(columns[2]) if len(columns) > 3 else [0] * len(plates)
        codes: Sequence[Any] = columns[-1]
        if numeric:
            codes = _plain_ints(codes)
        ids = list(map(table.get, codes))
        if None in ids:
            raise _OddChunkError
        return _SideColumns(plates, k1, k2, ids)  # type: ignore[arg-type]

    return parse, fast


def _axle_parsers(join: _Join) -> tuple[_RowParser, _ChunkParser]:
    table = join.values[_AXLES]

    def parse(values: tuple[Any, ...], line: int) -> tuple[str, int, int, int]:
        raw_plate, number, count = values
        plate = _plate(raw_plate)
        axle = _int(number, "as_nummer") if number else 0
        total = _int(count, "aantal_assen") if count else None
        return plate, axle, 0, join.value_id(_AXLES, total)

    def fast(rows: list[tuple[Any, ...]]) -> _SideColumns:
        plates, numbers, counts = zip(*rows, strict=True)
        ids = list(map(table.get, _plain_ints(counts)))
        if None in ids:
            raise _OddChunkError
        return _SideColumns(_plain_plates(plates), _plain_ints(numbers), [0] * len(plates), ids)  # type: ignore[arg-type]

    return parse, fast


def _spill_all(
    join: _Join,
    report: LoadReport,
    fuels: Path | None,
    bodies: Path | None,
    body_codes: Path | None,
    particularities: Path | None,
    axles: Path | None,
) -> None:
    """Read every secondary file given into the join, then fold it."""
    if fuels is not None:
        source = _Source(fuels, FUEL_FIELDS, report)
        join.spill(_FUELS, source, *_fuel_parsers(join, source))
    for path, ds, names, parsers in (
        (
            bodies,
            _BODIES,
            BODY_FIELDS,
            _code_parsers(join, _BODIES, "carrosserietype", numeric=False),
        ),
        (
            body_codes,
            _BODY_CODES,
            BODY_CODE_FIELDS,
            _code_parsers(join, _BODY_CODES, "carrosseriecode", numeric=False),
        ),
        (
            particularities,
            _PARTICULARITIES,
            PARTICULARITY_FIELDS,
            _code_parsers(join, _PARTICULARITIES, "bijzonderheid_code", numeric=True),
        ),
        (axles, _AXLES, AXLE_FIELDS, _axle_parsers(join)),
    ):
        if path is not None:
            join.spill(ds, _Source(path, names, report), *parsers)
    join.fold()
