"""The policy's own decision on an application: a pure function, with its sentence.

Where the policy file and the register facts settle an application, nobody needs to look at
it: the vehicle is already allowed (the law, decided without any exemption, lets it in for
the whole period), it is below the municipality's minimum class, the period is longer than
the type allows or already past, the yearly maximum is reached, the vehicle class is not one
the type is for, or the trips stated are too few. Where they do not (an unknown plate, a
doubtful register answer, a type an officer decides), the application goes to the queue.
The law is the cameras' (`enforcement.law.decide`), so the desk cannot call a vehicle
"already allowed" that a camera would fine.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time

from enforcement.exemptions.policy import ExemptionType, MunicipalPolicy
from enforcement.law import decide
from enforcement.messages import format_value, language
from enforcement.model import LOCAL_TZ, Outcome, Vehicle, VehicleClass, Zone

__all__ = [
    "Application",
    "Assessment",
    "Verdict",
    "assess",
    "fee_cents",
    "sentence",
]


class Verdict(enum.StrEnum):
    GRANTED = "granted"
    """Every check passed and the type is granted automatically."""
    REFUSED = "refused"
    """A check failed: the sentence says which."""
    REVIEW = "review"
    """An officer decides (the queue)."""


@dataclass(frozen=True, slots=True)
class Application:
    """What the applicant asked for: no more than the decision needs (no name, no address)."""

    plate: str
    """Normalised (`VX123B`)."""
    type_key: str
    first_day: date
    last_day: date
    """Inclusive."""
    trips_per_year: int | None = None

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


@dataclass(frozen=True, slots=True)
class Assessment:
    verdict: Verdict
    code: str
    """The reason code: a key of `SENTENCES`."""
    args: Mapping[str, object] = field(default_factory=dict)

    def sentence(self, lang: str) -> str:
        return sentence(self.code, self.args, lang)


SENTENCES: dict[str, dict[str, str]] = {
    "nl": {
        "type_unknown": "Deze gemeente verleent geen ontheffing van het type {type}.",
        "period_past": "De gevraagde periode begint vóór vandaag; een ontheffing geldt niet "
        "met terugwerkende kracht.",
        "period_too_long": "{type} geldt ten hoogste {max} dag(en); u vroeg {days} dagen.",
        "plate_unknown": "Het kenteken staat niet in het RDW-register; een medewerker "
        "beoordeelt de aanvraag.",
        "register_unavailable": "Het register was niet bereikbaar; een medewerker beoordeelt "
        "de aanvraag.",
        "class_not_eligible": "{type} is niet bedoeld voor een {vehicle}.",
        "already_allowed": "Dit voertuig mag de zone in de hele gevraagde periode al in "
        "zonder ontheffing.",
        "not_in_scope": "De zero-emissiezone geldt in de gevraagde periode niet voor dit "
        "voertuig; een ontheffing is niet nodig.",
        "below_min_class": "{type} wordt in deze gemeente alleen verleend vanaf emissieklasse "
        "{minimum}; dit voertuig heeft {actual}.",
        "too_few_trips": "{type} is voor wie ten minste {minimum} ritten per jaar in de zone "
        "maakt; u gaf {trips} op.",
        "trips_missing": "Voor {type} is het aantal ritten per jaar nodig.",
        "year_limit": "Dit voertuig heeft in {year} al {used} keer {type} gekregen in deze "
        "gemeente (ten hoogste {max}).",
        "policy_grant": "Alle voorwaarden van het beleid zijn vervuld; de ontheffing is verleend.",
        "officer_review": "Een medewerker van de gemeente beoordeelt de aanvraag.",
        "undetermined": "De registergegevens laten geen automatisch besluit toe; een "
        "medewerker beoordeelt de aanvraag.",
        "officer_grant": "Een medewerker van de gemeente heeft de ontheffing verleend.",
        "officer_evidence_missing": "De gevraagde bewijsstukken ontbreken of zijn onvoldoende.",
        "officer_conditions_not_met": "De aanvraag voldoet niet aan de voorwaarden van het beleid.",
        "officer_alternative_available": "Er is een redelijk alternatief (bijvoorbeeld een "
        "emissieloos voertuig, huur of een hub).",
        "officer_other": "De aanvraag is geweigerd; de toelichting staat hieronder.",
    },
    "en": {
        "type_unknown": "This municipality does not grant exemptions of the type {type}.",
        "period_past": "The period asked for starts before today; an exemption does not apply "
        "retroactively.",
        "period_too_long": "{type} is valid for at most {max} day(s); you asked for {days} days.",
        "plate_unknown": "The plate is not in the RDW register; an officer will assess the "
        "application.",
        "register_unavailable": "The register could not be reached; an officer will assess the "
        "application.",
        "class_not_eligible": "{type} is not meant for a {vehicle}.",
        "already_allowed": "This vehicle may already enter the zone during the whole period "
        "without an exemption.",
        "not_in_scope": "The zero-emission zone does not apply to this vehicle in the period "
        "asked for; no exemption is needed.",
        "below_min_class": "{type} is granted in this municipality only from emission class "
        "{minimum}; this vehicle has {actual}.",
        "too_few_trips": "{type} is for those who make at least {minimum} trips a year into "
        "the zone; you stated {trips}.",
        "trips_missing": "{type} needs the number of trips a year.",
        "year_limit": "This vehicle already received {type} {used} times in {year} in this "
        "municipality (at most {max}).",
        "policy_grant": "Every condition of the policy is met; the exemption is granted.",
        "officer_review": "An officer of the municipality will assess the application.",
        "undetermined": "The register facts allow no automatic decision; an officer will "
        "assess the application.",
        "officer_grant": "An officer of the municipality granted the exemption.",
        "officer_evidence_missing": "The documents asked for are missing or insufficient.",
        "officer_conditions_not_met": "The application does not meet the policy's conditions.",
        "officer_alternative_available": "A reasonable alternative exists (for instance a "
        "zero-emission vehicle, rental or a hub).",
        "officer_other": "The application was refused; the explanation is below.",
    },
}

_VEHICLE_WORDS = {
    VehicleClass.VAN: ("bestelauto", "van"),
    VehicleClass.RIGID: ("vrachtauto", "truck"),
    VehicleClass.TRACTOR: ("trekker", "tractor unit"),
}


def sentence(code: str, args: Mapping[str, object], lang: str) -> str:
    """The sentence for a reason code in `lang`; a type is named in that language."""
    lang = language(lang)
    values: dict[str, str] = {}
    for key, value in args.items():
        if isinstance(value, dict):
            values[key] = str(value.get(lang) or value.get("nl") or "")
        elif key == "vehicle" and value in set(VehicleClass):
            values[key] = _VEHICLE_WORDS[VehicleClass(str(value))][lang != "nl"]
        else:
            values[key] = format_value(value, lang)
    return SENTENCES[lang][code].format(**values)


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), LOCAL_TZ)


def fee_cents(kind: ExemptionType, vehicle: Vehicle | None) -> int:
    """The leges for a grant of `kind` to this vehicle (the ZE reduction when it is one)."""
    return kind.fee.cents_for(vehicle is not None and vehicle.facts.zero_emission)


def _law_without_exemption(
    application: Application, vehicle: Vehicle, zones: Sequence[Zone]
) -> tuple[str | None, VehicleClass | None]:
    """What the law says without any exemption on the first and last day in every zone of
    the municipality: `already_allowed`, `not_in_scope`, `undetermined` or None (needed)."""
    outcomes: set[Outcome] = set()
    vehicle_class: VehicleClass | None = None
    for zone in zones:
        for day in {application.first_day, application.last_day}:
            decision = decide(_noon(day), zone, vehicle, ())
            vehicle_class = vehicle_class or decision.vehicle_class
            if (
                decision.outcome is Outcome.ALLOWED
                and decision.allowed_until is not None
                and decision.allowed_until < application.last_day
            ):
                # Allowed today, but not through the period: the exemption is needed.
                outcomes.add(Outcome.VIOLATION)
                continue
            outcomes.add(decision.outcome)
    if not outcomes:
        return "not_in_scope", vehicle_class
    if Outcome.UNDETERMINED in outcomes:
        return "undetermined", vehicle_class
    if Outcome.VIOLATION in outcomes:
        return None, vehicle_class
    if Outcome.ALLOWED in outcomes:
        return "already_allowed", vehicle_class
    return "not_in_scope", vehicle_class


def assess(
    policy: MunicipalPolicy,
    application: Application,
    vehicle: Vehicle | None,
    zones: Sequence[Zone],
    *,
    today: date,
    granted_this_year: int,
    register_up: bool = True,
) -> Assessment:
    """The policy's decision on `application` (see the module text for the order).

    `zones` are the municipality's zones; `granted_this_year` counts the grants of this type
    for the plate in this municipality in the first day's year (the register's, so grants of
    the national desk count too); `register_up` False means the register could not be asked
    (never a refusal on doubt: an officer decides)."""
    kind = policy.types.get(application.type_key)
    if kind is None:
        return Assessment(Verdict.REFUSED, "type_unknown", {"type": application.type_key})
    name = {"nl": kind.name.nl, "en": kind.name.en}
    if application.first_day < today:
        return Assessment(Verdict.REFUSED, "period_past")
    if application.days > kind.max_days:
        return Assessment(
            Verdict.REFUSED,
            "period_too_long",
            {"type": name, "max": kind.max_days, "days": application.days},
        )
    if kind.min_trips_per_year is not None:
        if application.trips_per_year is None:
            return Assessment(Verdict.REFUSED, "trips_missing", {"type": name})
        if application.trips_per_year < kind.min_trips_per_year:
            return Assessment(
                Verdict.REFUSED,
                "too_few_trips",
                {"type": name, "minimum": kind.min_trips_per_year,
                 "trips": application.trips_per_year},
            )  # fmt: skip
    if not register_up:
        return Assessment(Verdict.REVIEW, "register_unavailable")
    if vehicle is None:
        return Assessment(Verdict.REVIEW, "plate_unknown")
    answer, vehicle_class = _law_without_exemption(application, vehicle, zones)
    if answer in ("already_allowed", "not_in_scope"):
        return Assessment(Verdict.REFUSED, answer)
    if vehicle_class is not None and vehicle_class not in kind.vehicle_classes:
        return Assessment(
            Verdict.REFUSED, "class_not_eligible", {"type": name, "vehicle": vehicle_class}
        )
    if kind.min_emission_class is not None:
        euro = vehicle.facts.euro
        if euro is None or euro < kind.min_emission_class:
            return Assessment(
                Verdict.REFUSED,
                "below_min_class",
                {"type": name, "minimum": kind.min_emission_class,
                 "actual": vehicle.facts.emission_class or "-"},
            )  # fmt: skip
    if kind.max_per_year is not None and granted_this_year >= kind.max_per_year:
        return Assessment(
            Verdict.REFUSED,
            "year_limit",
            {"type": name, "used": granted_this_year, "max": kind.max_per_year,
             "year": application.first_day.year},
        )  # fmt: skip
    if answer == "undetermined":
        return Assessment(Verdict.REVIEW, "undetermined")
    if kind.automatic_grant and not kind.four_eyes:
        return Assessment(Verdict.GRANTED, "policy_grant")
    return Assessment(Verdict.REVIEW, "officer_review")
