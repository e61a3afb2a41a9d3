"""Load the RDW open-data register files into `Vehicle` objects, streaming, in constant memory.

Inputs (rules spec §6; column names from the public schema listing `j3lte/rdw-data`):

* `Gekentekende_voertuigen` (m9d7-ebf2), one row per vehicle: required.
* `Gekentekende_voertuigen_brandstof` (8ys7-d773), one row per fuel of a vehicle.
* Optional: `..._carrosserie` (vezc-m2t6, `carrosserietype`), `..._carrosserie_specificatie`
  (jhie-znh9, `carrosseriecode`), `..._bijzonderheden` (7ug8-2dtt, `bijzonderheid_code`) and
  `..._assen` (3huj-srit, one row per axle, `aantal_assen`).

Each file may be

* the bulk CSV download, whose header holds the display names (`Kenteken,Voertuigsoort,...,
  Datum eerste toelating,...`; the brandstof one calls `emissiecode_omschrijving`
  `Emissieklasse`), with numbers sometimes quoted with a thousands separator (`"1,796"`);
* a SODA CSV export (`/resource/<id>.csv`), whose header holds the API (snake_case) names;
* a SODA JSON export (`/resource/<id>.json`): an array of objects whose values are all strings
  and which omit empty fields; dates are `YYYYMMDD` plus `*_dt` timestamps
  (`2014-06-02T00:00:00.000`). NDJSON (one object per line) is read too.

The format is taken from the extension (`.csv`, `.json`, `.ndjson`, `.jsonl`) or else from the
first character. Headers of both spellings map to the API names (`canonical_field`).

Joining: the files are several GB and not sorted, and a vehicle's rows in the other datasets
can be anywhere in them. So the secondary datasets are read first, each row packed into one
8-byte number (base-36 plate code, dataset, sequence numbers, id of the value), and spilled
into 64 bucket files by plate (buffered, so a small load never touches the disk). Each bucket
is then sorted on its own and every plate's run of rows becomes a key id; plates share keys
("Diesel class 6, body BB, 2 axles" recurs across the fleet), so each distinct key is turned
into tuples of `Fuel`s and codes only once. The vehicle file is then streamed, and each batch
of `batch_size` plates finds its key ids with a vectorised binary search (numpy) in the
memory-mapped sorted arrays. Python memory stays bounded (~1/64 of the secondary rows while
sorting, plus the distinct keys); the temporary files take ~8 bytes per row. Rows are
handled a chunk at a time, column by column with C-level `map`/`zip`, and a chunk falls back
to row-by-row parsing only when something in it is odd; that, not the join, is what sets the
speed. (An SQLite join was tried first: its per-plate lookups made the load 2-3x slower.)

Bad data never aborts a load (a vehicle that is not loaded is "not in the register", so its
passages go to a human, R33). What happens instead, recorded in the `LoadReport`:

* A row with a missing or malformed kenteken, date or number, the wrong number of columns,
  or an unreadable JSON object is skipped, with its file, line and reason.
* A secondary row (e.g. brandstof) that is skipped but whose kenteken could be read makes
  that vehicle *incomplete*: guessing its fuels could wrongly fine it, so the vehicle is
  skipped as well, with a reason that points at the bad row.
* A plate that appears on more than one vehicle row is yielded each time, in file order, so a
  consumer that stores by plate keeps the last row; the repeats are counted as the note
  `duplicate kenteken (later row wins)` at the end of the load (the vehicles' plate codes
  are bucketed on disk like the secondary rows, then sorted per bucket). We chose this over
  dropping rows because the earlier row has already been yielded when the repeat is met
  (streaming), and over a set of plates in memory because the register has ~17 million.
* Secondary rows for plates absent from the vehicle file are ignored and counted per file.
* An emission code that is not 0-6, Z or a roman I-VI class is read as "not registered"
  (None) and counted; `EEV` (between Euro V and VI) is read as 5.

Facts that are not in the open data (kermis/circus truck, verhuisauto) stay False.
"""

from __future__ import annotations

import csv
import gc
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import date
from itertools import islice, repeat
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, Final, NamedTuple, TextIO

import numpy as np
import numpy.typing as npt

from enforcement.model import Fuel, Vehicle, parse_emission_class
from enforcement.plates import normalise
from enforcement.register.report import LoadReport

__all__ = [
    "AXLE_FIELDS",
    "BODY_CODE_FIELDS",
    "BODY_FIELDS",
    "FUEL_FIELDS",
    "PARTICULARITY_FIELDS",
    "VEHICLE_FIELDS",
    "canonical_field",
    "iter_json_objects",
    "read_vehicles",
]

#: Fields read from m9d7-ebf2, by API name, in the order the loader unpacks them.
VEHICLE_FIELDS: Final = (
    "kenteken",
    "voertuigsoort",
    "toegestane_maximum_massa_voertuig",
    "europese_voertuigcategorie",
    "inrichting",
    "lengte",
    "datum_eerste_toelating",
    "datum_eerste_toelating_dt",
    "datum_eerste_tenaamstelling_in_nederland",
    "datum_eerste_tenaamstelling_in_nederland_dt",
    "export_indicator",
)
#: Fields read from 8ys7-d773.
FUEL_FIELDS: Final = (
    "kenteken",
    "brandstof_volgnummer",
    "brandstof_omschrijving",
    "emissiecode_omschrijving",
    "klasse_hybride_elektrisch_voertuig",
)
#: Fields read from vezc-m2t6 (carrosserie).
BODY_FIELDS: Final = ("kenteken", "carrosserie_volgnummer", "carrosserietype")
#: Fields read from jhie-znh9 (carrosserie_specificatie).
BODY_CODE_FIELDS: Final = (
    "kenteken",
    "carrosserie_volgnummer",
    "carrosserie_voertuig_nummer_code_volgnummer",
    "carrosseriecode",
)
#: Fields read from 7ug8-2dtt (bijzonderheden).
PARTICULARITY_FIELDS: Final = ("kenteken", "bijzonderheid_volgnummer", "bijzonderheid_code")
#: Fields read from 3huj-srit (assen).
AXLE_FIELDS: Final = ("kenteken", "as_nummer", "aantal_assen")

#: Display names (bulk CSV headers) whose folded form is not the API name (j3lte/rdw-data).
_HEADER_ALIASES: Final = {
    "emissieklasse": "emissiecode_omschrijving",
    "bijzonderheid_code_omschrijving": "bijzonderheid_code_1",
}
_NOT_NAME_CHAR: Final = re.compile(r"[^0-9a-z]+")


def canonical_field(header: str) -> str:
    """The API name for a column header in either spelling.

    Lower case, every run of other characters one underscore, plus the aliases where RDW's
    display name differs from the API name: `Datum eerste toelating` ->
    `datum_eerste_toelating`, `Milieuklasse EG Goedkeuring (licht)` ->
    `milieuklasse_eg_goedkeuring_licht`, `Emissieklasse` -> `emissiecode_omschrijving`."""
    key = _NOT_NAME_CHAR.sub("_", header.strip().lstrip("\ufeff").lower()).strip("_")
    return _HEADER_ALIASES.get(key, key)


class _RowError(ValueError):
    """A row cannot be used; the message is the report's reason."""


class _OddChunkError(Exception):
    """A chunk is not all plain: parse it row by row instead."""


# --- value parsers ----------------------------------------------------------------------------
_DATE_CACHE: dict[str, date] = {}
_DATE_CACHE_MAX: Final = 200_000
_SODA_CSV_DT: Final = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:\s.*)?")
_NORMAL_PLATE: Final = re.compile(r"[0-9A-Z]{6}")
_is_normal_plate: Final = _NORMAL_PLATE.fullmatch


_SPELLED_PLATE: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z .-]*")


def _plate(raw: str | None) -> str:
    """The register's kenteken, normalised; only case, spaces, dots and dashes may differ
    (any other character is a damaged value, which must not become another vehicle's plate)."""
    if not raw:
        raise _RowError("kenteken is missing")
    if _is_normal_plate(raw):  # the register's own spelling: normalise(raw) == raw
        return raw
    if not _SPELLED_PLATE.fullmatch(raw.strip()):
        raise _RowError(f"kenteken {raw[:40]!r} has characters other than letters and digits")
    plate = normalise(raw)
    if len(plate) != 6:
        raise _RowError(f"kenteken {raw[:40]!r} is not 6 letters and digits")
    return plate


def _int(raw: str, name: str) -> int:
    """A whole number, also written with thousands separators (`"1,796"`)."""
    try:
        value = int(raw.replace(",", ""))  # int() itself accepts spaces around the digits
    except ValueError:
        raise _RowError(f"{name} {raw[:40]!r} is not a whole number") from None
    if value < 0:
        raise _RowError(f"{name} {raw[:40]!r} is negative")
    return value


def _yyyymmdd(raw: str, name: str) -> date:
    day = _DATE_CACHE.get(raw)
    if day is not None:
        return day
    text = raw.strip()
    try:
        if len(text) != 8 or not (text.isascii() and text.isdigit()):
            raise ValueError
        day = date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise _RowError(f"{name} {raw[:40]!r} is not a date YYYYMMDD") from None
    if len(_DATE_CACHE) < _DATE_CACHE_MAX:
        _DATE_CACHE[raw] = day
    return day


def _timestamp_date(raw: str, name: str) -> date:
    """A `*_dt` value: SODA JSON `2014-06-02T00:00:00.000`, or the SODA CSV export's
    `06/02/2014 12:00:00 AM` (Socrata writes month first)."""
    text = raw.strip()
    try:
        if len(text) >= 10 and text[4] == "-":
            return date.fromisoformat(text[:10])
        match = _SODA_CSV_DT.fullmatch(text)
        if match:
            return date(int(match[3]), int(match[1]), int(match[2]))
    except ValueError:
        pass
    raise _RowError(f"{name} {raw[:40]!r} is not a date")


def _date(raw: str | None, raw_dt: str | None, name: str) -> date | None:
    """The YYYYMMDD field, or its `_dt` twin when only that one is filled."""
    if raw:
        return _yyyymmdd(raw, name)
    if raw_dt:
        return _timestamp_date(raw_dt, name + "_dt")
    return None


def _text(raw: str | None) -> str | None:
    if not raw:
        return None
    return raw.strip() or None


def _plain_ints(column: Sequence[Any]) -> list[int]:
    """A column of plain non-negative whole numbers, at C speed; _OddChunkError if any is not."""
    try:
        if "-" in "".join(column):
            raise _OddChunkError
        return list(map(int, column))
    except (TypeError, ValueError):
        raise _OddChunkError from None


def _plain_plates(column: Sequence[Any]) -> Sequence[str]:
    """A column of plates already in the register's spelling; _OddChunkError if any is not."""
    try:
        if all(map(_is_normal_plate, column)):
            return column
    except TypeError:
        pass
    raise _OddChunkError


# --- record sources ---------------------------------------------------------------------------
_READ_SIZE: Final = 1 << 20
_PAD: Final = [""]
_JSON_GAP: Final = re.compile(r"[\s,\[\]]*")
# Where the next object starts after a broken one: at the start of a line (SODA writes one
# object per line, `,{...}`), or after `},` on the same line (minified arrays).
_JSON_RESYNC: Final = re.compile(r"(?:\n[ \t\r]*,?|\}[ \t\r]*,)[ \t\r]*(?=\{)")
_JSON_SUFFIXES: Final = {".json", ".ndjson", ".jsonl"}

#: A chunk of records (tuples of raw text for the wanted fields, None = absent) and the
#: 1-based line on which each record starts.
_Chunk = tuple[list[tuple[Any, ...]], Sequence[int]]


class _Source:
    """The records of one RDW file, in chunks. Rows with the wrong column count, unreadable
    CSV rows and unreadable JSON objects are skipped (and reported) here."""

    def __init__(self, path: Path, fields: Sequence[str], report: LoadReport) -> None:
        self.path = path
        self.name = path.name
        self.fields = tuple(fields)
        self.report = report

    def chunks(self, size: int) -> Iterator[_Chunk]:
        # A byte that is not UTF-8 becomes U+FFFD instead of stopping the load; in a kenteken
        # it makes that row bad, elsewhere it is only text.
        with self.path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
            if self._is_json(fh):
                yield from self._json_chunks(fh, size)
            else:
                yield from self._csv_chunks(fh, size)

    def _is_json(self, fh: TextIO) -> bool:
        suffix = self.path.suffix.lower()
        if suffix in _JSON_SUFFIXES:
            return True
        if suffix == ".csv":
            return False
        head = fh.read(4096).lstrip()
        fh.seek(0)
        return head[:1] in ("[", "{")

    # CSV ------------------------------------------------------------------------------------
    def _csv_chunks(self, fh: TextIO, size: int) -> Iterator[_Chunk]:
        first = fh.readline()
        fh.seek(0)
        if not first.strip():
            self.report.note(f"{self.name}: empty file", self.name, 1, "no header")
            return
        delimiter = ";" if first.count(";") > first.count(",") else ","
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader)
        picker, padded = self._extractor(header)
        # A field the file lacks is read as "" from a pad column added to each row (C-level).
        extract: Callable[[list[str]], tuple[Any, ...]] = (
            (lambda row: picker(row + _PAD)) if padded else picker
        )
        width = len(header)
        report, name = self.report, self.name
        while True:
            start = reader.line_num
            rows: list[list[str]] = []
            errors: list[tuple[int, int]] = []  # (rows read before it, line after it)
            while len(rows) < size:
                try:
                    rows.extend(islice(reader, size - len(rows)))
                    break
                except csv.Error as exc:
                    report.skip(name, reader.line_num, f"unreadable CSV row: {exc}")
                    report.read(1)
                    errors.append((len(rows), reader.line_num))
            if not rows:
                return
            end = reader.line_num
            if not errors and end - start == len(rows) and set(map(len, rows)) == {width}:
                report.read(len(rows))
                if padded:
                    rows = list(map(list.__add__, rows, repeat(_PAD)))
                yield list(map(picker, rows)), range(start + 1, end + 1)
            else:
                yield self._odd_csv_chunk(rows, start, errors, width, extract)
            if len(rows) < size:
                return  # islice stopped early: end of file

    def _odd_csv_chunk(
        self,
        rows: list[list[str]],
        start: int,
        errors: list[tuple[int, int]],
        width: int,
        extract: Callable[[list[str]], tuple[Any, ...]],
    ) -> _Chunk:
        """Row by row: exact lines despite quoted line breaks, blank lines and bad rows."""
        report, name = self.report, self.name
        good: list[tuple[Any, ...]] = []
        lines: list[int] = []
        resume = dict(errors)
        line = start
        for i, row in enumerate(rows):
            line = resume.get(i, line)
            first = line + 1
            line = first + sum(field.count("\n") for field in row)
            if not row:
                continue  # a blank line is not a record
            report.read(1)
            if len(row) != width:
                report.skip(name, first, f"expected {width} columns, found {len(row)}")
                continue
            good.append(extract(row))
            lines.append(first)
        return good, lines

    def _extractor(
        self, header: Sequence[str]
    ) -> tuple[Callable[[list[str]], tuple[Any, ...]], bool]:
        """Picks the wanted fields out of a row; True if it needs the pad column."""
        positions: dict[str, int] = {}
        for i, column in enumerate(header):
            positions.setdefault(canonical_field(column), i)
        if "kenteken" not in positions:
            raise ValueError(f"{self.name}: no Kenteken column in the header")
        for field in self.fields:
            if field not in positions and not field.endswith("_dt"):
                self.report.note(
                    f"{self.name}: column {field} absent", self.name, 1, f"no column {field}"
                )
        pad = len(header)
        picker = itemgetter(*(positions.get(f, pad) for f in self.fields))
        return picker, any(f not in positions for f in self.fields)

    # JSON -----------------------------------------------------------------------------------
    def _json_chunks(self, fh: TextIO, size: int) -> Iterator[_Chunk]:
        report, name, fields = self.report, self.name, self.fields
        rows: list[tuple[Any, ...]] = []
        lines: list[int] = []
        for line, obj in iter_json_objects(fh, name, report):
            if "kenteken" not in obj:  # display names, or no plate at all
                obj = {canonical_field(k): v for k, v in obj.items()}
            values = tuple(map(obj.get, fields))
            if not _TEXT_TYPES.issuperset(map(type, values)):
                values = _json_scalars(values)
                if not values:
                    report.read(1)
                    report.skip(name, line, "a field holds a JSON object or list, not text")
                    continue
            rows.append(values)
            lines.append(line)
            if len(rows) >= size:
                report.read(len(rows))
                yield rows, lines
                rows, lines = [], []
        if rows:
            report.read(len(rows))
            yield rows, lines


_TEXT_TYPES: Final = frozenset({str, type(None)})


def iter_json_objects(
    fh: TextIO, name: str, report: LoadReport
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, object) one at a time from a JSON array or NDJSON, never the whole file at once.

    Reads 1 MiB at a time and decodes each object with `JSONDecoder.raw_decode`. A broken
    object is reported (counted in `rows_read` and `skipped`) and reading resumes at the next
    object that starts a line or follows `},`: SODA writes flat objects one per line. Good
    objects are not counted here; the caller counts what it uses."""
    decode = json.JSONDecoder().raw_decode
    buf, pos, line, eof = "", 0, 1, False
    while True:
        gap = _JSON_GAP.match(buf, pos)
        if gap is not None and gap.end() > pos:
            line += buf.count("\n", pos, gap.end())
            pos = gap.end()
        if pos >= len(buf):
            if eof:
                return
            buf, pos = fh.read(_READ_SIZE), 0
            eof = not buf
            continue
        try:
            if buf[pos] != "{":
                raise ValueError(f"expected an object, found {buf[pos : pos + 20]!r}")
            obj, end = decode(buf, pos)
        except ValueError as exc:
            resync = _JSON_RESYNC.search(buf, pos + 1)
            if resync is None and not eof:
                more = fh.read(_READ_SIZE)  # maybe the object is only cut by the buffer
                if more:
                    buf, pos = buf[pos:] + more, 0
                else:
                    eof = True
                continue
            stop = resync.end() if resync is not None else len(buf)
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            report.read(1)
            report.skip(name, line, f"invalid JSON object: {reason}")
            line += buf.count("\n", pos, stop)
            pos = stop
            continue
        start = line
        line += buf.count("\n", pos, end)
        pos = end
        yield start, obj


def _json_scalars(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Numbers written as JSON numbers become text; an object or list makes the row bad."""
    out: list[str | None] = []
    for value in values:
        if value is None or isinstance(value, str):
            out.append(value)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            return ()
        else:
            out.append(str(value))
    return tuple(out)


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

#: A parsed chunk of secondary rows as columns: plates, k1, k2, value ids.
_SideColumns = tuple[Sequence[str], Sequence[int], Sequence[int], Sequence[int]]


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
        self.folded: list[tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]] = []

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
            self.folded.append((folded[0], folded[1]))
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
        return plates, numbers, [0] * len(plates), ids  # type: ignore[return-value]

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
        return plates, k1, k2, ids  # type: ignore[return-value]

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
        return _plain_plates(plates), _plain_ints(numbers), [0] * len(plates), ids  # type: ignore[return-value]

    return parse, fast


# --- the loader -------------------------------------------------------------------------------
#: Vehicle's fields in constructor order, with the default used when the files lack one.
_VEHICLE_FIELDS: Final = tuple((f.name, f.default) for f in fields(Vehicle))


def read_vehicles(
    vehicles: Path,
    fuels: Path | None = None,
    *,
    bodies: Path | None = None,
    body_codes: Path | None = None,
    particularities: Path | None = None,
    axles: Path | None = None,
    report: LoadReport,
    batch_size: int = 5000,
    work_dir: Path | None = None,
) -> Iterator[Vehicle]:
    """Stream `Vehicle`s from an RDW vehicle file joined with the other datasets given.

    Vehicles come in file order. The secondary files are read completely before the first
    vehicle is yielded; the duplicate and unused-row notes are added when the last vehicle
    has been yielded. `work_dir` is where the temporary join files go (default: the system
    temp dir); they take about 8 bytes per secondary row and per vehicle. See the module
    docstring for formats and for what happens to bad rows."""
    join = _Join(report, work_dir)
    try:
        with _no_cyclic_gc():
            _spill_all(join, report, fuels, bodies, body_codes, particularities, axles)
        source = _Source(vehicles, VEHICLE_FIELDS, report)
        chunks = source.chunks(max(1, batch_size))
        while True:
            with _no_cyclic_gc():  # only between yields: the consumer's code runs as usual
                chunk = next(chunks, None)
                if chunk is None:
                    break
                rows, lines = chunk
                try:
                    columns = _vehicle_columns(rows, lines)
                except _OddChunkError:
                    columns = _vehicle_columns_by_row(rows, lines, source)
                built = _build(columns, join, source.name) if columns[0] else []
            yield from built
        join.finish(source.name)
    finally:
        join.close()


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a chunk is parsed.

    A chunk allocates some 100,000 tuples, lists and objects; each allocation burst makes the
    collector scan the young objects again, which cost a fifth of the load time. Nothing the
    loader makes forms a reference cycle (reference counting frees it all), so pausing loses
    nothing. The collector is turned back on before any vehicle is handed out, and left as it
    was if the caller had turned it off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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


class _Columns(NamedTuple):
    """A chunk of the vehicle file, parsed, one column per field (and the source lines)."""

    plates: Sequence[str]
    kinds: Sequence[str | None]
    masses: Sequence[int | None]
    categories: Sequence[str | None]
    bodies: Sequence[str | None]
    lengths: Sequence[int | None]
    dets: Sequence[date | None]
    nls: Sequence[date | None]
    exported: Sequence[bool]
    lines: Sequence[int]


def _dates(raw: Sequence[Any], raw_dt: Sequence[Any], name: str) -> list[date | None]:
    """Cached YYYYMMDD dates at C speed; the misses (new, empty, `_dt` only) one by one."""
    days = list(map(_DATE_CACHE.get, raw))
    i = -1
    while True:
        try:
            i = days.index(None, i + 1)
        except ValueError:
            return days
        days[i] = _date(raw[i], raw_dt[i], name)


def _optional_ints(column: Sequence[Any]) -> list[int | None]:
    """Whole numbers or empty, maybe with thousands separators; _OddChunkError otherwise."""
    present = "".join(filter(None, column))
    if "-" in present:
        raise _OddChunkError
    if "," in present:
        return [int(m.replace(",", "")) if m else None for m in column]
    return [int(m) if m else None for m in column]


def _vehicle_columns(rows: list[tuple[Any, ...]], lines: Sequence[int]) -> _Columns:
    """The common case: a chunk of plain rows, parsed column by column."""
    try:
        (plates, kinds, masses, categories, bodies, lengths, det, det_dt, nl, nl_dt, exports) = zip(
            *rows, strict=True
        )
        dets = _dates(det, det_dt, "datum_eerste_toelating")
        nls = _dates(nl, nl_dt, "datum_eerste_tenaamstelling_in_nederland")
        mass_ints = _optional_ints(masses)
        length_ints = _optional_ints(lengths)
    except (_RowError, ValueError, TypeError):
        raise _OddChunkError from None
    return _Columns(
        _plain_plates(plates),
        [(k.strip() or None) if k else None for k in kinds],
        mass_ints,
        [(c.strip() or None) if c else None for c in categories],
        [(b.strip().lower() or None) if b else None for b in bodies],
        length_ints,
        dets,
        nls,
        [e == "Ja" for e in exports],
        lines,
    )


def _lower_text(raw: str | None) -> str | None:
    return (raw.strip().lower() or None) if raw else None


def _vehicle_columns_by_row(
    rows: list[tuple[Any, ...]], lines: Sequence[int], source: _Source
) -> _Columns:
    """A chunk with something odd in it: row by row, skipping (and reporting) bad rows."""
    report, name = source.report, source.name
    good: list[tuple[Any, ...]] = []
    for values, line in zip(rows, lines, strict=True):
        raw_plate, kind, mass, category, body, length, det, det_dt, nl, nl_dt, export = values
        try:
            good.append(
                (
                    _plate(raw_plate),
                    _text(kind),
                    _int(mass, "toegestane_maximum_massa_voertuig") if mass else None,
                    _text(category),
                    _lower_text(body),
                    _int(length, "lengte") if length else None,
                    _date(det, det_dt, "datum_eerste_toelating"),
                    _date(nl, nl_dt, "datum_eerste_tenaamstelling_in_nederland"),
                    export == "Ja",
                    line,
                )
            )
        except _RowError as exc:
            report.skip(name, line, str(exc))
    if not good:
        return _Columns((), (), (), (), (), (), (), (), (), ())
    return _Columns(*zip(*good, strict=True))


_TUPLES: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _shared(value: tuple[Any, ...]) -> tuple[Any, ...]:
    """One object per distinct small tuple (fuel lists, codes): less memory downstream."""
    found = _TUPLES.get(value)
    if found is None:
        if len(_TUPLES) >= 100_000:
            return value
        found = _TUPLES[value] = value
    return found


_EXTRAS_FIELDS: Final = attrgetter("body_types", "body_codes", "particularities", "axles", "fuels")


_IS_TAINTED: Final = attrgetter("tainted")


def _take(column: Sequence[Any], keep: list[int]) -> list[Any]:
    return [column[i] for i in keep]


def _build(columns: _Columns, join: _Join, name: str) -> list[Vehicle]:
    """Attach the secondary data to a chunk of vehicles and build the `Vehicle`s."""
    plates, kinds, masses, categories, bodies, lengths, dets, nls, exported, lines = columns
    report = join.report
    codes = _plate_codes(plates)
    join.mark_seen(codes, lines)
    side: tuple[Iterable[Any], ...]
    if join.joined:
        kids = join.lookup(codes)
        extras: list[_Extras | None] = list(map(join.extras.__getitem__, kids))
        i = -1
        while True:  # only keys met for the first time are parsed, one by one
            try:
                i = extras.index(None, i + 1)
            except ValueError:
                break
            extras[i] = join.parse(kids[i])
        if any(map(_IS_TAINTED, extras)):
            keep = []
            for i, found in enumerate(extras):
                if found is not None and found.tainted:
                    why = join.tainted.get(int(codes[i]), "a row of it in another file was skipped")
                    report.skip(name, lines[i], f"vehicle {plates[i]} is incomplete: {why}")
                else:
                    keep.append(i)
            if not keep:
                return []
            plates, kinds, masses, categories, bodies, lengths, dets, nls, exported = (
                _take(c, keep)
                for c in (plates, kinds, masses, categories, bodies, lengths, dets, nls, exported)
            )
            extras = _take(extras, keep)
        side = tuple(zip(*map(_EXTRAS_FIELDS, extras), strict=True))
    else:
        side = (repeat(()), repeat(()), repeat(()), repeat(None), repeat(()))
    types, codes_, parts, axles, fuels = side
    known: dict[str, Iterable[Any]] = {
        "plate": plates,
        "kind": kinds,
        "max_mass_kg": masses,
        "eu_category": categories,
        "body": bodies,
        "body_type_codes": types,
        "body_codes": codes_,
        "particularity_codes": parts,
        "axles": axles,
        "length_cm": lengths,
        "first_admission": dets,
        "first_nl_registration": nls,
        "fuels": fuels,
        "exported": exported,
    }
    # Positional arguments through map(): a third faster than keywords, and still right if
    # base.py adds or reorders fields (a field we do not load gets its default).
    out = list(map(Vehicle, *(known.get(f, repeat(d)) for f, d in _VEHICLE_FIELDS)))
    report.loaded += len(out)
    return out
