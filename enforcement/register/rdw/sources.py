"""Reading the RDW open-data files: CSV and JSON record sources, headers in either spelling."""

# Inputs (rules spec §6; column names from the public schema listing `j3lte/rdw-data`):
#
# * `Gekentekende_voertuigen` (m9d7-ebf2), one row per vehicle: required.
# * `Gekentekende_voertuigen_brandstof` (8ys7-d773), one row per fuel of a vehicle.
# * Optional: `..._carrosserie` (vezc-m2t6, `carrosserietype`), `..._carrosserie_specificatie`
#   (jhie-znh9, `carrosseriecode`), `..._bijzonderheden` (7ug8-2dtt, `bijzonderheid_code`) and
#   `..._assen` (3huj-srit, one row per axle, `aantal_assen`).
#
# Each file may be
#
# * the bulk CSV download, whose header holds the display names (`Kenteken,Voertuigsoort,...,
#   Datum eerste toelating,...`; the brandstof one calls `emissiecode_omschrijving`
#   `Emissieklasse`), with numbers sometimes quoted with a thousands separator (`"1,796"`);
# * a SODA CSV export (`/resource/<id>.csv`), whose header holds the API (snake_case) names;
# * a SODA JSON export (`/resource/<id>.json`): an array of objects whose values are all strings
#   and which omit empty fields; dates are `YYYYMMDD` plus `*_dt` timestamps
#   (`2014-06-02T00:00:00.000`). NDJSON (one object per line) is read too.
#
# The format is taken from the extension (`.csv`, `.json`, `.ndjson`, `.jsonl`) or else from the
# first character. Headers of both spellings map to the API names (`canonical_field`).

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator, Sequence
from itertools import islice, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any, Final, NamedTuple, TextIO

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
    # The vehicle's description, for the officer who compares photo and register (issue 21);
    # never read by the law. Absent from older extracts: then None.
    "merk",
    "handelsbenaming",
    "eerste_kleur",
    "tweede_kleur",
)
#: Fields whose absence is not worth a note: the description, which older extracts lack.
_QUIET: Final = frozenset({"merk", "handelsbenaming", "eerste_kleur", "tweede_kleur"})
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


# --- record sources ---------------------------------------------------------------------------
_READ_SIZE: Final = 1 << 20
_PAD: Final = [""]
_JSON_GAP: Final = re.compile(r"[\s,\[\]]*")
# Where the next object starts after a broken one: at the start of a line (SODA writes one
# object per line, `,{...}`), or after `},` on the same line (minified arrays).
_JSON_RESYNC: Final = re.compile(r"(?:\n[ \t\r]*,?|\}[ \t\r]*,)[ \t\r]*(?=\{)")
_JSON_SUFFIXES: Final = {".json", ".ndjson", ".jsonl"}


class _Chunk(NamedTuple):
    """A chunk of records and the 1-based line on which each record starts."""

    rows: list[tuple[Any, ...]]
    """Tuples of raw text for the wanted fields, in `fields` order (None = absent)."""
    lines: Sequence[int]


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
                yield _Chunk(list(map(picker, rows)), range(start + 1, end + 1))
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
        return _Chunk(good, lines)

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
            if field not in positions and not field.endswith("_dt") and field not in _QUIET:
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
                yield _Chunk(rows, lines)
                rows, lines = [], []
        if rows:
            report.read(len(rows))
            yield _Chunk(rows, lines)


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
