"""`describe_vehicle`: the registered vehicle in one line, Dutch and English (issue 21)."""

from __future__ import annotations

import msgspec
import pytest

from enforcement.description import describe_vehicle
from enforcement.model import Vehicle
from enforcement.records import vehicle_facts

SPRINTER = Vehicle(
    "VBB12B",
    "Bedrijfsauto",
    3500,
    eu_category="N1",
    body="gesloten opbouw",
    make="MERCEDES-BENZ",
    commercial_name="SPRINTER",
    colour="WIT",
)


def test_the_issue_s_example_in_both_languages() -> None:
    assert describe_vehicle(SPRINTER, "en") == (
        "Registered: white MERCEDES-BENZ SPRINTER, closed body, N1"
    )
    assert describe_vehicle(SPRINTER) == (
        "Geregistreerd: witte MERCEDES-BENZ SPRINTER, gesloten opbouw, N1"
    )


def test_two_colours_and_an_unlisted_body_as_rdw_writes_it() -> None:
    truck = msgspec.structs.replace(
        SPRINTER, colour="ROOD", second_colour="GEEL", body="autotransporter", eu_category="N3"
    )
    assert describe_vehicle(truck, "en") == (
        "Registered: red/yellow MERCEDES-BENZ SPRINTER, autotransporter, N3"
    )


def test_whatever_is_missing_is_left_out() -> None:
    assert describe_vehicle(Vehicle("VBB12B", "Bedrijfsauto"), "en") == (
        "Registered: no description registered"
    )
    bare = Vehicle("VBB12B", "Bedrijfsauto", make="FORD", eu_category="N1")
    assert describe_vehicle(bare, "nl") == "Geregistreerd: FORD, N1"


def test_the_record_s_frozen_facts_describe_the_same() -> None:
    """The case page prints from the violation record, `zes decide` from the register."""
    facts = vehicle_facts(SPRINTER)
    assert (facts.make, facts.commercial_name, facts.colour) == ("MERCEDES-BENZ", "SPRINTER", "WIT")
    assert describe_vehicle(facts, "en") == describe_vehicle(SPRINTER, "en")


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="nl or en"):
        describe_vehicle(SPRINTER, "de")
