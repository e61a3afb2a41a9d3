"""The scenario runner: decide every case of a `ze-scenarios-*.csv` file with the law.

The case file is input only. Its columns (rules spec §10) become the facts `decide` takes;
the `expected`, `rule_ids` and `note` columns are never shown to the law. Facts about the
passage that no register holds (read confidence, an incident log showing R20's signals, the
direction of travel) come only from the `facts` column, as `key=value` pairs; an unknown key
is an error of the case file. The `note` column is prose for people and is never read.

A row the runner cannot read becomes an error result that names the column and why; it never
passes. So a mistyped case (an unknown zone, an `expected` that is no outcome, a mass that is
no number) cannot pass for the wrong reason.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import get_args

from enforcement.law import PassageFacts, PassageTimeError, decide
from enforcement.model import (
    ZERO_EMISSION_FUELS,
    Decision,
    Exemption,
    Fuel,
    Outcome,
    Vehicle,
    parse_emission_class,
)
from enforcement.records import Direction
from enforcement.register.exemption_files import parse_scenario_exemption
from enforcement.zones import ZoneCatalog, default_catalog

REQUIRED_COLUMNS = (
    "case_id",
    "zone",
    "passage_datetime",
    "voertuigsoort",
    "europese_voertuigcategorie",
    "max_mass_kg",
    "fuel",
    "euro_class",
    "datum_eerste_toelating",
    "datum_eerste_tenaamstelling_nl",
    "exemption",
    "expected",
)

_QUALIFIER = re.compile(r"^\s*(?P<kind>[^()]*?)\s*(?:\((?P<qualifier>[^)]*)\))?\s*$")

#: The keys of the `facts` column (spec §10).
FACT_KEYS = ("read_confidence", "priority_incident", "direction")
_DIRECTIONS: tuple[str, ...] = get_args(Direction)  # the passage record's, one definition
_YES_NO = {"yes": True, "no": False}
_OUTCOMES = tuple(o.value for o in Outcome)

#: Masses: digits with a decimal part (`3500.0`, `3500,0`) or with thousands separators
#: (`3.500`, `3,500`, `32.000`), or both (`3.500,0`, `3,500.0`).
_THOUSANDS = re.compile(
    r"(?P<int>\d{1,3}(?P<sep>[.,])\d{3}(?:(?P=sep)\d{3})*)(?:(?P<dec>[.,])(?P<frac>\d+))?"
)
_DECIMAL = re.compile(r"(?P<int>\d+)(?:[.,](?P<frac>\d+))?")


class ScenarioError(ValueError):
    """A case row the runner cannot turn into facts: the column and why."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Scenario:
    case_id: str
    zone: str
    at: datetime
    vehicle: Vehicle | None
    exemptions: tuple[Exemption, ...]
    facts: PassageFacts
    expected: str


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    scenario: Scenario
    decision: Decision | None
    error: str | None = None
    """Why the row could not be decided: `column: reason`."""

    @property
    def passed(self) -> bool:
        return self.decision is not None and self.decision.outcome.value == self.scenario.expected

    def line(self) -> str:
        """A failure: case id, expected, got and the rule ids; or the column and why."""
        if self.decision is None:
            return f"{self.scenario.case_id} cannot be read: {self.error}"
        got = self.decision.outcome.value
        rules = ";".join(self.decision.rule_ids)
        return f"{self.scenario.case_id} expected={self.scenario.expected} got={got} rules={rules}"


def read_scenarios(path: Path) -> Iterator[Scenario | tuple[str, str]]:
    """Yield a `Scenario` per row, or `(case_id, error)` for a row that cannot be parsed.

    Raises `ScenarioError` when the file itself is unusable (a directory, missing columns)."""
    if path.is_dir():
        raise ScenarioError("case file", f"{path} is a directory, not a CSV file")
    if not path.exists():
        raise ScenarioError("case file", f"{path} does not exist")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ScenarioError(path.name, f"missing columns {', '.join(missing)}")
        for number, row in enumerate(reader, start=2):
            case_id = (row.get("case_id") or f"line {number}").strip()
            try:
                yield parse_row(row)
            except ScenarioError as exc:
                yield case_id, str(exc)


def parse_row(row: dict[str, str]) -> Scenario:
    def text(column: str) -> str:
        return (row.get(column) or "").strip()

    case_id = text("case_id")
    expected = text("expected").lower()
    if expected not in _OUTCOMES:
        raise ScenarioError(
            "expected", f"{text('expected')[:40]!r} is not one of {', '.join(_OUTCOMES)}"
        )
    if not text("zone"):
        raise ScenarioError("zone", "is empty")
    try:
        at = datetime.fromisoformat(text("passage_datetime"))
    except ValueError as exc:
        raise ScenarioError("passage_datetime", str(exc)) from None
    if at.tzinfo is None:
        raise ScenarioError("passage_datetime", "needs a UTC offset (R39)")
    plate = f"CASE{case_id}"  # the format carries no plate; a placeholder keys the exemptions
    country = text("plate_country").upper() or None
    if country is not None and not (len(country) == 2 and country.isalpha()):
        raise ScenarioError("plate_country", f"{country[:40]!r} is not an ISO 3166 alpha-2 code")
    vehicle = _vehicle(plate, row) if country in (None, "NL") else None
    exemptions: tuple[Exemption, ...] = ()
    if text("exemption"):
        try:
            exemptions = (parse_scenario_exemption(plate, text("exemption")),)
        except ValueError as exc:
            raise ScenarioError("exemption", str(exc)) from None
    return Scenario(
        case_id=case_id,
        zone=text("zone"),
        at=at,
        vehicle=vehicle,
        exemptions=exemptions,
        facts=parse_facts(text("facts"), country),
        expected=expected,
    )


def parse_facts(text: str, country: str | None = None) -> PassageFacts:
    """The `facts` column: `key=value` pairs separated by `;` (spec §10). Never the note."""
    values: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not key:
            raise ScenarioError("facts", f"{part.strip()[:40]!r} is not key=value")
        if key not in FACT_KEYS:
            raise ScenarioError(
                "facts", f"unknown key {key[:40]!r} (known: {', '.join(FACT_KEYS)})"
            )
        if key in values:
            raise ScenarioError("facts", f"{key} is given twice")
        if value:  # an empty value is the default: a confident read, no incident, entering
            values[key] = value
    confidence: float | None = None
    if "read_confidence" in values:
        raw = values["read_confidence"]
        try:
            confidence = float(raw.replace(",", "."))
        except ValueError:
            confidence = None
        if confidence is None or not 0.0 <= confidence <= 1.0:
            raise ScenarioError("facts", f"read_confidence {raw[:40]!r} is not a number 0..1")
    incident = False
    if "priority_incident" in values:
        raw = values["priority_incident"].lower()
        if raw not in _YES_NO:
            raise ScenarioError("facts", f"priority_incident {raw[:40]!r} is not yes or no")
        incident = _YES_NO[raw]
    direction = values.get("direction", "entering").lower() or "entering"
    if direction not in _DIRECTIONS:
        raise ScenarioError(
            "facts", f"direction {direction[:40]!r} is not one of {', '.join(_DIRECTIONS)}"
        )
    return PassageFacts(
        country=country,
        read_confidence=confidence,
        priority_incident=incident,
        direction_unknown=direction == "unknown",
        leaving=direction == "leaving",
    )


def _vehicle(plate: str, row: dict[str, str]) -> Vehicle | None:
    """Columns to register facts; all vehicle columns empty means 'not in the register'."""

    def text(column: str) -> str:
        return (row.get(column) or "").strip()

    columns = (
        "voertuigsoort",
        "europese_voertuigcategorie",
        "max_mass_kg",
        "fuel",
        "euro_class",
        "datum_eerste_toelating",
    )
    if not any(text(c) for c in columns):
        return None
    match = _QUALIFIER.match(text("voertuigsoort"))
    if match is None:
        raise ScenarioError("voertuigsoort", f"{text('voertuigsoort')[:40]!r} is not understood")
    kind = match["kind"] or None
    qualifier = (match["qualifier"] or "").strip()
    body: str | None = None
    body_type_codes: tuple[str, ...] = ()
    body_codes: tuple[str, ...] = ()
    particularities: tuple[int, ...] = ()
    fairground = removal = False
    lowered = qualifier.lower()
    if lowered.startswith("bijzonderheidscode"):
        code_text = qualifier.split()[-1]
        if not code_text.isdigit():
            raise ScenarioError("voertuigsoort", f"bijzonderheidscode {code_text!r} is no number")
        particularities = (int(code_text),)
    elif lowered.startswith("carrosseriecode"):
        code = qualifier.split()[-1].upper()
        if code.isdigit():
            body_codes = (code,)
        else:
            body_type_codes = (code,)
    elif lowered == "kermis/circus":
        fairground = True
    elif lowered == "verhuisauto":
        removal = True
    elif qualifier.isupper() and len(qualifier) == 2:
        body_type_codes = (qualifier,)  # e.g. (SH)
    elif qualifier:
        body = lowered  # (opleggertrekker), (kampeerwagen)
    mass = text("max_mass_kg")
    euro = text("euro_class")
    try:
        emission = parse_emission_class(euro)
    except ValueError as exc:
        raise ScenarioError("euro_class", str(exc)) from None
    return Vehicle(
        plate=plate,
        kind=kind,
        max_mass_kg=parse_mass_kg(mass) if mass else None,
        eu_category=text("europese_voertuigcategorie") or None,
        body=body,
        body_type_codes=body_type_codes,
        body_codes=body_codes,
        particularity_codes=particularities,
        first_admission=_date(text("datum_eerste_toelating"), "datum_eerste_toelating"),
        first_nl_registration=_date(
            text("datum_eerste_tenaamstelling_nl"), "datum_eerste_tenaamstelling_nl"
        ),
        fuels=_fuels(text("fuel"), emission),
        fairground=fairground,
        removal=removal,
    )


def _fuels(text: str, euro: str | None) -> tuple[Fuel, ...]:
    """`Diesel`, or hybrids written `Benzine+Elektriciteit (OVC-HEV)`; the class goes on
    the combustion row (RDW registers it there). An empty `fuel` with a class keeps the
    class, on a row whose fuel is not described: the class is a register fact of its own."""
    if not text:
        return (Fuel(name="", emission_class=euro),) if euro else ()
    match = _QUALIFIER.match(text)
    names = [n.strip() for n in (match["kind"] if match else text).split("+") if n.strip()]
    if not names:
        raise ScenarioError("fuel", f"{text[:40]!r} names no fuel")
    hybrid = (match["qualifier"] or "").strip() or None if match else None
    fuels: list[Fuel] = []
    given = False
    for name in names:
        combustion = name not in ZERO_EMISSION_FUELS
        cls = euro if (combustion and not given) else None
        given = given or cls is not None
        fuels.append(Fuel(name=name, emission_class=cls, hybrid_class=hybrid))
    if euro and not given:
        fuels[0] = Fuel(fuels[0].name, euro, fuels[0].hybrid_class)
    return tuple(fuels)


def parse_mass_kg(text: str) -> int:
    """A permitted maximum mass in whole kg, written either way: `3500`, `3500.0`, `3500,0`,
    `3.500`, `3,500`, `3 500`, `3.500,0`. A group of exactly three digits after the first
    separator is a thousands group; anything else after it is a decimal part, which must be
    zero (a register mass is whole kilograms)."""
    compact = "".join(text.split())
    whole: str
    fraction = ""
    thousands = _THOUSANDS.fullmatch(compact)
    if thousands and thousands["dec"] != thousands["sep"]:
        whole = re.sub(r"[.,]", "", thousands["int"])
        fraction = thousands["frac"] or ""
    else:
        decimal = _DECIMAL.fullmatch(compact)
        if decimal is None:
            raise ScenarioError("max_mass_kg", f"{text[:40]!r} is not a mass in kg")
        whole, fraction = decimal["int"], decimal["frac"] or ""
    if fraction.strip("0"):
        raise ScenarioError("max_mass_kg", f"{text[:40]!r} is not a whole number of kg")
    mass = int(whole)
    if mass <= 0:
        raise ScenarioError("max_mass_kg", f"{text[:40]!r} is not a positive mass")
    return mass


def _date(text: str, column: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ScenarioError(column, f"{text!r} is not a date YYYY-MM-DD") from None


def run_scenarios(path: Path, catalog: ZoneCatalog | None = None) -> list[ScenarioResult]:
    """Decide every case; a row that cannot be read or decided is an error result.

    The zone must be in the catalogue (a municipality without a zone, like Hilversum, is
    there with no start date): an unknown name is a mistyped case, not R1."""
    zones = catalog or default_catalog()
    results: list[ScenarioResult] = []
    for item in read_scenarios(path):
        if isinstance(item, tuple):
            results.append(_error(*item))
            continue
        zone = zones.get(item.zone)
        if zone is None:
            reason = f"zone: {item.zone[:40]!r} is not a known zone (`zes rules zones`)"
            results.append(_error(item.case_id, reason, item.expected))
            continue
        try:
            decision = decide(item.at, zone, item.vehicle, item.exemptions, facts=item.facts)
        except PassageTimeError as exc:
            results.append(_error(item.case_id, f"passage_datetime: {exc}", item.expected))
            continue
        results.append(ScenarioResult(item, decision))
    return results


def _error(case_id: str, reason: str, expected: str = "?") -> ScenarioResult:
    dummy = Scenario(case_id, "", datetime.min, None, (), PassageFacts(), expected)
    return ScenarioResult(dummy, None, reason)
