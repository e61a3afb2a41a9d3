"""The registered vehicle in one line, for the officer who compares it with the photo.

"Registered: white MERCEDES-BENZ SPRINTER, closed body, N1" / "Geregistreerd: witte
MERCEDES-BENZ SPRINTER, gesloten opbouw, N1": colour, make and commercial name as the RDW
registers them, the body (`inrichting`) and the EU category. A misread or a cloned plate
shows as a photo of another vehicle than this (issue 21). Shown by `zes decide` and the case
page, from the facts frozen on the violation record; never by the public plate check or the
open data (a description narrows a plate down to a person's car).

Pure: no I/O. RDW writes colours in Dutch upper case (`WIT`) and bodies in Dutch lower case
(`gesloten opbouw`); make and commercial name are printed as written.
"""

from __future__ import annotations

from typing import Final, Protocol

__all__ = ["Described", "describe_vehicle"]


class Described(Protocol):
    """What a description reads: a `model.Vehicle` or a record's `VehicleFacts`."""

    @property
    def make(self) -> str | None: ...
    @property
    def commercial_name(self) -> str | None: ...
    @property
    def colour(self) -> str | None: ...
    @property
    def second_colour(self) -> str | None: ...
    @property
    def body(self) -> str | None: ...
    @property
    def eu_category(self) -> str | None: ...


#: RDW `eerste_kleur` / `tweede_kleur` values: (Dutch adjective before a noun, English).
_COLOURS: Final = {
    "BEIGE": ("beige", "beige"),
    "BLAUW": ("blauwe", "blue"),
    "BRUIN": ("bruine", "brown"),
    "CREME": ("crèmekleurige", "cream"),
    "GEEL": ("gele", "yellow"),
    "GRIJS": ("grijze", "grey"),
    "GROEN": ("groene", "green"),
    "ORANJE": ("oranje", "orange"),
    "PAARS": ("paarse", "purple"),
    "ROOD": ("rode", "red"),
    "ROSE": ("roze", "pink"),
    "WIT": ("witte", "white"),
    "ZWART": ("zwarte", "black"),
    "DIVERSEN": ("meerkleurige", "multicoloured"),
}

#: Common RDW `inrichting` values in English; others are printed as RDW writes them.
_BODIES_EN: Final = {
    "gesloten opbouw": "closed body",
    "open laadvloer": "open flatbed",
    "kipper": "tipper",
    "opleggertrekker": "tractor unit",
    "betonmixer": "concrete mixer",
    "kraanwagen": "crane truck",
    "geconditioneerd voertuig": "refrigerated body",
    "dubbele cabine": "double cab",
    "kampeerwagen": "motor caravan",
    "voor rolstoelen toegankelijk voertuig": "wheelchair-accessible vehicle",
    "hatchback": "hatchback",
    "sedan": "saloon",
    "stationwagen": "estate",
    "mpv": "MPV",
    "cabriolet": "convertible",
    "coupe": "coupé",
    "bus": "bus",
    "gesloten wagen": "closed van",
    "afzetbak": "skip loader",
}

_LEAD: Final = {"nl": "Geregistreerd", "en": "Registered"}
_NOTHING: Final = {"nl": "geen beschrijving geregistreerd", "en": "no description registered"}


def _colour(raw: str | None, lang: str) -> str | None:
    if not raw:
        return None
    known = _COLOURS.get(raw.strip().upper())
    if known is None:
        return raw.strip().lower()
    return known[0] if lang == "nl" else known[1]


def describe_vehicle(vehicle: Described, lang: str = "nl") -> str:
    """The vehicle as registered, one line in `lang` (nl or en): colour(s), make, commercial
    name, body and EU category, each left out when not registered."""
    if lang not in _LEAD:
        raise ValueError(f"unknown language {lang!r}: nl or en")
    colours = (_colour(vehicle.colour, lang), _colour(vehicle.second_colour, lang))
    shown = "/".join(c for c in colours if c)
    name = " ".join(
        part for part in (shown, vehicle.make, vehicle.commercial_name) if part and part.strip()
    )
    body = vehicle.body.strip() if vehicle.body else ""
    if body and lang == "en":
        body = _BODIES_EN.get(body.lower(), body)
    parts = [p for p in (name, body, (vehicle.eu_category or "").strip()) if p]
    return f"{_LEAD[lang]}: {', '.join(parts) if parts else _NOTHING[lang]}"
