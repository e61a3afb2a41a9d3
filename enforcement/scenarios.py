"""The scenario runner: decide every case of a `ze-scenarios-*.csv` file with the law.

The case file is input only. Its columns (rules spec §10) become the facts `decide` takes;
the `expected`, `rule_ids` and `note` columns are never shown to the law. One exception is
documented: R20 (priority vehicle on duty) is not a register fact, and the case format has no
column for it, so a note saying an incident log is attached becomes
`PassageFacts.priority_incident`. That is a fact about the passage, not an expected answer.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from enforcement.law import PassageFacts, decide
from enforcement.model import Decision, Exemption, Fuel, Vehicle
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
_INCIDENT_LOG = re.compile(r"incident log", re.IGNORECASE)
_NO_INCIDENT_LOG = re.compile(
    r"\b(no|without|missing|absent)\b[^.;]*incident log|incident log[^.;]*\b(missing|absent)\b",
    re.IGNORECASE,
)


class ScenarioError(ValueError):
    """A case row the runner cannot turn into facts (the message names the column)."""


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

    @property
    def passed(self) -> bool:
        return self.decision is not None and self.decision.outcome.value == self.scenario.expected

    def line(self) -> str:
        got = self.decision.outcome.value if self.decision else "error"
        rules = ";".join(self.decision.rule_ids) if self.decision else (self.error or "")
        return f"{self.scenario.case_id} expected={self.scenario.expected} got={got} rules={rules}"


def read_scenarios(path: Path) -> Iterator[Scenario | tuple[str, str]]:
    """Yield a `Scenario` per row, or `(case_id, error)` for a row that cannot be parsed."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ScenarioError(f"{path.name}: missing columns {', '.join(missing)}")
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
    try:
        at = datetime.fromisoformat(text("passage_datetime"))
    except ValueError as exc:
        raise ScenarioError(f"passage_datetime: {exc}") from None
    if at.tzinfo is None:
        raise ScenarioError("passage_datetime needs a UTC offset (R39)")
    plate = f"CASE{case_id}"  # the format carries no plate; a placeholder keys the exemptions
    country = text("plate_country").upper() or None
    vehicle = None if country else _vehicle(plate, row)
    exemptions: tuple[Exemption, ...] = ()
    if text("exemption"):
        try:
            exemptions = (parse_scenario_exemption(plate, text("exemption")),)
        except ValueError as exc:
            raise ScenarioError(f"exemption: {exc}") from None
    note = text("note")
    incident = bool(_INCIDENT_LOG.search(note)) and not _NO_INCIDENT_LOG.search(note)
    return Scenario(
        case_id=case_id,
        zone=text("zone"),
        at=at,
        vehicle=vehicle,
        exemptions=exemptions,
        facts=PassageFacts(country=country, priority_incident=incident),
        expected=text("expected"),
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
        raise ScenarioError(f"voertuigsoort {text('voertuigsoort')!r} is not understood")
    kind = match["kind"] or None
    qualifier = (match["qualifier"] or "").strip()
    body: str | None = None
    body_type_codes: tuple[str, ...] = ()
    body_codes: tuple[str, ...] = ()
    particularities: tuple[int, ...] = ()
    fairground = removal = False
    lowered = qualifier.lower()
    if lowered.startswith("bijzonderheidscode"):
        particularities = (_int(qualifier.split()[-1], "voertuigsoort"),)
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
    return Vehicle(
        plate=plate,
        kind=kind,
        max_mass_kg=_int(mass, "max_mass_kg") if mass else None,
        eu_category=text("europese_voertuigcategorie") or None,
        body=body,
        body_type_codes=body_type_codes,
        body_codes=body_codes,
        particularity_codes=particularities,
        first_admission=_date(text("datum_eerste_toelating"), "datum_eerste_toelating"),
        first_nl_registration=_date(
            text("datum_eerste_tenaamstelling_nl"), "datum_eerste_tenaamstelling_nl"
        ),
        fuels=_fuels(text("fuel"), text("euro_class") or None),
        fairground=fairground,
        removal=removal,
    )


def _fuels(text: str, euro: str | None) -> tuple[Fuel, ...]:
    """`Diesel`, or hybrids written `Benzine+Elektriciteit (OVC-HEV)`; the class goes on
    the combustion row (RDW registers it there)."""
    if not text:
        return ()
    match = _QUALIFIER.match(text)
    names = [n.strip() for n in (match["kind"] if match else text).split("+") if n.strip()]
    hybrid = (match["qualifier"] or "").strip() or None if match else None
    fuels: list[Fuel] = []
    given = False
    for name in names:
        combustion = name not in {"Elektriciteit", "Waterstof"}
        cls = euro if (combustion and not given) else None
        given = given or cls is not None
        fuels.append(Fuel(name=name, emission_class=cls, hybrid_class=hybrid))
    if euro and not given:
        fuels[0] = Fuel(fuels[0].name, euro, fuels[0].hybrid_class)
    return tuple(fuels)


def _int(text: str, column: str) -> int:
    try:
        return int(text.replace(",", "").replace(".", ""))
    except ValueError:
        raise ScenarioError(f"{column}: {text!r} is not a whole number") from None


def _date(text: str, column: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ScenarioError(f"{column}: {text!r} is not a date YYYY-MM-DD") from None


def run_scenarios(path: Path, catalog: ZoneCatalog | None = None) -> list[ScenarioResult]:
    zones = catalog or default_catalog()
    results: list[ScenarioResult] = []
    for item in read_scenarios(path):
        if isinstance(item, tuple):
            case_id, error = item
            dummy = Scenario(case_id, "", datetime.min, None, (), PassageFacts(), "?")
            results.append(ScenarioResult(dummy, None, error))
            continue
        zone = zones.resolve(item.zone)
        decision = decide(item.at, zone, item.vehicle, item.exemptions, facts=item.facts)
        results.append(ScenarioResult(item, decision))
    return results
