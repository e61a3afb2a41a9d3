"""Plate formats per country as data, and the policy for correcting an OCR read.

Pure (no I/O). The Dutch formats are the 14 sidecodes of `enforcement.plates`; the others are
the current and still-common older formats of the neighbouring countries whose vehicles drive
into Dutch zones most, as regular expressions over the *normalised* plate (uppercase, no
separators, no country band). They are shape checks, not register checks: they tell "this
read looks like a German plate" from "this read fits nothing", which is what decides whether
a read may be corrected and whether it is published with confidence.

The correction policy (`correct_read`), in order:
1. A read outside the length limits, or assigned by the OCR to a country other than NL, is
   never corrected (a foreign plate pushed onto a real Dutch one accuses an innocent owner).
2. A read whose country is unknown and which already fits a foreign format is not corrected.
3. Only characters whose own OCR confidence is below `max_char_confidence` may change, and
   only by OCR look-alike swaps (`enforcement.plates.LOOKALIKES`); for an unknown country at
   most one swap, for NL at most two.
4. A tie between corrections changes nothing (the candidates are kept for the reviewer).
A read that fits no known format after this is `fits=None`: the edge publishes it as low
confidence, so the stream decides it `undetermined` and a human looks.

Sources: Wikipedia "Vehicle registration plates of Belgium/Germany/France/Poland/the United
Kingdom" (format sections), checked against the dev photos' labels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from enforcement.plates import Correction, check, correct, normalise, special_registration

MIN_PLATE_LENGTH: Final = 4
"""Shorter reads are fragments (a partly hidden plate, a sticker): not a plate."""
MAX_PLATE_LENGTH: Final = 10
"""The OCR has 10 slots and no European format is longer."""

#: Country -> (format name, regular expression over the normalised plate), the strictest
#: first (`formats_of` lists them in this order). NL is checked by its sidecodes
#: (`enforcement.plates.check`).
FOREIGN_FORMATS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "BE": (
        ("BE-2010", r"[1-9][A-Z]{3}[0-9]{3}"),  # 1-ABC-123, since 2010
        ("BE-1973", r"[A-Z]{3}[0-9]{3}"),  # ABC-123, 1973-2008
        ("BE-2008", r"[0-9]{3}[A-Z]{3}"),  # 123-ABC, 2008-2010
    ),
    "DE": (
        # Area code (1-3 letters), 1-2 letters, 1-4 digits, optional E (electric) or H
        # (historic); at most 8 characters in all.
        ("DE", r"(?=.{3,9}$)[A-Z]{1,3}[A-Z]{1,2}[1-9][0-9]{0,3}[EH]?"),
    ),
    "FR": (
        ("FR-SIV", r"[A-Z]{2}[0-9]{3}[A-Z]{2}"),  # AB-123-CD, since 2009
        ("FR-FNI", r"[0-9]{1,4}[A-Z]{1,3}(?:[0-9]{2}|2A|2B|97[1-6])"),  # 1234 AB 75, before
    ),
    "GB": (
        ("GB-2001", r"[A-Z]{2}[0-9]{2}[A-Z]{3}"),  # AB12 CDE, since 2001
        ("GB-prefix", r"[A-Z][0-9]{1,3}[A-Z]{3}"),  # A123 BCD, 1983-2001
        ("GB-suffix", r"[A-Z]{3}[0-9]{1,3}[A-Z]"),  # ABC 123D, 1963-1983
    ),
    "PL": (
        # District (2-3 letters) and 4-5 characters, the first of them a digit in most series.
        ("PL", r"[A-Z]{2,3}(?=[0-9A-Z]*[0-9])[0-9A-Z]{4,5}"),
    ),
}

_COMPILED: Final = {
    country: tuple((name, re.compile(pattern)) for name, pattern in formats)
    for country, formats in FOREIGN_FORMATS.items()
}


def formats_of(plate: str) -> tuple[str, ...]:
    """Every format name the normalised `plate` fits ("NL-7" for sidecode 7, "DE", ...)."""
    p = normalise(plate)
    found: list[str] = []
    result = check(p)
    if result.valid and result.sidecode is not None:
        found.append(f"NL-{result.sidecode}")
    elif special_registration(p) is not None:
        found.append("NL-special")
    for formats in _COMPILED.values():
        found.extend(name for name, pattern in formats if pattern.fullmatch(p))
    return tuple(found)


def fits_country(plate: str, country: str) -> bool:
    """Does the plate fit a format of `country` (False for a country without formats here)?"""
    prefix = country + "-"
    return any(f == country or f.startswith(prefix) for f in formats_of(plate))


@dataclass(frozen=True, slots=True)
class ReadCorrection:
    """What the correction policy did with one voted read."""

    correction: Correction
    """plate = the read as published; changes = (position, read, used) per changed char."""
    fits: str | None
    """The first format the published plate fits, None when it fits none."""
    reason: str
    """Why it was or was not corrected (for the log and the tests; no plate text)."""


def _unchanged(p: str, reason: str, candidates: tuple[str, ...] = ()) -> ReadCorrection:
    fits = formats_of(p)
    return ReadCorrection(
        Correction(raw=p, plate=p, changed=False, changes=(), candidates=candidates),
        fits[0] if fits else None,
        reason,
    )


def correct_read(
    raw: str,
    char_confidences: Sequence[float],
    country: str | None,
    max_char_confidence: float = 0.9,
) -> ReadCorrection:
    """Apply the correction policy of this module to one voted read (see the docstring)."""
    p = normalise(raw)
    if not MIN_PLATE_LENGTH <= len(p) <= MAX_PLATE_LENGTH:
        return _unchanged(p, "length")
    if country not in (None, "NL"):
        return _unchanged(p, "foreign")
    if check(p).valid or special_registration(p) is not None:
        return _unchanged(p, "valid")
    if country is None and formats_of(p):
        return _unchanged(p, "fits-foreign")
    if len(p) != 6 or len(char_confidences) != len(p):
        return _unchanged(p, "not-dutch-shape")
    changeable = frozenset(i for i, c in enumerate(char_confidences) if c < max_char_confidence)
    if not changeable:
        return _unchanged(p, "confident")
    result = correct(p, max_changes=1 if country is None else 2, changeable=changeable)
    if not result.changed:
        return _unchanged(
            p, "ambiguous" if result.candidates else "no-candidate", result.candidates
        )
    fits = formats_of(result.plate)
    return ReadCorrection(result, fits[0] if fits else None, "corrected")
