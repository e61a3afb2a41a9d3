"""Dutch licence plates: normalise, sidecode, format, validate and correct OCR look-alikes.

Pure functions, no I/O (rules spec §7). The RDW open data stores a plate without dashes;
the physical plate groups its six characters by *sidecode* (14 letter/digit patterns).
The 14 patterns are pairwise distinct as letter/digit shapes, so a normalised plate matches
at most one; that lets `sidecode` use one table lookup instead of 14 regexes, which matters
because `normalise` and `sidecode` run per passage on the edge and in the stream.

Validity (`check`) is stricter than the shape: each series issued only certain letters,
some letter combinations were never issued, and a few registrations are *special* (Royal
House, diplomatic, trade plates, ...) and must go to manual review (R33) whatever their shape.
Special registrations are reported separately from validity: `PlateCheck.special` is set even
when the text also happens to be a well-formed ordinary plate (e.g. ``BN-12-34``).

`correct` touches only a read that is not a valid plate, and only by swapping OCR look-alikes
(mostly letter <-> digit, which the sidecode shape exposes). It never picks between equally
good readings: it leaves the text as read and lists the candidates, so a reviewer decides.
A correction is still a hypothesis that the register lookup has to confirm.

Sources: rules spec §7; public code friedt/kenteken-check-NL-RDW,
TvanSchagen/Tvans.Kenteken (src/Formats.cs), joke2k/faker (automotive nl_NL provider).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "LOOKALIKES",
    "PLATE_LETTERS",
    "SIDECODE_PATTERNS",
    "Correction",
    "PlateCheck",
    "check",
    "correct",
    "correction_within_reach",
    "fold_lookalikes",
    "format_plate",
    "is_dutch_format",
    "lookalike_candidates",
    "normalise",
    "sidecode",
    "special_registration",
]


#: Letters issued in the current series (sidecode >= 7): consonants without C and Q (spec §7;
#: no vowels, so no words form; C and Q are left out "ivm interpretatie problemen", friedt).
def plate_hash(secret: bytes, plate: str, length: int = 16) -> str:
    """The one keyed hash of a plate (HMAC-SHA256, hex, `length` characters): for case and
    permit keys and for log lines. Correlatable, not readable; without the secret nobody can
    test a guessed plate against it."""
    return hmac.new(secret, plate.encode(), hashlib.sha256).hexdigest()[:length]


PLATE_LETTERS: Final[str] = "BDFGHJKLMNPRSTVXZ"

#: X = letter, 9 = digit, '-' = group boundary on the physical plate (spec §7 table).
SIDECODE_PATTERNS: Final[dict[int, str]] = {
    1: "XX-99-99",
    2: "99-99-XX",
    3: "99-XX-99",
    4: "XX-99-XX",
    5: "XX-XX-99",
    6: "99-XX-XX",
    7: "99-XXX-9",
    8: "9-XXX-99",
    9: "XX-999-X",
    10: "X-999-XX",
    11: "XXX-99-X",
    12: "X-99-XXX",
    13: "9-XX-999",
    14: "999-XX-9",
}

# --- letters per series ---------------------------------------------------------------------
# The public sources disagree on the letters of the older series:
#   * friedt/kenteken-check-NL-RDW: sidecodes 1-3 any A-Z; 4-11 "BDFGHJKLMNPRSTVWXYZ".
#   * Tvans.Kenteken Formats.cs, per series: 1 "ABDEFGHJKLMNOPRSTUVXZ", 2 "ABDEFGHIJMNOPRSTUVXZ",
#     3 "ABDEFGHIJMNOPRSTUVXYZ", 4 "BDFGHJKLMNOPRSTVWXYZ", 5-6 "BDFGHJLMNOPRSTVWXZ",
#     7 and 10+ "BDFGHJKLMNOPRSTVWXZ", 8-9 the same without L.
#   * faker nl_NL: the first letter of sidecode 8 is never one of BDFGHJLNPR ("as to not clash
#     with former export license plates"), matching the spec's note on sidecode 8.
# Sidecodes 1-6: the letters ANY source accepts for that series, except C and Q (Tvans never
# lists them, friedt's text excludes them) and, from sidecode 4 (1978), vowels (spec: no
# vowels; Tvans' O there is not followed). Why the wide reading: the lists disagree
# without a primary source, and the RDW register is the arbiter anyway. A too-narrow list
# would call genuine plates of still-driving old vans invalid (1991-2005 diesel vans are
# exactly what this enforces); a too-wide one only lets an impossible read through to the
# register lookup, which then fails (R33). It also keeps PLATE_LETTERS valid in every series.
# Sidecodes >= 7: PLATE_LETTERS, the project's fixed set: the spec's consonants without C/Q,
# and also without W and Y (spec §7: W/O are trailer letters; Tvans has no Y there, friedt
# does). So an O/W trailer plate of a new series reads as invalid (trailers are R33 anyway).
# Tvans' missing L in 8-9 is not followed: no 2009-2016 van with an L is rejected on one
# source's word.
_SERIES_LETTERS: Final[dict[int, frozenset[str]]] = {
    sc: frozenset(letters)
    for sc, letters in {
        **dict.fromkeys(range(1, 4), "ABDEFGHIJKLMNOPRSTUVWXYZ"),
        **dict.fromkeys(range(4, 7), "BDFGHJKLMNPRSTVWXYZ"),
        **dict.fromkeys(range(7, 15), PLATE_LETTERS),
    }.items()
}
_SIDECODE8_FIRST_LETTERS: Final = "KMSTVXZ"  # PLATE_LETTERS minus BDFGHJLNPR (faker nl_NL)

# --- banned letter combinations -------------------------------------------------------------
# Checked as substrings of the normalised plate. Digits separate letter runs, so a letter-only
# combination can match only inside one run of letters; like both public sources we also
# match across the dash between two adjacent letter groups (GS-DF-12 holds "SD").
_BANNED_ALWAYS: Final = (
    "GVD", "KKK", "KVT", "LPF", "NSB", "PKK", "PSV", "TBS", "SS", "SD", "SA", "WA",
)  # fmt: skip
# Spec §7: "from sidecode 8 (or 11)"; Tvans uses 8, friedt 11. We take 8: it rejects more.
_BANNED_FROM_8: Final = ("PVV", "SGP", "VVD")
_BANNED_FROM_13: Final = ("SP",)

_BANNED: Final[dict[int, tuple[str, ...]]] = {
    sc: _BANNED_ALWAYS + (_BANNED_FROM_8 if sc >= 8 else ()) + (_BANNED_FROM_13 if sc >= 13 else ())
    for sc in SIDECODE_PATTERNS
}

# --- shapes ---------------------------------------------------------------------------------
_LETTERS_AZ: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS: Final = "0123456789"
# str.translate maps a normalised plate to its shape ("XX9999") in one C call.
_SHAPE_TABLE: Final = str.maketrans(_LETTERS_AZ + _DIGITS, "X" * 26 + "9" * 10)
_SHAPE_TO_SIDECODE: Final[dict[str, int]] = {
    pattern.replace("-", ""): sc for sc, pattern in SIDECODE_PATTERNS.items()
}
if len(_SHAPE_TO_SIDECODE) != len(SIDECODE_PATTERNS):  # pragma: no cover - table invariant
    raise AssertionError("sidecode shapes must be distinct for the lookup to equal first match")


def _group_slices(pattern: str) -> tuple[slice, ...]:
    """Slices of the normalised plate that form the dash-separated groups of `pattern`."""
    slices: list[slice] = []
    start = 0
    for group in pattern.split("-"):
        slices.append(slice(start, start + len(group)))
        start += len(group)
    return tuple(slices)


_GROUP_SLICES: Final[dict[int, tuple[slice, ...]]] = {
    sc: _group_slices(pattern) for sc, pattern in SIDECODE_PATTERNS.items()
}

# Anything that is not an ASCII letter or digit: spaces, dashes (any Unicode dash), dots,
# NBSP, and non-ASCII letters (a plate never carries them; dropping them before upper()
# also stops "ß".upper() == "SS" from inventing characters).
_NOT_PLATE_CHAR: Final = re.compile(r"[^A-Za-z0-9]+")


def normalise(raw: str) -> str:
    """Uppercase `raw` and keep only A-Z and 0-9 (drops spaces, dashes, dots, Unicode
    separators and any non-ASCII character). Idempotent."""
    # Fast path: most reads (OCR output, register keys) are already bare ASCII alphanumerics.
    if raw.isascii() and raw.isalnum():
        return raw.upper()
    return _NOT_PLATE_CHAR.sub("", raw).upper()


def _sidecode_of_normalised(plate: str) -> int | None:
    if len(plate) != 6:
        return None
    return _SHAPE_TO_SIDECODE.get(plate.translate(_SHAPE_TABLE))


def sidecode(plate: str) -> int | None:
    """The sidecode (1-14) whose letter/digit shape `plate` has, else None.

    Shape only: which letters a series issued is checked by `check`. The shapes are disjoint,
    so "the first matching sidecode in order 1..14" is the only one."""
    return _sidecode_of_normalised(normalise(plate))


def format_plate(plate: str) -> str:
    """`plate` with dashes at its sidecode's group boundaries (``V221FX`` -> ``V-221-FX``);
    the normalised text unchanged when no sidecode matches."""
    p = normalise(plate)
    sc = _sidecode_of_normalised(p)
    if sc is None:
        return p
    return "-".join([p[group] for group in _GROUP_SLICES[sc]])


# --- special registrations (R33) ------------------------------------------------------------
# Where §7 is open, each pattern takes the reading that sends MORE plates to review:
#   * "AA + digits": any number of digits, so AA-12-34 (an ordinary sidecode-1 shape) counts.
#   * "CD + ...", "ZZ / ZZZ + characters", "OA" (trailers): the prefix alone decides, so e.g.
#     ZZ-12-BB and ZZZ-12-B are special although they also fit an ordinary sidecode.
#   * "+ 2x2 digits" is taken literally: exactly four digits.
# Order matters: CDJ before CD. Colour (white export, blue taxi/historic) and defence plates
# cannot be told from the characters; the camera pipeline must flag those itself.
_SPECIAL_RULES: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"AA[0-9]+"), "Royal House plate (AA + digits): manual review (R33)."),
    (
        re.compile(r"CDJ[A-Z0-9]*"),
        "International Court of Justice plate (CDJ): manual review (R33).",
    ),
    (re.compile(r"CD[A-Z0-9]*"), "Diplomatic plate (CD): manual review (R33)."),
    (
        re.compile(r"ZZ[A-Z0-9]*"),
        "Special registration (ZZ/ZZZ) with little or no register data: manual review (R33).",
    ),
    (
        re.compile(r"[BG]N[0-9]{4}"),
        "Special registration (BN/GN + 2x2 digits) with little or no register data: "
        "manual review (R33).",
    ),
    (
        re.compile(r"(?:HA|HF|FH)[0-9]{4}"),
        "Trade plate (handelaarskenteken HA/HF/FH + 2x2 digits): manual review (R33).",
    ),
    (
        re.compile(r"OA[A-Z0-9]*"),
        "Trade plate for trailers (handelaarskenteken OA): manual review (R33).",
    ),
    (
        re.compile(r"BO[0-9]{4}"),
        "Foreign trailer towed by a Dutch-registered vehicle (BO + 2x2 digits): "
        "manual review (R33).",
    ),
)


#: First two characters of every special registration: most plates are ruled out by one
#: set lookup instead of eight regexes (this runs per passage in the stream).
_SPECIAL_HEADS: Final = frozenset({"AA", "CD", "ZZ", "BN", "GN", "HA", "HF", "FH", "OA", "BO"})


def _special_of_normalised(plate: str) -> str | None:
    if plate[:2] not in _SPECIAL_HEADS:
        return None
    for pattern, reason in _SPECIAL_RULES:
        if pattern.fullmatch(plate):
            return reason
    return None


def special_registration(plate: str) -> str | None:
    """Why `plate` is a special registration that must go to manual review (R33), else None."""
    return _special_of_normalised(normalise(plate))


def is_dutch_format(plate: str) -> bool:
    """True when `plate` has the shape of a sidecode or is a special registration.

    A format test, not a validity test: it says nothing about the series' letters."""
    p = normalise(plate)
    return _sidecode_of_normalised(p) is not None or _special_of_normalised(p) is not None


# --- validity -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlateCheck:
    """Result of `check`: `valid` is about the ordinary format only; `special` is independent
    (a special registration may or may not look like an ordinary plate)."""

    plate: str
    """The normalised plate."""
    sidecode: int | None
    valid: bool
    special: str | None
    """Reason sentence when a special registration (manual review, R33), else None."""
    problems: tuple[str, ...]
    """Human readable reasons why the plate is not valid; empty when valid."""


def _problems(plate: str, sc: int | None) -> tuple[str, ...]:
    if len(plate) != 6:
        return (f"6 characters expected, got {len(plate)}",)
    if sc is None:
        shape = plate.translate(_SHAPE_TABLE)
        return (f"letter/digit pattern {shape} matches no sidecode",)
    problems: list[str] = []
    allowed = _SERIES_LETTERS[sc]
    bad = sorted({c for c in plate if c.isalpha() and c not in allowed})
    if bad:
        problems.append(f"letter(s) {''.join(bad)} not issued in sidecode {sc}")
    if sc == 8 and plate[1] not in _SIDECODE8_FIRST_LETTERS:
        problems.append(
            f"sidecode 8 letters never start with {plate[1]} "
            f"(only {_SIDECODE8_FIRST_LETTERS}, to avoid old export plates)"
        )
    problems.extend(f"banned letter combination {combo}" for combo in _BANNED[sc] if combo in plate)
    return tuple(problems)


def check(plate: str) -> PlateCheck:
    """Validate `plate` (raw or normalised): six characters, a sidecode shape, only letters
    that series issued, no banned combination. Also reports a special registration."""
    p = normalise(plate)
    sc = _sidecode_of_normalised(p)
    problems = _problems(p, sc)
    return PlateCheck(
        plate=p,
        sidecode=sc,
        valid=not problems,
        special=_special_of_normalised(p),
        problems=problems,
    )


def _is_valid_normalised(plate: str) -> bool:
    return not _problems(plate, _sidecode_of_normalised(plate))


# --- OCR look-alikes ------------------------------------------------------------------------
# Groups of characters that plate OCR confuses. Mostly letter <-> digit: the sidecode shape
# says which positions hold digits, so such a mistake is visible in the text. One letter
# group is included, the round glyphs D/O/Q with 0: O and Q were never issued in the
# current series, so a D misread as O is visible to the series rules. Other letter<->letter
# (H/N, V/Y, M/N) and digit<->digit (3/8) confusions are left out on purpose: they turn one
# well-formed plate into another, which only the register could tell apart. L<->4 is left
# out too: the Dutch plate font does not make them alike.
_LOOKALIKE_GROUPS: Final = ("0DOQ", "1I", "2Z", "4A", "5S", "6G", "7T", "8B")

#: Character -> the characters it may be misread as (symmetric: b in LOOKALIKES[a] iff
#: a in LOOKALIKES[b]).
LOOKALIKES: Final[dict[str, str]] = {
    c: "".join(o for o in group if o != c) for group in _LOOKALIKE_GROUPS for c in group
}

_FOLD_TABLE: Final = str.maketrans({c: group[0] for group in _LOOKALIKE_GROUPS for c in group[1:]})


def fold_lookalikes(plate: str) -> str:
    """normalise(plate) with every look-alike group written as its first member ("O"->"0",
    "B"->"8", ...): two reads that fold equal may be the same plate read differently."""
    return normalise(plate).translate(_FOLD_TABLE)


def _one_edit_apart(a: str, b: str) -> bool:
    """Whether one substitution, insertion or deletion turns `a` into `b` (or none does)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(1 for x, y in zip(a, b, strict=True) if x != y) == 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def correction_within_reach(read: str, corrected: str) -> bool:
    """Whether an officer's `corrected` plate can be what the camera saw as `read`: equal
    after folding look-alikes (O/0/D/Q, 8/B, … at any number of places: one smudged
    plate), or one edit away (one character wrong, missing or extra). Anything further is
    another vehicle until a supervisor says otherwise (issue 21: ZZ-02-38 "corrected" into
    N-36-ZRV became a second fine for one vehicle)."""
    a, b = normalise(read), normalise(corrected)
    if not a or not b:
        return False
    return fold_lookalikes(a) == fold_lookalikes(b) or _one_edit_apart(a, b)


# Per sidecode and position: the characters allowed there, to prune the search.
_ALLOWED_AT: Final[dict[int, tuple[frozenset[str], ...]]] = {
    sc: tuple(
        (
            frozenset(_SIDECODE8_FIRST_LETTERS)
            if sc == 8 and i == 1
            else _SERIES_LETTERS[sc]
            if kind == "X"
            else frozenset(_DIGITS)
        )
        for i, kind in enumerate(pattern.replace("-", ""))
    )
    for sc, pattern in SIDECODE_PATTERNS.items()
}


def _options(plate: str, allowed: tuple[frozenset[str], ...]) -> list[list[str]] | None:
    """For each position, the characters to try (the read one first when allowed)."""
    options: list[list[str]] = []
    for c, ok in zip(plate, allowed, strict=True):
        opts = [c] if c in ok else []
        opts.extend(sorted(o for o in LOOKALIKES.get(c, "") if o in ok))
        if not opts:
            return None
        options.append(opts)
    return options


def lookalike_candidates(
    raw: str, max_changes: int = 2, changeable: frozenset[int] | None = None
) -> list[str]:
    """Valid plates reachable from normalise(raw) by at most `max_changes` look-alike
    substitutions, the input itself excluded; ordered by number of changes, then text.
    With `changeable`, only those 0-based positions may change."""
    p = normalise(raw)
    if len(p) != 6 or max_changes <= 0:
        return []
    found: set[str] = set()
    for allowed in _ALLOWED_AT.values():
        options = _options(p, allowed)
        if options is not None and changeable is not None:
            options = [
                o if i in changeable else [c]
                for i, (c, o) in enumerate(zip(p, options, strict=True))
            ]
            if any(not o or o[0] not in allowed[i] for i, o in enumerate(options)):
                continue
        if options is None:
            continue
        # A position whose read character is not allowed must change; if those alone exceed
        # the budget this sidecode cannot be reached.
        forced = sum(1 for c, opts in zip(p, options, strict=True) if opts[0] != c)
        if forced > max_changes:
            continue
        _expand(p, options, 0, max_changes, [], found)
    found.discard(p)
    result = [c for c in found if _is_valid_normalised(c)]
    result.sort(key=lambda c: (_distance(p, c), c))
    return result


def _expand(
    plate: str,
    options: list[list[str]],
    pos: int,
    budget: int,
    prefix: list[str],
    found: set[str],
) -> None:
    if pos == len(options):
        found.add("".join(prefix))
        return
    for c in options[pos]:
        cost = 0 if c == plate[pos] else 1
        if cost > budget:
            continue
        prefix.append(c)
        _expand(plate, options, pos + 1, budget - cost, prefix, found)
        prefix.pop()


def _distance(a: str, b: str) -> int:
    return sum(1 for x, y in zip(a, b, strict=True) if x != y)


@dataclass(frozen=True, slots=True)
class Correction:
    """Result of `correct`."""

    raw: str
    """The text as read, untouched."""
    plate: str
    """The corrected plate, or normalise(raw) when nothing was changed."""
    changed: bool
    changes: tuple[tuple[int, str, str], ...]
    """(0-based position in the normalised plate, character read, character used)."""
    candidates: tuple[str, ...]
    """The candidates with the fewest changes: the one used, or the tied ones."""


def correct(raw: str, max_changes: int = 2, changeable: frozenset[int] | None = None) -> Correction:
    """Correct an OCR read by look-alike substitution, only when the answer is unambiguous.

    Unchanged when normalise(raw) is already valid or is a special registration (whose
    shapes are outside the sidecodes by design). Otherwise the single candidate with the
    fewest changes is used; when several tie, nothing is guessed: the text stays as read
    and the tied candidates are listed. `max_changes` and `changeable` (positions that may
    change) narrow the search (`enforcement.plate_formats.correct_read` sets them)."""
    p = normalise(raw)
    if _is_valid_normalised(p) or _special_of_normalised(p) is not None:
        return Correction(raw=raw, plate=p, changed=False, changes=(), candidates=())
    candidates = lookalike_candidates(p, max_changes, changeable)
    if not candidates:
        return Correction(raw=raw, plate=p, changed=False, changes=(), candidates=())
    fewest = _distance(p, candidates[0])
    best = tuple(c for c in candidates if _distance(p, c) == fewest)
    if len(best) > 1:
        return Correction(raw=raw, plate=p, changed=False, changes=(), candidates=best)
    chosen = best[0]
    changes = tuple((i, a, b) for i, (a, b) in enumerate(zip(p, chosen, strict=True)) if a != b)
    return Correction(raw=raw, plate=chosen, changed=True, changes=changes, candidates=best)
