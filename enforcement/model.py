"""The domain's nouns: vehicles, zones, exemptions and decisions.

Small, frozen and free of I/O, so the law (`enforcement.law`), the register adapters, the
stream and the review app all speak about the same things. Dates that the law compares are
local calendar dates (Europe/Amsterdam, R39); instants are timezone-aware datetimes.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from datetime import MAXYEAR, UTC, date, datetime, time, timedelta
from typing import Final, NamedTuple
from zoneinfo import ZoneInfo

import msgspec

from enforcement.messages import render
from enforcement.params import LawParams

#: All date rules are evaluated in Dutch local time (R39).
LOCAL_TZ = ZoneInfo("Europe/Amsterdam")

#: RDW `brandstof_omschrijving` values that count as zero-emission (R5).
ZERO_EMISSION_FUELS = frozenset({"Elektriciteit", "Waterstof"})

#: Permit scopes that mean "valid nationwide" (R21), folded as `fold_name` folds them.
NATIONWIDE_SCOPES: Final = frozenset({"nl", "nl(rvo)", "nederland"})

#: Emission classes as written in RDW files and case files -> the canonical class. RDW writes
#: "0".."6" (and "Z"); heavy-duty steps appear in roman numerals (V, VI, VII), sometimes with
#: "EURO" in front, and EEV ("enhanced environmentally friendly vehicle", the step between
#: Euro V and VI) counts as class 5: the lower reading, which never costs a vehicle access it
#: has under the higher one's rules before 2027 (R8 vs R15).
_ROMAN: Final = {"I": "1", "II": "2", "III": "3", "IV": "4", "V": "5", "VI": "6", "VII": "7"}
_EMISSION_CLASSES: Final[dict[str, str]] = {
    **{str(n): str(n) for n in range(8)},
    "Z": "Z",
    "EEV": "5",
    **_ROMAN,
}

#: Flow-statistics fuel groups of a vehicle's first fuel row (`VehicleFacts.fuel_group`).
_FUEL_GROUPS: Final = {
    "Diesel": "diesel",
    "Benzine": "petrol",
    "LPG": "gas",
    "CNG": "gas",
    "LNG": "gas",
}


def parse_emission_class(raw: str | None) -> str | None:
    """The canonical emission class ("0".."7" or "Z") of a written one, None when empty.

    Accepts every spelling RDW files and case files carry: arabic and roman numerals in any
    case, with or without a "EURO" prefix ("EURO VI", "Euro 6"), and EEV. Raises ValueError
    for any other text, so a loader can count it instead of guessing."""
    if raw is None:
        return None
    text = " ".join(raw.split()).upper()
    if not text:
        return None
    bare = text.removeprefix("EURO").strip()
    try:
        return _EMISSION_CLASSES[bare]
    except KeyError:
        raise ValueError(f"emission class {raw[:40]!r} is not 0-7, I-VII, EEV or Z") from None


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
    """`brandstof_omschrijving`, e.g. `Diesel`, `Elektriciteit`; "" when a source gives an
    emission class but no fuel (a case file with an empty `fuel` column)."""
    emission_class: str | None = None
    """`emissiecode_omschrijving` as written: "0".."6" or "Z" from the RDW loader; any
    spelling `parse_emission_class` reads elsewhere. None when not registered."""
    hybrid_class: str | None = None
    """`klasse_hybride_elektrisch_voertuig`, e.g. `OVC-HEV`, `NOVC-HEV`."""


@dataclass(frozen=True, slots=True)
class VehicleFacts:
    """What a vehicle's fuel rows say, read once: the law, the RDW loader, the stream's flow
    labels and the plate check all take these from `vehicle_facts`, so they cannot disagree."""

    emission_class: str | None
    """Canonical class "0".."7" or "Z" of the first fuel row that registers one; None when
    none does or the text is not an emission class."""
    euro: int | None
    """The class as a number for the transitional rules (R7-R15); None for none or Z."""
    emission_label: str
    """Metric label: the class, `unknown` when none is registered, `other` when unreadable."""
    fuel_group: str
    """zero_emission, hybrid, diesel, petrol, gas, other or unknown (no fuel rows)."""
    zero_emission: bool
    """R5: every fuel row is electricity or hydrogen, or the class is Z."""
    hybrid: bool
    """R6: both a combustion and an electric fuel row, or a hybrid class on a row."""
    plugin_hybrid: bool
    """A fuel row with `klasse_hybride_elektrisch_voertuig = OVC-HEV` (R29)."""


@functools.lru_cache(maxsize=4096)
def vehicle_facts(fuels: tuple[Fuel, ...]) -> VehicleFacts:
    """The facts of a vehicle's fuel rows (`brandstof_volgnummer` order).

    Cached per fuel tuple: a few hundred distinct tuples serve a whole fleet, so the stream
    pays for this once per kind of vehicle, not per passage."""
    written = next((f.emission_class for f in fuels if f.emission_class), None)
    try:
        emission_class = parse_emission_class(written)
        label = emission_class or "unknown"
    except ValueError:
        emission_class, label = None, "other"
    euro = int(emission_class) if emission_class and emission_class.isdigit() else None
    names = {f.name for f in fuels if f.name}
    zero_emission = emission_class == "Z" or (
        bool(fuels) and all(f.name in ZERO_EMISSION_FUELS for f in fuels)
    )
    combined = bool(names & ZERO_EMISSION_FUELS) and bool(names - ZERO_EMISSION_FUELS)
    hybrid = combined or any(f.hybrid_class for f in fuels)
    if not names:
        group = "zero_emission" if zero_emission else "unknown"
    elif zero_emission:
        group = "zero_emission"
    elif hybrid:
        group = "hybrid"
    else:
        group = _FUEL_GROUPS.get(next(f.name for f in fuels if f.name), "other")
    return VehicleFacts(
        emission_class=emission_class,
        euro=euro,
        emission_label=label,
        fuel_group=group,
        zero_emission=zero_emission,
        hybrid=hybrid,
        plugin_hybrid=any(f.hybrid_class == "OVC-HEV" for f in fuels),
    )


class Vehicle(msgspec.Struct, frozen=True, gc=False):
    """Exactly the RDW register facts the ZE rules use (see §6 of the rules spec).

    A frozen msgspec Struct rather than a dataclass: the register builds one per looked-up
    plate, and a Struct is built in C (measured on the stream's hot path: a 16-field frozen
    dataclass ~4.5 µs, this Struct well under 1 µs; `benchmarks.stream`). Copy with
    `msgspec.structs.replace`. `gc=False`: it holds only strings, numbers, dates and tuples
    of them, never a cycle.
    """

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
    make: str | None = None
    """`merk` as registered, e.g. `MERCEDES-BENZ`. The description (make, commercial name,
    colours, with `body` and `eu_category`) is for the officer who compares the photo with
    the register (issue 21); the law never reads it, and the public plate check and the open
    data never show it."""
    commercial_name: str | None = None
    """`handelsbenaming`, e.g. `SPRINTER`."""
    colour: str | None = None
    """`eerste_kleur` as RDW writes it (Dutch, upper case), e.g. `WIT`."""
    second_colour: str | None = None
    """`tweede_kleur`; None when RDW says "Niet geregistreerd"."""

    @property
    def facts(self) -> VehicleFacts:
        """Emission class, fuel group and hybrid facts of the fuel rows (`vehicle_facts`)."""
        return vehicle_facts(self.fuels)

    @property
    def emission_class(self) -> str | None:
        """The canonical emission class of the first fuel row that registers one."""
        return vehicle_facts(self.fuels).emission_class

    @property
    def zero_emission(self) -> bool:
        """R5: every fuel row is electricity or hydrogen, or the class is Z."""
        return vehicle_facts(self.fuels).zero_emission

    @property
    def hybrid(self) -> bool:
        """R6: a hybrid (plug-in or not) has both a combustion and an electric fuel row."""
        return vehicle_facts(self.fuels).hybrid

    @property
    def plugin_hybrid(self) -> bool:
        return vehicle_facts(self.fuels).plugin_hybrid


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
        if is_nationwide_scope(scope):
            return True
        return fold_name(scope) in {
            fold_name(n) for n in (self.municipality, self.name, self.id, *self.aliases)
        }


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
    def day_permit(
        cls,
        plate: str,
        scope: str,
        day: date,
        *,
        tail_hours: int | None = None,
        **kwargs: object,
    ) -> Exemption:
        """A dagontheffing for local day `day`: 00:00 on D until the tail on D+1 (R22).

        `tail_hours` defaults to `LawParams.day_permit_tail_hours`."""
        if tail_hours is None:
            tail_hours = DEFAULT_DAY_PERMIT_TAIL_HOURS
        starts_at, ends_before = day_permit_window(day, tail_hours)
        return cls(
            plate=plate,
            type="dagontheffing",
            scope=scope,
            starts_at=starts_at,
            ends_before=ends_before,
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


def case_key(plate: str, scope: str, day: date) -> str:
    """The key of one sanction case (R35): `{plate}:{scope}:{day}`, e.g.
    `VBB12B:utrecht:2026-06-03`. Every passage of one sanction carries the same key; the
    stream's case claims, the violation records and the case database all use it.

    `plate`: the normalised plate (`plates.normalise`); `scope`: what the case is about,
    the zone's id for a ZE-zone case, the access-window area's id for a window case;
    `day`: the local day the sanction interval started (the passage's day for 24-hour
    intervals, the first violation's day for rolling ones). Pure: a case can be re-keyed
    (a corrected plate) without the register."""
    return f"{plate}:{scope}:{day.isoformat()}"


def unique_rule_ids(hits: tuple[RuleHit, ...]) -> tuple[str, ...]:
    """Rule ids in the order they first shaped a decision, each once."""
    return tuple(dict.fromkeys(hit.rule_id for hit in hits))


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), LOCAL_TZ)


#: The default R22 tail, for callers that build a day permit without the law's parameters.
DEFAULT_DAY_PERMIT_TAIL_HOURS: Final = int(LawParams.model_fields["day_permit_tail_hours"].default)


def day_permit_window(day: date, tail_hours: int) -> tuple[datetime, datetime]:
    """R22's window for permit day D: [D 00:00, D+1 `tail_hours`:00) local time.

    Wall-clock arithmetic in Europe/Amsterdam, so the tail ends at 06:00 on the clock also on
    the nights the clocks change."""
    return local_midnight(day), local_midnight(day + timedelta(days=1)) + timedelta(
        hours=tail_hours
    )


def is_nationwide_scope(scope: str) -> bool:
    """`NL`, `NL(RVO)` (or `Nederland`): a permit scope valid in every municipality (R21)."""
    return fold_name(scope) in NATIONWIDE_SCOPES


class LocalTimeError(ValueError):
    """A local time that does not exist or exists twice in Europe/Amsterdam (R39)."""


def localize(naive: datetime) -> datetime:
    """A wall-clock time in the Netherlands as an aware instant (R39).

    Raises `LocalTimeError` for a time the clocks skip (the last Sunday of March, 02:00-03:00)
    and for one they show twice (the last Sunday of October, 02:00-03:00) unless the time says
    which (`fold`); an offset in the input is the way to say which."""
    if naive.tzinfo is not None:
        return naive
    shown = naive.strftime("%Y-%m-%dT%H:%M")
    first = naive.replace(tzinfo=LOCAL_TZ, fold=0)
    second = naive.replace(tzinfo=LOCAL_TZ, fold=1)
    try:
        back = first.astimezone(UTC).astimezone(LOCAL_TZ).replace(tzinfo=None)
    except OverflowError:
        raise LocalTimeError(f"{shown} is outside the calendar") from None
    if back != naive.replace(fold=0):
        raise LocalTimeError(
            f"{shown} does not exist in the Netherlands: the clocks jump from 02:00 to 03:00 "
            f"on {naive.date().isoformat()} (summer time)"
        )
    if first.utcoffset() != second.utcoffset():
        early, late = (first.strftime("%z"), second.strftime("%z"))
        raise LocalTimeError(
            f"{shown} occurs twice in the Netherlands (the clocks go back from 03:00 to 02:00 "
            f"on {naive.date().isoformat()}): add the offset, "
            f"{early[:3]}:{early[3:]} or {late[:3]}:{late[3:]}"
        )
    return first


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
    doubt) via `leap_day_late`. An anniversary past the calendar's end is `date.max` (never)."""
    if day.year + years > MAXYEAR:
        return date.max
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1) if leap_day_late else date(day.year + years, 2, 28)


def fold_name(name: str) -> str:
    """Compare municipality names loosely: case, apostrophes, dashes and spaces ignored."""
    return "".join(ch for ch in name.casefold() if ch.isalnum() or ch in "()")
