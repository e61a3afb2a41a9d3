"""`read_vehicles`: the RDW vehicle file, joined with the secondary files, as `Vehicle`s."""

# Rows are handled a chunk at a time, column by column with C-level `map`/`zip`, and a chunk
# falls back to row-by-row parsing only when something in it is odd; that, not the join, is
# what sets the speed.
#
# Bad data never aborts a load (a vehicle that is not loaded is "not in the register", so its
# passages go to a human, R33). What happens instead, recorded in the `LoadReport`:
#
# * A row with a missing or malformed kenteken, date or number, the wrong number of columns,
#   or an unreadable JSON object is skipped, with its file, line and reason.
# * A secondary row (e.g. brandstof) that is skipped but whose kenteken could be read makes
#   that vehicle *incomplete*: guessing its fuels could wrongly fine it, so the vehicle is
#   skipped as well, with a reason that points at the bad row.
# * A plate that appears on more than one vehicle row is yielded each time, in file order, so a
#   consumer that stores by plate keeps the last row; the repeats are counted as the note
#   `duplicate kenteken (later row wins)` at the end of the load (the vehicles' plate codes
#   are bucketed on disk like the secondary rows, then sorted per bucket). We chose this over
#   dropping rows because the earlier row has already been yielded when the repeat is met
#   (streaming), and over a set of plates in memory because the register has ~17 million.
# * Secondary rows for plates absent from the vehicle file are ignored and counted per file.
# * An emission code that is not 0-6, Z or a roman I-VI class is read as "not registered"
#   (None) and counted; `EEV` (between Euro V and VI) is read as 5.
#
# Facts that are not in the open data (kermis/circus truck, verhuisauto) stay False.

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import Any, Final, NamedTuple

import msgspec

from enforcement.model import Vehicle
from enforcement.register.rdw.join import _Extras, _Join, _plate_codes, _spill_all
from enforcement.register.rdw.sources import VEHICLE_FIELDS, _Source
from enforcement.register.rdw.values import (
    _DATE_CACHE,
    _date,
    _int,
    _lower_text,
    _OddChunkError,
    _plain_plates,
    _plate,
    _RowError,
    _text,
)
from enforcement.register.report import LoadReport

__all__ = ["read_vehicles"]

# --- the loader -------------------------------------------------------------------------------
#: Vehicle's fields in constructor order, with the default used when the files lack one.
_VEHICLE_FIELDS: Final = tuple((f.name, f.default) for f in msgspec.structs.fields(Vehicle))


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
    temp dir); they take about 8 bytes per secondary row and per vehicle. The formats are
    described in `enforcement.register.rdw.sources`, what happens to bad rows at the top of
    this module."""
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
    makes: Sequence[str | None]
    names: Sequence[str | None]
    colours: Sequence[str | None]
    second_colours: Sequence[str | None]
    lines: Sequence[int]


#: What RDW writes in a colour column for "no colour registered".
_NO_COLOUR: Final = frozenset({"niet geregistreerd", "n.v.t.", "nvt", "onbekend"})


def _colour(raw: str | None) -> str | None:
    """An RDW colour as written (`WIT`, `GRIJS`), None for empty or "Niet geregistreerd"."""
    text = _text(raw)
    return None if text is None or text.lower() in _NO_COLOUR else text


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
        (
            plates, kinds, masses, categories, bodies, lengths, det, det_dt, nl, nl_dt, exports,
            makes, names, colours, second_colours,
        ) = zip(*rows, strict=True)  # fmt: skip
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
        list(map(_text, makes)),
        list(map(_text, names)),
        list(map(_colour, colours)),
        list(map(_colour, second_colours)),
        lines,
    )


def _vehicle_columns_by_row(
    rows: list[tuple[Any, ...]], lines: Sequence[int], source: _Source
) -> _Columns:
    """A chunk with something odd in it: row by row, skipping (and reporting) bad rows."""
    report, name = source.report, source.name
    good: list[tuple[Any, ...]] = []
    for values, line in zip(rows, lines, strict=True):
        (
            raw_plate, kind, mass, category, body, length, det, det_dt, nl, nl_dt, export,
            make, commercial_name, colour, second_colour,
        ) = values  # fmt: skip
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
                    _text(make),
                    _text(commercial_name),
                    _colour(colour),
                    _colour(second_colour),
                    line,
                )
            )
        except _RowError as exc:
            report.skip(name, line, str(exc))
    if not good:
        return _Columns(*([()] * len(_Columns._fields)))
    return _Columns(*zip(*good, strict=True))


_EXTRAS_FIELDS: Final = attrgetter("body_types", "body_codes", "particularities", "axles", "fuels")


_IS_TAINTED: Final = attrgetter("tainted")


def _take(column: Sequence[Any], keep: list[int]) -> list[Any]:
    return [column[i] for i in keep]


def _build(columns: _Columns, join: _Join, name: str) -> list[Vehicle]:
    """Attach the secondary data to a chunk of vehicles and build the `Vehicle`s."""
    plates, kinds, masses, categories, bodies, lengths, dets, nls, exported = columns[:9]
    makes, names, colours, second_colours, lines = columns[9:]
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
            (
                plates, kinds, masses, categories, bodies, lengths, dets, nls, exported,
                makes, names, colours, second_colours,
            ) = (
                _take(c, keep)
                for c in (
                    plates, kinds, masses, categories, bodies, lengths, dets, nls, exported,
                    makes, names, colours, second_colours,
                )
            )  # fmt: skip
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
        "make": makes,
        "commercial_name": names,
        "colour": colours,
        "second_colour": second_colours,
    }
    # Positional arguments through map(): a third faster than keywords, and still right if
    # base.py adds or reorders fields (a field we do not load gets its default).
    out = list(map(Vehicle, *(known.get(f, repeat(d)) for f, d in _VEHICLE_FIELDS)))
    report.loaded += len(out)
    return out
