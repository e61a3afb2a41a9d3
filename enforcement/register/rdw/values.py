"""Parsing single RDW values (plates, whole numbers, dates, text) and whole plain columns."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any, Final

from enforcement.plates import normalise


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


def _lower_text(raw: str | None) -> str | None:
    return (raw.strip().lower() or None) if raw else None
