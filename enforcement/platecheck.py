"""The public plate check: "may my van enter this zone, and until when?".

It answers with exactly the law and register the cameras use: `enforcement.law.decide` on
the vehicle and exemptions that `Register.lookup` returns, explained by the shared
formatter `enforcement.explain`. No rule is restated here; this module only chooses which
of the decision's facts a van owner needs (the rule behind the answer, automatic
vrijstellingen, ontheffingen one could apply for, the zone's dates).

Privacy: nothing here logs or stores the plate. The answer comes from the vehicle's register
facts and the zone's rules only. Registered ontheffingen are personal data of the keeper:
the answer may say that one allows access until a date, never its type, scope, reference or
the rule sentences about it; the health-related ones (R28, GDPR art. 9) are left out as if
none were registered. The logged-in case page shows officers everything.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from enforcement import plates
from enforcement.explain import explain
from enforcement.law import ONTHEFFING_RULES, PassageFacts, decide
from enforcement.messages import format_value, render
from enforcement.model import LOCAL_TZ, Decision, Exemption, Outcome, Vehicle, VehicleClass, Zone
from enforcement.register.protocol import Register

#: Rules that are automatic vrijstellingen or automatic ontheffingen (no application).
AUTOMATIC_RULES = frozenset({"R14", "R17", "R18", "R19"})

#: Ontheffingen one can apply for, by the vehicle classes they are open to (R22–R29).
APPLICABLE: tuple[tuple[str, frozenset[VehicleClass]], ...] = (
    ("dagontheffing", frozenset(VehicleClass)),
    ("bedrijfseconomisch", frozenset(VehicleClass)),
    ("netcongestie", frozenset(VehicleClass)),
    ("levertijd", frozenset(VehicleClass)),
    ("geen-ZE-alternatief", frozenset(VehicleClass)),
    ("aangepast-voertuig-handicap", frozenset({VehicleClass.VAN})),
    ("phev-vrachtauto", frozenset({VehicleClass.RIGID, VehicleClass.TRACTOR})),
)


#: Ontheffing types that reveal health data about the keeper (R28): the public answer is
#: given as if they were not registered, so it cannot tell whether one is.
HEALTH_ONTHEFFING_TYPES = frozenset(
    kind for kind, rule_id in ONTHEFFING_RULES.items() if rule_id == "R28"
)


DAY_PERMIT = "dagontheffing"


def public_exemptions(exemptions: Sequence[Exemption]) -> tuple[Exemption, ...]:
    """The registered ontheffingen the public answer may take into account (not R28)."""
    return tuple(e for e in exemptions if e.type not in HEALTH_ONTHEFFING_TYPES)


def shown_exemptions(
    exemptions: Sequence[Exemption], day: date, today: date
) -> tuple[tuple[Exemption, ...], bool]:
    """The exemptions an answer for local `day` may use, and whether day permits were left
    out. A day permit counts for today only: asked for every day of a month, the answers
    showed exactly which days a vehicle held one (issue 23); for any other day the answer is
    given as if none were registered."""
    if day == today:
        return tuple(exemptions), False
    kept = tuple(e for e in exemptions if e.type != DAY_PERMIT)
    return kept, len(kept) != len(exemptions)


_PLATE_TEXT = re.compile(r"[A-Za-z0-9 .\-]*")


class PlateInputError(ValueError):
    """The text is not a plate (empty, too long, no plate characters)."""


@dataclass(frozen=True, slots=True)
class ZoneAnswer:
    zone_id: str
    zone: str
    outcome: str
    """allowed / violation / out_of_scope / undetermined, as the camera would decide."""
    sentence: str
    """One plain sentence: the vehicle, the answer and until when."""
    headline: str
    """The shared formatter's headline (the same `zes decide` prints)."""
    allowed_until: str | None
    reasons: tuple[tuple[str, str], ...]
    """(rule id, sentence): the rules behind the answer."""
    automatic: tuple[str, ...]
    """Automatic vrijstellingen/ontheffingen that apply (no application needed)."""
    could_apply: tuple[str, ...]
    """Ontheffingen one could apply for (only when not allowed)."""
    zone_dates: str
    vehicle: str
    """The vehicle in a few words (class, emission class, first admission year)."""
    starts_on: str | None = None
    """The zone's first day, when it has not started on the day asked about."""


@dataclass(frozen=True, slots=True)
class PlateAnswer:
    plate: str
    """The plate as printed on the vehicle (dashes), e.g. `VX-123-B`."""
    status: str
    """found / unknown / foreign."""
    notice: str
    """A sentence for the whole answer: unknown plate, foreign plate, or the vehicle."""
    zones: tuple[ZoneAnswer, ...]
    notes: tuple[str, ...] = ()
    """Sentences about what the answer leaves out (day permits on another day than today)."""


def normalise_input(text: str) -> str:
    """Any common spelling (spaces, dashes, lower case) to the register's form."""
    if len(text) > 32:
        raise PlateInputError("too long for a licence plate")
    if not _PLATE_TEXT.fullmatch(text):
        raise PlateInputError("a licence plate has only letters, digits, spaces and dashes")
    plate = plates.normalise(text)
    if not 4 <= len(plate) <= 8:
        raise PlateInputError("not a licence plate")
    return plate


def vehicle_summary(vehicle: Vehicle, decision: Decision | None, lang: str) -> str:
    words = {
        VehicleClass.VAN: ("Bestelauto", "Van"),
        VehicleClass.RIGID: ("Vrachtauto", "Truck"),
        VehicleClass.TRACTOR: ("Trekker", "Tractor unit"),
    }
    cls = decision.vehicle_class if decision else None
    name = words[cls][lang != "nl"] if cls else (vehicle.kind or "?")
    facts = vehicle.facts  # the law's own reading of the fuel rows
    if facts.zero_emission:
        return render("pc_vehicle_ze", {"vehicle": name}, lang)
    year = vehicle.first_admission.year if vehicle.first_admission else "?"
    return render(
        "pc_vehicle", {"vehicle": name, "emission": facts.emission_class or "?", "year": year},
        lang,
    )  # fmt: skip


def _zone_dates(zone: Zone, lang: str, on: date | None = None) -> str:
    if zone.start is None:
        return render("no_zone", {"municipality": zone.municipality}, lang)
    future = on is not None and on < zone.start
    return render(
        "pc_zone_dates_future" if future else "pc_zone_dates",
        {"zone": zone.name, "start": zone.start, "warning": zone.last_warning_day or zone.start},
        lang,
    )


#: Rules that speak of a camera's passage, not of a vehicle owner's question: R38 (a
#: no-hit's data is deleted), R39 (decided on the passage's local time), R1's "this passage
#: is before the start". The public answer leaves them out.
_PASSAGE_ONLY = frozenset({("R38", "no_hit"), ("R39", "local_time"), ("R1", "zone_not_started")})


def _public_reasons(decision: Decision, lang: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        (hit.rule_id, hit.sentence_in(lang))
        for hit in decision.rules
        if (hit.rule_id, hit.key) not in _PASSAGE_ONLY
    )


def _sentence(
    summary: str, zone: Zone, decision: Decision, lang: str, *, by_exemption: bool = False
) -> str:
    args: dict[str, object] = {"summary": summary, "zone": zone.name}
    if by_exemption:
        return render("pc_access_exemption", {**args, "until": decision.allowed_until}, lang)
    if decision.outcome is Outcome.ALLOWED:
        if decision.allowed_until:
            return render("pc_access_until", {**args, "until": decision.allowed_until}, lang)
        return render("pc_access", args, lang)
    return render(f"pc_{decision.outcome.value}", args, lang)


#: The rules about registered ontheffingen (R21 validity, R22-R31 the types).
_ONTHEFFING_RULE_IDS = frozenset({"R21", "R31", *ONTHEFFING_RULES.values()})


def _facts_reasons(decision: Decision, lang: str) -> tuple[tuple[str, str], ...]:
    """The reasons of a decision an ontheffing settled, up to where the ontheffingen were
    looked at: what the vehicle's facts and the zone's rules said, no word of the permit."""
    reasons: list[tuple[str, str]] = []
    for hit in decision.rules:
        if hit.rule_id in _ONTHEFFING_RULE_IDS:
            break
        reasons.append((hit.rule_id, hit.sentence_in(lang)))
    return tuple(reasons)


def answer_zone(
    plate: str,
    vehicle: Vehicle | None,
    exemptions: Sequence[Exemption],
    zone: Zone,
    at: datetime,
    lang: str,
    *,
    country: str | None = None,
) -> ZoneAnswer:
    """The public answer for one zone. It is decided on the vehicle's facts alone; only
    when those do not give access does a registered (non-R28) ontheffing count, and then the
    answer says no more than "an exemption allows access until <date>": its reasons stay
    those of the vehicle's facts, which name no exemption."""
    facts = PassageFacts(plate=plate, country=country)
    if zone.start is not None and at.astimezone(LOCAL_TZ).date() < zone.start:
        return _not_started(plate, vehicle, exemptions, zone, at, lang, country=country)
    own = decide(at, zone, vehicle, (), facts=facts)
    decision, by_exemption = own, False
    registered = public_exemptions(exemptions)
    if own.outcome is not Outcome.ALLOWED and registered:
        covered = decide(at, zone, vehicle, registered, facts=facts)
        if covered.outcome is Outcome.ALLOWED and covered.exemption in registered:
            decision, by_exemption = covered, True
    explanation = explain(decision, zone, lang)
    summary = vehicle_summary(vehicle, decision, lang) if vehicle else plates.format_plate(plate)
    automatic = tuple(
        hit.sentence_in(lang)
        for hit in own.rules
        if hit.rule_id in AUTOMATIC_RULES and own.outcome is Outcome.ALLOWED
    )
    could_apply: tuple[str, ...] = ()
    if decision.outcome is Outcome.VIOLATION and decision.vehicle_class is not None:
        could_apply = tuple(
            render(f"pc_apply_{name}", {"max": zone.params.day_permit_max_per_year}, lang)
            for name, classes in APPLICABLE
            if decision.vehicle_class in classes
            and (name != "phev-vrachtauto" or (vehicle is not None and vehicle.facts.plugin_hybrid))
        )
    return ZoneAnswer(
        zone_id=zone.id,
        zone=zone.name,
        outcome=decision.outcome.value,
        sentence=_sentence(summary, zone, decision, lang, by_exemption=by_exemption),
        headline=explanation.headline,
        allowed_until=format_value(decision.allowed_until, lang)
        if decision.allowed_until
        else None,
        reasons=_facts_reasons(decision, lang) if by_exemption else _public_reasons(decision, lang),
        automatic=automatic,
        could_apply=could_apply,
        zone_dates=_zone_dates(zone, lang),
        vehicle=summary,
    )


def _not_started(
    plate: str,
    vehicle: Vehicle | None,
    exemptions: Sequence[Exemption],
    zone: Zone,
    at: datetime,
    lang: str,
    *,
    country: str | None,
) -> ZoneAnswer:
    """A zone that has not started: anyone may enter until then; what holds from its first
    day is the answer for that day (noon, Dutch time), said as what comes next."""
    assert zone.start is not None
    first_day = datetime.combine(zone.start, time(12), LOCAL_TZ)
    later = answer_zone(plate, vehicle, exemptions, zone, first_day, lang, country=country)
    facts = {"zone": zone.name, "start": zone.start, "later": later.sentence}
    sentence = render("pc_not_started", facts, lang)
    return ZoneAnswer(
        zone_id=zone.id,
        zone=zone.name,
        # As the camera decides today (R1: out of scope until the start), so this answer
        # cannot differ from theirs; the sentence says what that means and what comes next.
        outcome=Outcome.OUT_OF_SCOPE.value,
        sentence=sentence,
        headline=sentence,
        allowed_until=None,
        reasons=tuple(r for r in later.reasons if r[0] not in ("R1", "R39")),
        automatic=later.automatic,
        could_apply=later.could_apply,
        zone_dates=_zone_dates(zone, lang, at.astimezone(LOCAL_TZ).date()),
        vehicle=later.vehicle,
        starts_on=format_value(zone.start, lang),
    )


def check_plate(
    text: str,
    zones: Sequence[Zone],
    register: Register,
    *,
    at: datetime | None = None,
    country: str | None = None,
    lang: str = "nl",
    today: date | None = None,
) -> PlateAnswer:
    """The answer for one plate in the given zones at `at` (default: now, Dutch time).

    Day permits count only when `at` falls on `today` (default: the local date now).
    Raises `PlateInputError` for text that is no plate and `RegisterUnavailable` when the
    register cannot be asked (the caller says "try again later": never a guess)."""
    plate = normalise_input(text)
    at = at or datetime.now(LOCAL_TZ)
    today = today or datetime.now(LOCAL_TZ).date()
    shown = plates.format_plate(plate)
    if country not in (None, "NL"):
        answers = tuple(answer_zone(plate, None, (), z, at, lang, country=country) for z in zones)
        return PlateAnswer(shown, "foreign", render("pc_foreign", {"plate": shown}, lang), answers)
    view = register.lookup([plate], at=at)
    vehicle = view.vehicles.get(plate)
    if vehicle is None:
        return PlateAnswer(shown, "unknown", render("pc_unknown", {"plate": shown}, lang), ())
    day = at.astimezone(LOCAL_TZ).date()
    exemptions, _ = shown_exemptions(view.exemptions.get(plate, ()), day, today)
    answers = tuple(answer_zone(plate, vehicle, exemptions, z, at, lang) for z in zones)
    # Said for every other day, held or not: whether it is said must reveal nothing either.
    notes = (render("pc_day_permits_hidden", {}, lang),) if day != today else ()
    summary = answers[0].vehicle if answers else shown
    return PlateAnswer(shown, "found", summary, answers, notes)
