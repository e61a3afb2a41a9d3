"""Flow labels of the stream read the vehicle's facts the way the law does
(`enforcement.model.vehicle_facts`): one reading of the emission class and fuel group."""

from __future__ import annotations

import pytest

from enforcement.model import Fuel, Vehicle
from stream.metrics import emission_label, fuel_group


def vehicle(*fuels: Fuel) -> Vehicle:
    return Vehicle("VBB12B", "Bedrijfsauto", 3000, fuels=fuels)


@pytest.mark.parametrize(
    ("written", "label"),
    [("6", "6"), ("VI", "6"), ("vi", "6"), ("V", "5"), ("EEV", "5"), ("EURO VI", "6"),
     ("Euro 5", "5"), ("VII", "7"), ("7", "7"), ("IV", "4"), ("Z", "Z"), (None, "unknown"),
     ("", "unknown"), ("X", "other")],
)  # fmt: skip
def test_emission_label_reads_every_spelling(written: str | None, label: str) -> None:
    """Before, only V and VI were mapped: EEV, EURO VI and VII were all `other`."""
    assert emission_label(vehicle(Fuel("Diesel", written))) == label


@pytest.mark.parametrize(
    ("fuels", "group"),
    [
        ((Fuel("Diesel", "6"),), "diesel"),
        ((Fuel("Benzine", "5"),), "petrol"),
        ((Fuel("LNG", "VI"),), "gas"),
        ((Fuel("Alcohol", "4"),), "other"),
        ((Fuel("Elektriciteit"),), "zero_emission"),
        ((Fuel("Waterstof"), Fuel("Elektriciteit")), "zero_emission"),
        ((Fuel("Diesel", "6", "OVC-HEV"), Fuel("Elektriciteit", None, "OVC-HEV")), "hybrid"),
        ((Fuel("", "6"),), "unknown"),  # a class without a described fuel (case files)
        ((Fuel("", "Z"),), "zero_emission"),
        ((), "unknown"),
    ],
)
def test_fuel_group_is_the_laws_reading(fuels: tuple[Fuel, ...], group: str) -> None:
    v = vehicle(*fuels)
    assert fuel_group(v) == group
    assert (group == "zero_emission") == v.zero_emission


def test_no_vehicle_is_unknown() -> None:
    assert fuel_group(None) == "unknown" and emission_label(None) == "unknown"
