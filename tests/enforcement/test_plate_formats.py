"""Plate formats per country and the correction policy (enforcement.plate_formats)."""

from __future__ import annotations

import pytest

from enforcement.plate_formats import correct_read, fits_country, formats_of


@pytest.mark.parametrize(
    ("plate", "country"),
    [
        ("1ABC234", "BE"), ("ABC123", "BE"), ("BAB1234", "DE"), ("MA1234E", "DE"),
        ("AB123CD", "FR"), ("1234AB75", "FR"), ("WSQ3021", "PL"), ("WA56660", "PL"),
        ("AB12CDE", "GB"), ("A123BCD", "GB"), ("ABC123D", "GB"), ("01GBB1", "NL"),
        ("GBB12X", "NL"),
    ],
)  # fmt: skip
def test_known_formats(plate: str, country: str) -> None:
    assert fits_country(plate, country)


@pytest.mark.parametrize("plate", ["ABCDEFGH", "12345", "Q", "AAAAAAAAAA", "1B80338"])
def test_garbage_fits_nothing(plate: str) -> None:
    assert formats_of(plate) == ()


def test_only_unsure_characters_change_and_only_for_nl_or_unknown() -> None:
    unsure_first = (0.5, 0.95, 0.95, 0.95, 0.95, 0.95)
    fixed = correct_read("O1GBB1", unsure_first, None)
    assert fixed.correction.plate == "01GBB1"
    assert fixed.correction.changes == ((0, "O", "0"),)
    assert fixed.fits == "NL-7"
    # The OCR is sure of every character: nothing changes, it fits nothing, doubt.
    sure = correct_read("O1GBB1", (0.95,) * 6, None)
    assert not sure.correction.changed
    assert sure.fits is None
    # The OCR says the plate is German: never pushed onto a Dutch plate.
    german = correct_read("O1GBB1", unsure_first, "DE")
    assert not german.correction.changed
    assert german.reason == "foreign"
    # Unknown country and two swaps away: only NL reads may change two characters.
    two = (0.5, 0.5, 0.95, 0.95, 0.95, 0.95)
    assert not correct_read("OIGBB1", two, None).correction.changed
    assert correct_read("OIGBB1", two, "NL").correction.plate == "01GBB1"


def test_a_read_that_fits_a_foreign_format_is_not_corrected() -> None:
    # "ABC123" is a Belgian 1973 plate as read; one swap would make it Dutch-looking.
    result = correct_read("ABC123", (0.5,) * 6, None)
    assert not result.correction.changed
    assert result.reason == "fits-foreign"
    assert result.fits == "BE-1973"


def test_length_limits() -> None:
    assert correct_read("AB1", (0.5,) * 3, None).reason == "length"
    assert correct_read("A" * 11, (0.5,) * 11, None).reason == "length"
