"""The domain's nouns: vehicles, zones, exemptions and decisions.

Small, frozen and free of I/O, so the law (`enforcement.law`), the register adapters, the
stream and the review app all speak about the same things. Dates that the law compares are
local calendar dates (Europe/Amsterdam, R39); instants are timezone-aware datetimes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from enforcement.messages import render
from enforcement.params import LawParams

#: All date rules are evaluated in Dutch local time (R39).
LOCAL_TZ = ZoneInfo("Europe/Amsterdam")

#: RDW `brandstof_omschrijving` values that count as zero-emission (R5).
ZERO_EMISSION_FUELS = frozenset({"Elektriciteit", "Waterstof"})


class Outcome(enum.StrEnum):
    """The legal access decision for one passage."""

    ALLOWED = "allowed"
    VIOLATION = "violation"
    OUT_OF_SCOPE = "out_of_scope"
    UNDETERMINED = "undetermined"


class SanctionKind(enum.StrEnum):
    """What a violation leads to (R32, R37)."""

    NONE = "none"
    WARNING = "warning"
    FINE = "fine"


class VehicleClass(enum.StrEnum):
    """Classification of a goods vehicle for the ZE rules (R4)."""

    VAN = "van"
    TRACTOR = "tractor"
    RIGID = "rigid"


class ExemptionStatus(enum.StrEnum):
    """Status of an ontheffing in the exemption register (R21)."""

    GRANTED = "granted"
    REFUSED = "refused"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Fuel:
    """One row of RDW `Gekentekende_voertuigen_brandstof` (8ys7-d773) for a vehicle."""

    name: str
    """`brandstof_omschrijving`, e.g. `Diesel`, `Elektriciteit`."""
    emission_class: str | None = None
    """`emissiecode_omschrijving`: "0".."6" or "Z"; None when not registered."""
    hybrid_class: str | None = None
    """`klasse_hybride_elektrisch_voertuig`, e.g. `OVC-HEV`, `NOVC-HEV`."""


@dataclass(frozen=True, slots=True)
class Vehicle:
    """Exactly the RDW register facts the ZE rules use (see §6 of the rules spec)."""

    plate: str
    """Normalised plate: uppercase, no separators (`kenteken`)."""
    kind: str | None
    """`voertuigsoort`, e.g. `Bedrijfsauto`, `Personenauto`; None when missing."""
    max_mass_kg: int | None = None
    """`toegestane_maximum_massa_voertuig` in kg."""
    eu_category: str | None = None
    """`europese_voertuigcategorie`, e.g. N1, N2, N3, M1."""
    body: str | None = None
    """`inrichting` in lower case, e.g. `opleggertrekker`, `kampeerwagen`."""
    body_type_codes: tuple[str, ...] = ()
    """EU body type codes (`carrosserietype`), e.g. BC (tractor), SH, SB, SF."""
    body_codes: tuple[str, ...] = ()
    """Two-digit body supplement codes (`carrosseriecode`), e.g. 15 concrete mixer."""
    particularity_codes: tuple[int, ...] = ()
    """`bijzonderheid_code` values, e.g. 145-149 wheelchair access."""
    axles: int | None = None
    """`aantal_assen`."""
    length_cm: int | None = None
    """`lengte` in cm; access windows may limit the length of vehicles (venstertijden)."""
    first_admission: date | None = None
    """`datum_eerste_toelating` (DET): the date the transitional rules use by default (R11)."""
    first_nl_registration: date | None = None
    """`datum_eerste_tenaamstelling_in_nederland`: differs from DET for used imports."""
    fuels: tuple[Fuel, ...] = ()
    """Fuel rows in `brandstof_volgnummer` order."""
    fairground: bool = False
    """Registered as a kermis- or circus truck (R23)."""
    removal: bool = False
    """A removal truck (verhuisauto) of a removal company (R23)."""
    exported: bool = False
    """`export_indicator = Ja`: the plate is no longer current in the Netherlands."""

    @property
    def emission_class(self) -> str | None:
        """The vehicle's emission class: the first class registered on a fuel row."""
        for fuel in self.fuels:
            if fuel.emission_class:
                return fuel.emission_class
        return None

    @property
    def zero_emission(self) -> bool:
        """R5: every fuel row is electricity or hydrogen, or the class is Z."""
        if self.emission_class == "Z":
            return True
        return bool(self.fuels) and all(f.name in ZERO_EMISSION_FUELS for f in self.fuels)

    @property
    def hybrid(self) -> bool:
        """R6: a hybrid (plug-in or not) has both a combustion and an electric fuel row."""
        names = {f.name for f in self.fuels}
        combined = bool(names & ZERO_EMISSION_FUELS) and bool(names - ZERO_EMISSION_FUELS)
        return combined or any(f.hybrid_class for f in self.fuels)

    @property
    def plugin_hybrid(self) -> bool:
        return any(f.hybrid_class == "OVC-HEV" for f in self.fuels)


@dataclass(frozen=True, slots=True)
class Zone:
    """A municipality's ZE-zone as designated by its traffic decision (R1)."""

    id: str
    """Stable slug, e.g. `den-haag`; used in topics, keys and metric labels."""
    name: str
    """Display name, e.g. `Den Haag`."""
    municipality: str
    """Municipality that designated the zone; the scope of local ontheffingen."""
    start: date | None
    """First day the zone applies (00:00 local); None when the municipality has no zone."""
    warning_until: date | None = None
    """Last day of the warning (fine-free) period; None = `start` plus the minimum months."""
    sanction_interval_hours: int = 24
    """Minimum time between two sanctions for one vehicle in this zone (R35): 24 or 48."""
    day_permit_min_class: int | None = None
    """Minimum emission class a vehicle needs for a day permit here (R22), if any."""
    params: LawParams = field(default_factory=LawParams)
    """The law's parameters for this zone (cut-off dates, amounts, switches)."""
    aliases: tuple[str, ...] = ()
    """Other names under which cases and permits refer to this zone or municipality."""

    @property
    def last_warning_day(self) -> date | None:
        if self.start is None:
            return None
        if self.warning_until is not None:
            return self.warning_until
        return add_months(self.start, self.params.warning_period_min_months) - timedelta(days=1)

    def covers_scope(self, scope: str) -> bool:
        """Does a permit scope (municipality name or `NL`/`NL(RVO)`) include this zone?"""
        key = fold_name(scope)
        if key in {"nl", "nl(rvo)", "nederland"}:
            return True
        return key in {fold_name(n) for n in (self.municipality, self.name, self.id, *self.aliases)}


@dataclass(frozen=True, slots=True)
class Exemption:
    """An ontheffing (applied-for or automatic permit) from an exemption register.

    Validity is a half-open interval `[starts_at, ends_before)` of aware instants, so day
    permits (D 00:00 to D+1 06:00) and long permits (through an end date inclusive) share one
    test. Use `Exemption.for_dates` for permits given as inclusive calendar dates.
    """

    plate: str
    type: str
    """Permit type key, e.g. `dagontheffing`, `netcongestie` (see §10 of the rules spec)."""
    scope: str
    """A municipality name, `NL` (nationwide) or `NL(RVO)` (granted by the national agency)."""
    starts_at: datetime | None
    ends_before: datetime | None
    status: ExemptionStatus = ExemptionStatus.GRANTED
    sequence: int | None = None
    """For day permits: this is the K-th day permit of the vehicle in this municipality-year."""
    reference: str = ""
    """The issuer's reference (permit number); never the holder's personal data."""
    note: str = ""

    @classmethod
    def for_dates(
        cls,
        plate: str,
        type: str,
        scope: str,
        first_day: date,
        last_day: date,
        **kwargs: object,
    ) -> Exemption:
        """A permit valid from `first_day` 00:00 through `last_day` 23:59:59 local time."""
        return cls(
            plate=plate,
            type=type,
            scope=scope,
            starts_at=local_midnight(first_day),
            ends_before=local_midnight(last_day + timedelta(days=1)),
            **kwargs,  # type: ignore[arg-type]
        )

    @classmethod
    def day_permit(cls, plate: str, scope: str, day: date, **kwargs: object) -> Exemption:
        """A dagontheffing for local day `day`: 00:00 on D until 06:00 on D+1 (R22)."""
        return cls(
            plate=plate,
            type="dagontheffing",
            scope=scope,
            starts_at=local_midnight(day),
            ends_before=datetime.combine(day + timedelta(days=1), time(6), LOCAL_TZ),
            **kwargs,  # type: ignore[arg-type]
        )

    def valid_at(self, at: datetime) -> bool:
        if self.status is not ExemptionStatus.GRANTED:
            return False
        if self.starts_at is None or self.ends_before is None:
            return False
        return self.starts_at <= at < self.ends_before

    @property
    def last_day(self) -> date | None:
        """The last local calendar day on which the permit is valid (for explanations)."""
        if self.ends_before is None:
            return None
        return (self.ends_before.astimezone(LOCAL_TZ) - timedelta(microseconds=1)).date()


class RuleHit(NamedTuple):
    """One rule that shaped a decision: its id, a message key and the facts it names.

    The sentence is rendered from one message catalogue (`enforcement.messages`) so that the
    review app, `zes decide` and the public plate check say the same thing, in Dutch or English.
    A NamedTuple rather than a frozen dataclass: the stream makes several per passage, and a
    tuple is built four times faster.
    """

    rule_id: str
    key: str
    args: tuple[tuple[str, object], ...] = ()

    def sentence_in(self, lang: str) -> str:
        return render(self.key, dict(self.args), lang)

    @property
    def sentence(self) -> str:
        return self.sentence_in("en")


@dataclass(frozen=True, slots=True)
class Sanction:
    kind: SanctionKind = SanctionKind.NONE
    amount_eur: int | None = None
    """The fine for the vehicle class (R37); None unless `kind` is fine."""
    admin_costs_eur: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of `enforcement.law.decide` for one passage."""

    outcome: Outcome
    rules: tuple[RuleHit, ...]
    local_time: datetime
    """The passage instant in Europe/Amsterdam (R39)."""
    vehicle_class: VehicleClass | None = None
    sanction: Sanction = Sanction()
    allowed_until: date | None = None
    """When allowed by a rule with an end: the last local day that rule allows."""
    exemption: Exemption | None = None
    """The ontheffing that allowed the passage, if one did."""
    day_permit_day: date | None = None
    """Set when a day permit allowed this passage: the permit day it uses (R22 count)."""
    exemptions_considered: tuple[Exemption, ...] = ()

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return unique_rule_ids(self.rules)

    @property
    def needs_review(self) -> bool:
        """R33/R36: every violation and every undetermined passage goes to a human."""
        return self.outcome in (Outcome.VIOLATION, Outcome.UNDETERMINED)

    def reasons(self, lang: str = "en") -> tuple[str, ...]:
        return tuple(hit.sentence_in(lang) for hit in self.rules)


def unique_rule_ids(hits: tuple[RuleHit, ...]) -> tuple[str, ...]:
    """Rule ids in the order they first shaped a decision, each once."""
    return tuple(dict.fromkeys(hit.rule_id for hit in hits))


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), LOCAL_TZ)


def end_of_day(day: date) -> datetime:
    """The first instant after local day `day` (exclusive end of "tot en met" a date)."""
    return local_midnight(day + timedelta(days=1))


def add_months(day: date, months: int) -> date:
    """`day` plus whole calendar months, clamped to the month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def anniversary(day: date, years: int, *, leap_day_late: bool) -> date:
    """The date `years` after `day`. A 29 February falls on 28 February or 1 March of a
    common year: the law module picks the reading that favours the vehicle (never fine on
    doubt) via `leap_day_late`."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1) if leap_day_late else date(day.year + years, 2, 28)


def fold_name(name: str) -> str:
    """Compare municipality names loosely: case, apostrophes, dashes and spaces ignored."""
    return "".join(ch for ch in name.casefold() if ch.isalnum() or ch in "()")
