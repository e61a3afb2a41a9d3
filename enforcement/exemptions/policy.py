"""Exemption policy as data: the region's framework and one municipality's additions.

The guide the product serves asks municipalities to adopt a regional base framework for
ontheffingen ("basisraamwerk ontheffingen") with only limited local additions. So there are
two files people write:

* the *framework* (one per region): every exemption type the region's desks handle, with its
  conditions (vehicle classes, minimum emission class, trips per year), the longest validity,
  the documents the desk asks for, the fee and its zero-emission reduction, and whether a
  second officer must agree (four-eyes);
* a *municipality file*: which framework types it adopts, restrictions of them (only ever
  stricter: a higher minimum class, a shorter validity, fewer day permits, four-eyes on), and
  its own local types (R31 only: a municipality cannot invent a national scheme).

Both are validated like the site file: `extra="forbid"`, a description on every field, and
every problem reported at once (`PolicyError.problems`): every field problem of every file,
and, for each file whose fields are sound, every problem of its pairing with the framework
(`resolve`). `resolve` joins the two into the
`MunicipalPolicy` the desk decides with. Pure: no I/O (`enforcement.exemptions.files` reads).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from enforcement.law import ONTHEFFING_RULES
from enforcement.model import VehicleClass

__all__ = [
    "ExemptionType",
    "Fee",
    "Framework",
    "MunicipalPolicy",
    "MunicipalityFile",
    "PolicyError",
    "Restriction",
    "TypeKey",
    "parse_framework",
    "parse_municipality",
    "resolve",
]

#: A permit type key as the register writes it (§10): `dagontheffing`, `dierenambulance`.
TypeKey = Annotated[str, Field(pattern=r"^[a-z][a-zA-Z0-9-]{1,47}$")]
#: The rules a desk of a municipality may decide under (R25/R26 are national from 2026, R23
#: is RVO's): the municipal types of the rules spec §5 and the local ones (R31).
DeskRule = Literal["R22", "R24", "R27", "R28", "R29", "R30", "R31"]
EmissionClass = Annotated[int, Field(ge=0, le=6)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Model):
    """A text people read, in both languages of the product."""

    nl: str = Field(min_length=1, max_length=300, description="Dutch text (shown by default).")
    en: str = Field(min_length=1, max_length=300, description="English text.")

    def in_(self, lang: str) -> str:
        return self.en if lang == "en" else self.nl


class Fee(_Model):
    """The leges for a granted exemption of this type."""

    amount_eur: Decimal = Field(
        ge=0, le=10000, decimal_places=2, description="The fee in euro, e.g. 30.00 (R22)."
    )
    ze_reduction_percent: int = Field(
        0,
        ge=0,
        le=100,
        description="Reduction for a zero-emission vehicle in percent ('gunstige leges').",
    )

    def cents_for(self, zero_emission: bool) -> int:
        """The fee in euro cents for this vehicle (the reduction rounds in its favour)."""
        cents = int(self.amount_eur * 100)
        if zero_emission:
            cents -= -(-cents * self.ze_reduction_percent // 100)  # ceil of the reduction
        return cents


class ExemptionType(_Model):
    """One exemption type a desk handles, with the conditions the policy checks itself."""

    rule: DeskRule = Field(
        description="The rule that governs it in the rules spec (R22 day permit, R31 local)."
    )
    name: Text = Field(description="The type's name on the form and the status page.")
    vehicle_classes: tuple[VehicleClass, ...] = Field(
        (VehicleClass.VAN, VehicleClass.RIGID, VehicleClass.TRACTOR),
        min_length=1,
        description="Vehicle classes that may apply: van, rigid, tractor.",
    )
    min_emission_class: EmissionClass | None = Field(
        None, description="Lowest Euro class granted (R22's municipal variation); none: any."
    )
    min_trips_per_year: int | None = Field(
        None, ge=1, le=10000, description="Fewest trips into the zone a year the type is for."
    )
    max_days: int = Field(
        ge=1, le=5000, description="Longest validity in days (1 = one permit day, R22)."
    )
    max_per_year: int | None = Field(
        None, ge=1, le=366, description="Grants per plate, municipality and year (R22: 12)."
    )
    evidence: tuple[Text, ...] = Field(
        (), description="Documents the desk asks for (outside the product: none is uploaded)."
    )
    fee: Fee = Field(description="The leges for a grant.")
    four_eyes: bool = Field(False, description="A grant needs a second, different officer.")
    automatic_grant: bool = Field(
        False,
        description="Granted at once when every policy check passes (day permits at the "
        "desk); otherwise an officer decides.",
    )

    @model_validator(mode="after")
    def _day_permit(self) -> ExemptionType:
        if self.rule == "R22" and self.max_days != 1:
            raise ValueError("a day permit (R22) is valid for one day: max_days must be 1")
        return self


class Framework(_Model):
    """The regional base framework (`basisraamwerk ontheffingen`)."""

    region: str = Field(min_length=1, max_length=80, description="The region that adopted it.")
    adopted: str = Field(
        min_length=1, max_length=200, description="When and by which decision it was adopted."
    )
    types: dict[TypeKey, ExemptionType] = Field(
        min_length=1, description="The exemption types by their register key (§10)."
    )

    @model_validator(mode="after")
    def _keys_match_rules(self) -> Framework:
        problems = [
            f"types.{key}: the key is {ONTHEFFING_RULES.get(key, 'R31')}'s, not {kind.rule}'s"
            for key, kind in self.types.items()
            if ONTHEFFING_RULES.get(key, "R31") != kind.rule
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Restriction(_Model):
    """A municipality's restriction of a framework type: only ever stricter."""

    min_emission_class: EmissionClass | None = Field(
        None, description="A higher minimum Euro class than the framework's."
    )
    min_trips_per_year: int | None = Field(
        None, ge=1, le=10000, description="More trips a year than the framework asks."
    )
    max_days: int | None = Field(None, ge=1, description="A shorter longest validity in days.")
    max_per_year: int | None = Field(None, ge=1, description="Fewer grants per plate a year.")
    fee: Fee | None = Field(
        None, description="The municipality's own leges (its ZE reduction at least the "
        "framework's)."
    )  # fmt: skip
    four_eyes: bool | None = Field(None, description="Turn four-eyes on (never off).")
    automatic_grant: bool | None = Field(None, description="Turn automatic grants off (never on).")
    extra_evidence: tuple[Text, ...] = Field(
        (), description="Documents asked for on top of the framework's."
    )


class MunicipalityFile(_Model):
    """One municipality's exemption policy on top of the framework."""

    municipality: str = Field(
        min_length=1, max_length=64, description="The municipality, as the zone file names it."
    )
    adopts: tuple[TypeKey, ...] | None = Field(
        None, description="Framework types its desk handles; none given: all of them."
    )
    restrictions: dict[TypeKey, Restriction] = Field(
        default_factory=dict, description="Stricter conditions for adopted framework types."
    )
    local_types: dict[TypeKey, ExemptionType] = Field(
        default_factory=dict, description="Its own local ontheffingen (R31 only)."
    )


@dataclass(frozen=True, slots=True)
class MunicipalPolicy:
    """What one municipality's desk decides with: the framework's types it adopted, with its
    restrictions applied, and its local types."""

    municipality: str
    region: str
    types: Mapping[str, ExemptionType]

    @property
    def slug(self) -> str:
        """The municipality in a URL: `Den Haag` → `den-haag`."""
        return slug_of(self.municipality)


def slug_of(municipality: str) -> str:
    """`Den Haag` → `den-haag`, `'s-Hertogenbosch` → `s-hertogenbosch`."""
    return "-".join(re.findall(r"[^\W_]+", municipality.casefold()))


class PolicyError(ValueError):
    """A policy with problems; `problems` holds one `path: message` line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def _problems(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "(top)"
        message = error["msg"].removeprefix("Value error, ")
        for part in message.split("; "):
            lines.append(f"{where}: {part}" if not part.startswith(f"{where}.") else part)
    return lines


def parse_framework(data: Any, source: str = "framework") -> Framework:
    try:
        return Framework.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, _problems(exc)) from None


def parse_municipality(data: Any, source: str = "municipality") -> MunicipalityFile:
    try:
        return MunicipalityFile.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, _problems(exc)) from None


def _looser(base: ExemptionType, key: str, change: Restriction) -> list[str]:
    """Every way `change` would loosen `base` instead of restricting it."""
    where = f"restrictions.{key}"
    found: list[str] = []
    if change.min_emission_class is not None and (
        base.min_emission_class is not None and change.min_emission_class < base.min_emission_class
    ):
        found.append(
            f"{where}.min_emission_class: {change.min_emission_class} is below the "
            f"framework's {base.min_emission_class}"
        )
    if change.min_trips_per_year is not None and (
        base.min_trips_per_year is not None and change.min_trips_per_year < base.min_trips_per_year
    ):
        found.append(
            f"{where}.min_trips_per_year: {change.min_trips_per_year} is below the "
            f"framework's {base.min_trips_per_year}"
        )
    if change.max_days is not None and change.max_days > base.max_days:
        found.append(
            f"{where}.max_days: {change.max_days} is longer than the framework's {base.max_days}"
        )
    if change.max_per_year is not None and (
        base.max_per_year is None or change.max_per_year > base.max_per_year
    ):
        found.append(
            f"{where}.max_per_year: {change.max_per_year} is more than the framework's "
            f"{base.max_per_year or 'none'}"
        )
    if change.fee is not None and change.fee.ze_reduction_percent < base.fee.ze_reduction_percent:
        found.append(
            f"{where}.fee.ze_reduction_percent: {change.fee.ze_reduction_percent} is below "
            f"the framework's {base.fee.ze_reduction_percent}"
        )
    if change.four_eyes is False and base.four_eyes:
        found.append(f"{where}.four_eyes: the framework asks for four eyes")
    if change.automatic_grant is True and not base.automatic_grant:
        found.append(f"{where}.automatic_grant: the framework has an officer decide")
    return found


def _restricted(base: ExemptionType, change: Restriction) -> ExemptionType:
    updates: dict[str, Any] = {
        name: value
        for name in (
            "min_emission_class",
            "min_trips_per_year",
            "max_days",
            "max_per_year",
            "fee",
            "four_eyes",
            "automatic_grant",
        )
        if (value := getattr(change, name)) is not None
    }
    if change.extra_evidence:
        updates["evidence"] = base.evidence + change.extra_evidence
    return base.model_copy(update=updates)


def resolve(
    framework: Framework,
    local: MunicipalityFile,
    *,
    municipalities: frozenset[str] | None = None,
    source: str = "municipality",
) -> MunicipalPolicy:
    """The municipality's effective policy; raises `PolicyError` with every problem of the
    pair (a type it adopts or restricts that the framework lacks, a restriction that loosens,
    a local type that shadows a framework type, a municipality without a zone)."""
    problems: list[str] = []
    if municipalities is not None and local.municipality not in municipalities:
        problems.append(f"municipality: {local.municipality!r} has no zone in the zone file")
    adopted = framework.types.keys() if local.adopts is None else local.adopts
    for key in adopted:
        if key not in framework.types:
            problems.append(f"adopts: {key!r} is not a type of the framework")
    for key, change in local.restrictions.items():
        if key not in framework.types:
            problems.append(f"restrictions.{key}: not a type of the framework")
        elif key not in adopted:
            problems.append(f"restrictions.{key}: the municipality does not adopt it")
        else:
            problems.extend(_looser(framework.types[key], key, change))
    for key, kind in local.local_types.items():
        if key in framework.types:
            problems.append(f"local_types.{key}: the framework already has this type")
        elif kind.rule != "R31" or key in ONTHEFFING_RULES:
            problems.append(
                f"local_types.{key}: a local type is R31, with a key outside §10's national list"
            )
    if problems:
        raise PolicyError(source, problems)
    types: dict[str, ExemptionType] = {}
    for key in adopted:
        base = framework.types[key]
        restriction = local.restrictions.get(key)
        types[key] = _restricted(base, restriction) if restriction else base
    types.update(local.local_types)
    return MunicipalPolicy(local.municipality, framework.region, types)
