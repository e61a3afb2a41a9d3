"""Tests for `enforcement.plates`: sidecodes, validity, special registrations, OCR correction.

Examples come from the rules spec §7; the property tests build plates from
`SIDECODE_PATTERNS` and `PLATE_LETTERS` and check the functions against simple oracles
written here (regexes per pattern, the banned lists of §7), not against the module itself.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enforcement.plates import (
    LOOKALIKES,
    PLATE_LETTERS,
    SIDECODE_PATTERNS,
    Correction,
    check,
    correct,
    format_plate,
    is_dutch_format,
    lookalike_candidates,
    normalise,
    sidecode,
    special_registration,
)

DIGITS = "0123456789"

# Spec §7 table: one public example per sidecode, as printed on the plate.
TABLE_EXAMPLES = {
    1: "AB-99-99",
    2: "89-67-NR",
    3: "00-FB-63",
    4: "MG-51-TH",
    5: "RR-HH-02",
    6: "88-XD-VV",
    7: "46-GZB-8",
    8: "6-VGF-86",
    9: "FX-149-H",
    10: "V-221-FX",
    11: "DHN-19-D",
    12: "T-00-XXX",
    13: "9-XX-999",
    14: "999-XX-9",
}

# Oracle for the banned combinations (spec §7, with "from sidecode 8" chosen over 11).
BANNED_ALWAYS = ("GVD", "KKK", "KVT", "LPF", "NSB", "PKK", "PSV", "TBS", "SS", "SD", "SA", "WA")
BANNED_FROM_8 = ("PVV", "SGP", "VVD")
BANNED_FROM_13 = ("SP",)
SIDECODE8_FIRST = "KMSTVXZ"  # faker nl_NL: sidecode 8 never starts with BDFGHJLNPR


def banned_for(sc: int) -> tuple[str, ...]:
    return BANNED_ALWAYS + (BANNED_FROM_8 if sc >= 8 else ()) + (BANNED_FROM_13 if sc >= 13 else ())


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Regex oracle for a sidecode pattern: X = any letter, 9 = digit, dashes dropped."""
    return re.compile("".join("[A-Z]" if k == "X" else "[0-9]" for k in pattern if k != "-"))


PATTERN_REGEXES = {sc: pattern_regex(p) for sc, p in SIDECODE_PATTERNS.items()}


def first_matching_sidecode(plate: str) -> int | None:
    for sc in sorted(PATTERN_REGEXES):
        if PATTERN_REGEXES[sc].fullmatch(plate):
            return sc
    return None


# --- strategies -----------------------------------------------------------------------------


def plates_of(sc: int) -> st.SearchStrategy[str]:
    """Normalised plates of sidecode `sc` made of PLATE_LETTERS and digits."""
    shape = SIDECODE_PATTERNS[sc].replace("-", "")
    parts = [
        st.sampled_from(
            SIDECODE8_FIRST if sc == 8 and i == 1 else PLATE_LETTERS if k == "X" else DIGITS
        )
        for i, k in enumerate(shape)
    ]
    return st.tuples(*parts).map("".join)


def valid_plates_of(sc: int) -> st.SearchStrategy[tuple[int, str]]:
    banned = banned_for(sc)
    return plates_of(sc).filter(lambda p: not any(b in p for b in banned)).map(lambda p: (sc, p))


valid_plates = st.sampled_from(sorted(SIDECODE_PATTERNS)).flatmap(valid_plates_of)

# Six characters biased towards plate letters, digits and their OCR look-alikes.
ocr_reads = st.text(alphabet=PLATE_LETTERS + DIGITS + "AEIOQUYWC", min_size=6, max_size=6)


# --- constants ------------------------------------------------------------------------------


def test_plate_letters_are_consonants_without_c_and_q() -> None:
    assert PLATE_LETTERS == "BDFGHJKLMNPRSTVXZ"
    assert not set(PLATE_LETTERS) & set("AEIOUCQ")


def test_sidecode_patterns_are_six_characters_and_distinct() -> None:
    assert sorted(SIDECODE_PATTERNS) == list(range(1, 15))
    shapes = [p.replace("-", "") for p in SIDECODE_PATTERNS.values()]
    assert all(len(s) == 6 and set(s) <= {"X", "9"} for s in shapes)
    # Distinct shapes: "first match in order 1..14" is then the only match.
    assert len(set(shapes)) == len(shapes)


def test_lookalikes_are_symmetric_plate_characters() -> None:
    for char, others in LOOKALIKES.items():
        assert re.fullmatch("[A-Z0-9]", char)
        assert char not in others
        for other in others:
            assert char in LOOKALIKES[other], (char, other)
    for a, b in [("O", "0"), ("I", "1"), ("B", "8"), ("S", "5"), ("Z", "2"), ("G", "6")]:
        assert b in LOOKALIKES[a]
    for a, b in [("D", "0"), ("Q", "0"), ("T", "7"), ("A", "4")]:
        assert b in LOOKALIKES[a]


# --- normalise / sidecode / format ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("V221FX", "V221FX"),
        ("v-221-fx", "V221FX"),
        ("v 221 fx", "V221FX"),
        ("V.221.FX", "V221FX"),
        ("\tV-221-FX\n", "V221FX"),
        ("V\u2013221\u2014FX", "V221FX"),  # en dash, em dash
        ("V\u2011221\u2212FX", "V221FX"),  # non-breaking hyphen, minus sign
        ("V\u00a0221\u2009FX", "V221FX"),  # NBSP, thin space
        ("V_221/FX", "V221FX"),
        ("", ""),
        ("- .", ""),
        ("stra\u00dfe", "STRAE"),  # non-ASCII dropped, not upper-cased into "SS"
    ],
)
def test_normalise_examples(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(("sc", "printed"), sorted(TABLE_EXAMPLES.items()))
def test_table_example_per_sidecode(sc: int, printed: str) -> None:
    plate = printed.replace("-", "")
    assert sidecode(plate) == sc
    assert sidecode(printed) == sc
    assert format_plate(plate) == printed
    assert format_plate(printed.lower()) == printed
    result = check(printed)
    assert result.plate == plate
    assert result.sidecode == sc
    assert result.valid, result.problems
    assert result.problems == ()
    assert result.special is None
    assert is_dutch_format(plate)


@pytest.mark.parametrize("plate", ["", "V221F", "V221FXX", "VVVVVV", "123456", "V2X1FX"])
def test_sidecode_none(plate: str) -> None:
    assert sidecode(plate) is None


def test_sidecode_ignores_where_the_dashes_were() -> None:
    assert sidecode("V22-1FX") == 10
    assert format_plate("V22-1FX") == "V-221-FX"


def test_format_without_sidecode_returns_normalised_text() -> None:
    assert format_plate("ab 12") == "AB12"
    assert format_plate("V2X1FX") == "V2X1FX"
    assert format_plate("") == ""


# --- validity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plate", "combo"),
    [
        ("12-GVD-3", "GVD"),
        ("KKK-12-B", "KKK"),
        ("12-KVT-3", "KVT"),
        ("LPF-12-B", "LPF"),
        ("NSB-12-D", "NSB"),
        ("PKK-12-D", "PKK"),
        ("PSV-12-D", "PSV"),
        ("TBS-12-D", "TBS"),
        ("SS-123-B", "SS"),
        ("SD-123-B", "SD"),
        ("SA-12-34", "SA"),
        ("WA-12-34", "WA"),
        ("GS-DF-12", "SD"),  # across the dash between two letter groups
        ("PVV-12-B", "PVV"),
        ("1-VVD-23", "VVD"),
        ("SGP-12-B", "SGP"),
        ("9-SP-123", "SP"),
        ("999-SP-1", "SP"),
    ],
)
def test_banned_combinations(plate: str, combo: str) -> None:
    result = check(plate)
    assert not result.valid
    assert f"banned letter combination {combo}" in result.problems


@pytest.mark.parametrize(
    "plate",
    [
        "12-PVV-3",  # PVV, SGP, VVD only from sidecode 8
        "12-SGP-3",
        "12-VVD-3",
        "SP-123-B",  # SP only from sidecode 13
        "DHN-19-D",
    ],
)
def test_combinations_allowed_in_earlier_series(plate: str) -> None:
    assert check(plate).valid, check(plate).problems


@pytest.mark.parametrize(
    "plate",
    [
        "A-123-BB",
        "12-BEB-3",
        "1-KUB-23",
        "BI-123-D",
        "V-221-FO",
        "DHN-19-Y",
        "W-221-FX",
        "C-221-FX",
        "Q-221-FX",
        "9-AX-999",
    ],
)
def test_letters_not_issued_in_new_series(plate: str) -> None:
    result = check(plate)
    assert result.sidecode is not None
    assert result.sidecode >= 7
    assert not result.valid
    assert any("not issued in sidecode" in p for p in result.problems), result.problems


def test_old_series_issued_vowels_but_not_c_or_q() -> None:
    assert check("AE-12-34").valid  # sidecode 1
    assert check("12-34-IA").valid  # sidecode 2
    assert not check("CB-12-34").valid
    assert not check("QB-12-34").valid


def test_sidecode8_first_letter_restricted() -> None:
    assert check("1-VGF-23").valid
    result = check("1-BGF-23")
    assert result.sidecode == 8
    assert not result.valid
    assert any("never start with B" in p for p in result.problems)


@pytest.mark.parametrize(("plate", "length"), [("", 0), ("V221F", 5), ("V-221-FXX", 7)])
def test_wrong_length(plate: str, length: int) -> None:
    result = check(plate)
    assert not result.valid
    assert result.sidecode is None
    assert result.problems == (f"6 characters expected, got {length}",)


def test_shape_without_sidecode() -> None:
    result = check("V2X1FX")
    assert not result.valid
    assert result.problems == ("letter/digit pattern X9X9XX matches no sidecode",)


def test_plate_check_is_frozen() -> None:
    result = check("V-221-FX")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.valid = False  # type: ignore[misc]


# --- special registrations ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plate", "word"),
    [
        ("AA-1", "Royal House"),
        ("AA-12", "Royal House"),
        ("AA-12-34", "Royal House"),  # also an ordinary sidecode-1 shape: review wins
        ("CD-123", "Diplomatic"),
        ("CD-12-34", "Diplomatic"),
        ("CD", "Diplomatic"),
        ("CDJ-123", "Court of Justice"),
        ("CDJ-12", "Court of Justice"),
        ("ZZ-12-34", "little or no register data"),
        ("ZZ-12-BB", "little or no register data"),
        ("ZZZ-12-B", "little or no register data"),
        ("BN-12-34", "little or no register data"),
        ("GN-12-34", "little or no register data"),
        ("HA-12-34", "Trade plate"),
        ("HF-12-34", "Trade plate"),
        ("FH-12-34", "Trade plate"),
        ("OA-12-34", "trailers"),
        ("OA-123", "trailers"),
        ("BO-12-34", "Foreign trailer"),
    ],
)
def test_special_registrations(plate: str, word: str) -> None:
    reason = special_registration(plate)
    assert reason is not None
    assert word in reason
    assert "manual review" in reason
    assert check(plate).special == reason
    assert is_dutch_format(plate)


@pytest.mark.parametrize(
    "plate",
    [
        "V-221-FX",
        "AA-12-BB",  # AA + digits only
        "BN-123-D",  # BN/GN need exactly 2x2 digits
        "GN-12-345",
        "HA-12",
        "HF-123-B",
        "BO-123-B",
        "B-12-ZZZ",  # ZZ only as a prefix
        "DA-12-34",
    ],
)
def test_not_special(plate: str) -> None:
    assert special_registration(plate) is None
    assert check(plate).special is None


def test_special_is_independent_of_validity() -> None:
    royal = check("AA-12")
    assert not royal.valid
    assert royal.special is not None
    trade = check("BN-12-34")
    assert trade.valid
    assert trade.special is not None


@pytest.mark.parametrize(
    ("plate", "expected"),
    [
        ("V-221-FX", True),
        ("A-123-BB", True),  # the shape counts, not the series' letters
        ("CDJ123", True),
        ("AA12", True),
        ("ABC1234", False),
        ("B12345", False),
        ("", False),
    ],
)
def test_is_dutch_format(plate: str, expected: bool) -> None:
    assert is_dutch_format(plate) is expected


# --- look-alikes and correction -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected", "changes"),
    [
        ("V-221-F8", "V221FB", ((5, "8", "B"),)),
        ("V-22I-FX", "V221FX", ((3, "I", "1"),)),
        ("V2Z1FX", "V221FX", ((2, "Z", "2"),)),
        ("V-221-F0", "V221FD", ((5, "0", "D"),)),
        ("4G-GZB-8", "46GZB8", ((1, "G", "6"),)),
        ("DHN-I9-D", "DHN19D", ((3, "I", "1"),)),
        ("6-V6F-86", "6VGF86", ((2, "6", "G"),)),
        ("T-OO-XXX", "T00XXX", ((1, "O", "0"), (2, "O", "0"))),
        ("8N-12-34", "BN1234", ((0, "8", "B"),)),  # corrected into a special registration
    ],
)
def test_correct_examples(raw: str, expected: str, changes: tuple[tuple[int, str, str]]) -> None:
    result = correct(raw)
    assert result == Correction(
        raw=raw, plate=expected, changed=True, changes=changes, candidates=(expected,)
    )
    assert check(expected).valid


def test_correct_keeps_ties_unchanged() -> None:
    result = correct("0A-12-34")
    assert not result.changed
    assert result.plate == "0A1234"
    assert result.changes == ()
    assert result.candidates == ("DA1234", "OA1234")


def test_correct_tie_in_new_series() -> None:
    # 2HM36B fits no sidecode: the B may be an 8 (2-HM-368, sidecode 13) or the 2 a Z
    # (ZHM-36-B, sidecode 11). One change each: no guess.
    result = correct("2HM36B")
    assert not result.changed
    assert result.candidates == ("2HM368", "ZHM36B")


@pytest.mark.parametrize("raw", ["V-221-FX", "v 221 fx", "12-PVV-3", "AB-99-99"])
def test_correct_leaves_valid_plates(raw: str) -> None:
    assert correct(raw) == Correction(
        raw=raw, plate=normalise(raw), changed=False, changes=(), candidates=()
    )


@pytest.mark.parametrize("raw", ["CDJ-123", "AA-12", "ZZ-1X-34"])
def test_correct_leaves_special_registrations(raw: str) -> None:
    result = correct(raw)
    assert not result.changed
    assert result.plate == normalise(raw)


@pytest.mark.parametrize("raw", ["PVV-12-B", "", "V221", "XXXXXXX", "KKKKKK"])
def test_correct_without_candidates(raw: str) -> None:
    result = correct(raw)
    assert result == Correction(
        raw=raw, plate=normalise(raw), changed=False, changes=(), candidates=()
    )


def test_lookalike_candidates_examples() -> None:
    assert lookalike_candidates("V-221-F8") == ["V221FB", "VZ21FB"]
    assert lookalike_candidates("V221FX") == ["VZ21FX"]  # a valid input yields its neighbours
    assert lookalike_candidates("V221FX", max_changes=0) == []
    assert lookalike_candidates("V221F") == []
    assert lookalike_candidates("V221F8", max_changes=1) == ["V221FB"]


# --- properties -----------------------------------------------------------------------------


@given(st.text())
def test_normalise_idempotent_and_clean(raw: str) -> None:
    once = normalise(raw)
    assert normalise(once) == once
    assert re.fullmatch("[A-Z0-9]*", once)


@given(st.text())
def test_format_plate_normalises_back(raw: str) -> None:
    assert normalise(format_plate(raw)) == normalise(raw)


@given(st.text(alphabet=PLATE_LETTERS + "AEIOUCQWY" + DIGITS, min_size=6, max_size=6))
def test_sidecode_is_first_matching_pattern(plate: str) -> None:
    assert sidecode(plate) == first_matching_sidecode(plate)


@given(valid_plates)
def test_generated_valid_plates(sc_plate: tuple[int, str]) -> None:
    sc, plate = sc_plate
    assert sidecode(plate) == sc
    result = check(plate)
    assert result.valid, result.problems
    assert result.sidecode == sc
    printed = format_plate(plate)
    assert [len(g) for g in printed.split("-")] == [
        len(g) for g in SIDECODE_PATTERNS[sc].split("-")
    ]
    assert sidecode(printed) == sc
    assert is_dutch_format(printed)


@given(valid_plates)
def test_correct_never_changes_a_valid_plate(sc_plate: tuple[int, str]) -> None:
    _, plate = sc_plate
    for raw in (plate, format_plate(plate).lower()):
        result = correct(raw)
        assert not result.changed
        assert result.plate == plate
        assert result.changes == ()


@settings(deadline=None)
@given(ocr_reads, st.integers(min_value=0, max_value=3))
def test_lookalike_candidates_are_valid_and_ordered(raw: str, max_changes: int) -> None:
    candidates = lookalike_candidates(raw, max_changes)
    assert raw not in candidates
    assert len(set(candidates)) == len(candidates)

    def changes(c: str) -> int:
        return sum(a != b for a, b in zip(raw, c, strict=True))

    assert candidates == sorted(candidates, key=lambda c: (changes(c), c))
    for candidate in candidates:
        assert check(candidate).valid, candidate
        assert 1 <= changes(candidate) <= max_changes
        for a, b in zip(raw, candidate, strict=True):
            assert a == b or b in LOOKALIKES[a]


@settings(deadline=None)
@given(ocr_reads)
def test_correct_is_consistent(raw: str) -> None:
    result = correct(raw)
    assert result.raw == raw
    if check(raw).valid:
        assert not result.changed
        assert result.plate == raw
    if result.changed:
        assert check(result.plate).valid
        assert result.candidates == (result.plate,)
        assert result.changes == tuple(
            (i, a, b) for i, (a, b) in enumerate(zip(raw, result.plate, strict=True)) if a != b
        )
    else:
        assert result.plate == normalise(raw)
        assert len(result.candidates) != 1


@settings(deadline=None)
@given(valid_plates, st.integers(min_value=0, max_value=5))
def test_single_lookalike_misread_is_never_wrongly_corrected(
    sc_plate: tuple[int, str], position: int
) -> None:
    _, plate = sc_plate
    char = plate[position]
    for wrong in LOOKALIKES.get(char, ""):
        misread = plate[:position] + wrong + plate[position + 1 :]
        if check(misread).valid or special_registration(misread):
            continue  # another well-formed plate: only the register can tell
        result = correct(misread)
        assert result.plate == plate or not result.changed
        assert plate in result.candidates


def test_correct_changes_only_the_positions_it_may() -> None:
    from enforcement.plates import fold_lookalikes

    assert correct("O1GBB1").plate == "01GBB1"
    assert not correct("O1GBB1", changeable=frozenset({1, 2})).changed
    assert correct("O1GBB1", changeable=frozenset({0})).plate == "01GBB1"
    assert not correct("OIGBB1", max_changes=1).changed
    assert fold_lookalikes("GB-I23-X") == fold_lookalikes("G8123X") == "68123X"
