"""Import ontheffingen (applied-for permits) from an exemption register file.

There is no public open-data set of ontheffingen: the national desk (RDW / RVO) and each
municipality keep their own registers. This module defines one exchange format, modelled on
what such a register holds (rules spec §10 and R21-R31), that any of them can export, so the
enforcement side has a single importer. Vrijstellingen are not in it: they follow from the
vehicle's register data (`enforcement.register.rdw`).

Format
======

CSV (comma or semicolon separated, UTF-8, header required, column order free, header names
case-insensitive) or JSON (an array of objects, or NDJSON: one object per line) with these
columns / keys:

* ``kenteken`` (required): the plate, any spelling (``AB-123-C`` or ``AB123C``); stored
  normalised.
* ``type`` (required): the permit type key (§10): ``dagontheffing``,
  ``bijzonder-voertuig-kermis``, ``bijzonder-voertuig-verhuisauto``,
  ``bijzonder-voertuig-kraan``, ``bijzonder-voertuig-exceptioneel``, ``levertijd``,
  ``bedrijfseconomisch``, ``netcongestie``, ``geen-ZE-alternatief``,
  ``aangepast-voertuig-handicap``, ``phev-vrachtauto``, ``hardheidsclausule``, or any other
  key for a local ontheffing (R31), e.g. ``dierenambulance``. Kept as written.
* ``scope`` (required): the municipality that granted it (``Den Haag``), ``NL`` (valid
  nationwide) or ``NL(RVO)`` (granted by the national agency).
* ``valid_from`` (required when granted): a date ``YYYY-MM-DD`` (valid from 00:00 local time
  that day) or a local date-time ``YYYY-MM-DDTHH:MM`` (valid from that instant). A UTC offset
  (``+01:00``) may be added; without one, Europe/Amsterdam time is meant.
* ``valid_until`` (required when granted): a date ``YYYY-MM-DD`` is the LAST valid day,
  inclusive (valid through 23:59:59 local time); a date-time is the first instant it is NOT
  valid (exclusive), as day permits use: ``2026-06-04T06:00`` (R22).
* ``status``: ``granted`` (default when empty), ``refused`` or ``revoked`` (Dutch
  ``verleend``, ``geweigerd``, ``ingetrokken`` too). Refused and revoked permits are imported,
  so a reviewer sees them, but never allow a passage; their dates may be empty.
* ``sequence``: for day permits, this is the K-th day permit of the vehicle in this
  municipality this year: ``3`` or ``3/12``.
* ``reference``: the issuer's permit number. Never personal data of the holder.
* ``note``: free text.

Dates may also be written ``YYYYMMDD`` as in RDW files. JSON values are strings; a JSON number
is accepted for ``sequence``. Unknown columns are ignored.

A malformed row never aborts the import: it is skipped and reported in the `LoadReport` with
its line and the reason (missing kenteken or type, a date that is not a date, an end before the
start, an unknown status, ...).

The scenario files (``ze-scenarios-*.csv``, §10) use a compact one-column form of the same
data, ``type|scope|valid_from|valid_until[|extra]``; `parse_scenario_exemption` reads it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from enforcement.model import LOCAL_TZ, Exemption, ExemptionStatus, local_midnight
from enforcement.plates import normalise
from enforcement.register.rdw import iter_json_objects
from enforcement.register.report import LoadReport

__all__ = [
    "COLUMNS",
    "KNOWN_TYPES",
    "parse_scenario_exemption",
    "read_exemptions",
]

#: The columns of the exchange format, in the order an exporter should write them.
COLUMNS: Final = (
    "kenteken",
    "type",
    "scope",
    "valid_from",
    "valid_until",
    "status",
    "sequence",
    "reference",
    "note",
)

#: The §10 permit type keys; any other key is a local ontheffing (R31).
KNOWN_TYPES: Final = frozenset(
    {
        "dagontheffing",
        "bijzonder-voertuig-kermis",
        "bijzonder-voertuig-verhuisauto",
        "bijzonder-voertuig-kraan",
        "bijzonder-voertuig-exceptioneel",
        "levertijd",
        "bedrijfseconomisch",
        "netcongestie",
        "geen-ZE-alternatief",
        "aangepast-voertuig-handicap",
        "phev-vrachtauto",
        "hardheidsclausule",
    }
)

_STATUS: Final = {
    "": ExemptionStatus.GRANTED,
    "granted": ExemptionStatus.GRANTED,
    "verleend": ExemptionStatus.GRANTED,
    "refused": ExemptionStatus.REFUSED,
    "geweigerd": ExemptionStatus.REFUSED,
    "revoked": ExemptionStatus.REVOKED,
    "ingetrokken": ExemptionStatus.REVOKED,
}
_SEQUENCE: Final = re.compile(r"\s*(\d+)\s*(?:/\s*\d+\s*)?")
_SCENARIO_SEQUENCE: Final = re.compile(r"\bn\s*=\s*(\d+)(?:\s*/\s*\d+)?", re.IGNORECASE)
_TYPE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.()-]*")


# --- values ---------------------------------------------------------------------------------
def _moment(text: str, field: str) -> date | datetime:
    """A calendar date, or an aware instant (local time when no offset is given)."""
    value = text.strip()
    if not value:
        raise ValueError(f"{field} is missing")
    try:
        if len(value) == 8 and value.isdigit():
            return date(int(value[:4]), int(value[4:6]), int(value[6:]))
        if len(value) == 10:
            return date.fromisoformat(value)
        instant = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise ValueError(
            f"{field} {value[:40]!r} is not a date YYYY-MM-DD or a date-time YYYY-MM-DDTHH:MM"
        ) from None
    if instant.tzinfo is None:
        return instant.replace(tzinfo=LOCAL_TZ)
    return instant.astimezone(LOCAL_TZ)


def _start(value: date | datetime) -> datetime:
    """valid_from: a date means from 00:00 local that day."""
    return value if isinstance(value, datetime) else local_midnight(value)


def _end(value: date | datetime) -> datetime:
    """valid_until: a date is the last valid day (inclusive), a date-time is exclusive."""
    return value if isinstance(value, datetime) else local_midnight(value + timedelta(days=1))


def _period(valid_from: str, valid_until: str) -> tuple[datetime, datetime]:
    start = _start(_moment(valid_from, "valid_from"))
    end = _end(_moment(valid_until, "valid_until"))
    if end <= start:
        raise ValueError(f"valid_until {valid_until.strip()!r} is not after valid_from")
    return start, end


def _permit_type(text: str) -> str:
    value = text.strip()
    if not value:
        raise ValueError("type is missing")
    if not _TYPE.fullmatch(value):
        raise ValueError(f"type {value[:40]!r} is not a permit type key")
    return value


# --- the scenario form ----------------------------------------------------------------------
def parse_scenario_exemption(plate: str, text: str) -> Exemption:
    """Parse the scenario files' `type|scope|valid_from|valid_until[|extra]` (§10).

    `valid_from` may be `REFUSED`: the request was not granted, and everything after it is
    free text (kept as the note). In `extra`, `n=K/12` gives the day permit's sequence K; the
    whole extra text is kept as the note. `plate` is used as given (scenario files key their
    cases by a placeholder). Raises ValueError, with the reason, when the text is malformed."""
    parts = [part.strip() for part in text.split("|")]
    if len(parts) < 3:
        raise ValueError(f"expected type|scope|valid_from|valid_until, got {text.strip()!r}")
    permit_type, scope = _permit_type(parts[0]), parts[1]
    if not scope:
        raise ValueError("scope is missing")
    if parts[2].upper() == "REFUSED":
        return Exemption(
            plate=plate,
            type=permit_type,
            scope=scope,
            starts_at=None,
            ends_before=None,
            status=ExemptionStatus.REFUSED,
            note="|".join(parts[3:]),
        )
    if len(parts) < 4:
        raise ValueError(f"valid_until is missing in {text.strip()!r}")
    starts_at, ends_before = _period(parts[2], parts[3])
    extra = "|".join(parts[4:])
    match = _SCENARIO_SEQUENCE.search(extra)
    return Exemption(
        plate=plate,
        type=permit_type,
        scope=scope,
        starts_at=starts_at,
        ends_before=ends_before,
        sequence=int(match[1]) if match else None,
        note=extra,
    )


# --- the register file ----------------------------------------------------------------------
def _text(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{key} is not text")
    return str(value).strip()


def _exemption(record: Mapping[str, Any]) -> Exemption:
    """One row of the exchange format; raises ValueError with the reason."""
    raw_plate = _text(record, "kenteken")
    if any(not (ch.isalnum() or ch in " .-") for ch in raw_plate):
        raise ValueError(
            f"kenteken {raw_plate[:40]!r} has characters other than letters and digits"
        )
    plate = normalise(raw_plate)
    if not plate:
        raise ValueError(
            "kenteken is missing"
            if not raw_plate
            else f"kenteken {raw_plate[:40]!r} has no letters or digits"
        )
    permit_type = _permit_type(_text(record, "type"))
    scope = _text(record, "scope")
    if not scope:
        raise ValueError("scope is missing")
    status_text = _text(record, "status")
    status = _STATUS.get(status_text.lower())
    if status is None:
        raise ValueError(f"status {status_text[:40]!r} is not granted, refused or revoked")
    valid_from, valid_until = _text(record, "valid_from"), _text(record, "valid_until")
    starts_at: datetime | None = None
    ends_before: datetime | None = None
    if status is ExemptionStatus.GRANTED or valid_from or valid_until:
        starts_at, ends_before = _period(valid_from, valid_until)
    sequence_text = _text(record, "sequence")
    sequence = None
    if sequence_text:
        match = _SEQUENCE.fullmatch(sequence_text)
        if not match:
            raise ValueError(f"sequence {sequence_text[:40]!r} is not a number (or K/12)")
        sequence = int(match[1])
    return Exemption(
        plate=plate,
        type=permit_type,
        scope=scope,
        starts_at=starts_at,
        ends_before=ends_before,
        status=status,
        sequence=sequence,
        reference=_text(record, "reference"),
        note=_text(record, "note"),
    )


def _csv_records(path: Path, report: LoadReport) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        first = fh.readline()
        fh.seek(0)
        delimiter = ";" if first.count(";") > first.count(",") else ","
        reader = csv.reader(fh, delimiter=delimiter)
        header = [name.strip().lower() for name in next(reader, [])]
        if "kenteken" not in header or "type" not in header:
            raise ValueError(f"{path.name}: the header needs at least kenteken and type")
        width = len(header)
        while True:
            try:
                for row in reader:
                    if not row:
                        continue
                    line = reader.line_num
                    if len(row) != width:
                        report.read(1)
                        report.skip(path.name, line, f"expected {width} columns, found {len(row)}")
                        continue
                    yield line, dict(zip(header, row, strict=True))
                return
            except csv.Error as exc:
                report.read(1)
                report.skip(path.name, reader.line_num, f"unreadable CSV row: {exc}")


def _json_records(path: Path, report: LoadReport) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        for line, obj in iter_json_objects(fh, path.name, report):
            yield line, {str(key).strip().lower(): value for key, value in obj.items()}


def read_exemptions(path: Path, *, report: LoadReport) -> Iterator[Exemption]:
    """Stream the exemptions of a register file (CSV, JSON array or NDJSON; see above).

    The format is taken from the extension (`.json`, `.ndjson`, `.jsonl` vs anything else)
    or, for other names, from the first character. Bad rows are skipped and reported."""
    suffix = path.suffix.lower()
    if suffix in {".json", ".ndjson", ".jsonl"}:
        is_json = True
    elif suffix == ".csv":
        is_json = False
    else:
        with path.open(encoding="utf-8-sig", errors="replace") as fh:
            is_json = fh.read(4096).lstrip()[:1] in ("[", "{")
    records = _json_records(path, report) if is_json else _csv_records(path, report)
    for line, record in records:
        report.read(1)
        try:
            exemption = _exemption(record)
        except ValueError as exc:
            report.skip(path.name, line, str(exc))
            continue
        report.loaded += 1
        yield exemption
