"""The ZE-zone law (RVV 1990 art. 86c-86e, rules R1-R39 of the rules spec) as one pure function.

`decide(...)` takes the facts of one passage - when, which zone, the register's vehicle (or
None when the plate is not in the register), the plate's exemptions, and what the camera knows
about the read - and returns a `Decision` with the rule ids that shaped it and the facts each
rule used. No I/O, no clock, no globals: the stream, the review app and the public plate check
call this same function, so they can never disagree.

Evaluation order (spec §3 as amended on 2026-12-06): R39 local time -> R1 zone active and
R1a direction -> R34 foreign plate -> R33 doubtful read / unknown plate -> R3/R2 scope -> R4
class -> R5 zero-emission -> R33 missing data -> R20 priority vehicle -> R17-R19 vrijstellingen
-> R7-R16 transitional access -> R21-R31 ontheffingen -> violation (R4's category cross-check,
R1a's unknown direction) -> R32/R37 sanction.

The amendments A1-A12 of the spec's §11, where the code carries each:
- A1 (R18: 145, 146, 147, 149; never 148): `LawParams.wheelchair_codes`.
- A2 (R1a): `_Evaluation.run` (leaving) and `_Evaluation.violation` (unknown direction).
- A3 (no fuel row and no class): `_Evaluation.doubt`.
- A4 (class Z beside a combustion fuel row): `ze_class_conflict`, `_Evaluation.zero_emission`.
- A5 (zero-emission whatever else is missing): `_Evaluation.doubt` and `_Evaluation.run`.
- A6 (category/mass conflict): `_Evaluation.classify` and `_Evaluation.cross_check`.
- A7, A8 (nationwide scopes): `_Evaluation.scope_malformed`.
- A9 (inclusive end dates): every "through" test compares the local date, and permits end
  at the next local midnight (`Exemption.for_dates`): both are half-open at that midnight.
- A10 (`READ_CONFIDENCE_MIN`): `LawParams.read_confidence_min`.
- A11 (a Bedrijfsauto camper above the van mass): `_Evaluation.run`.
- A12 (a granted day permit holds for its window): the law never reads when it was requested.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from enforcement.model import (
    LOCAL_TZ,
    Decision,
    Exemption,
    ExemptionStatus,
    Fuel,
    Outcome,
    RuleHit,
    Sanction,
    SanctionKind,
    Vehicle,
    VehicleClass,
    Zone,
    anniversary,
    end_of_day,
    is_nationwide_scope,
    parse_emission_class,
)
from enforcement.params import LawParams, TransitionDateField
from enforcement.plates import special_registration

#: ontheffing type key -> the rule that governs it (spec §10); other keys are R31.
ONTHEFFING_RULES: dict[str, str] = {
    "dagontheffing": "R22",
    "bijzonder-voertuig-kermis": "R23",
    "bijzonder-voertuig-verhuisauto": "R23",
    "bijzonder-voertuig-kraan": "R23",
    "bijzonder-voertuig-exceptioneel": "R23",
    "levertijd": "R24",
    "bedrijfseconomisch": "R25",
    "netcongestie": "R26",
    "geen-ZE-alternatief": "R27",
    "aangepast-voertuig-handicap": "R28",
    "phev-vrachtauto": "R29",
    "hardheidsclausule": "R30",
}

#: Fuels sometimes taken for clean ones; R6 says why they are not zero-emission.
ALTERNATIVE_FUELS = frozenset({"LPG", "CNG", "LNG", "Alcohol"})
#: Fuel rows that burn something (R5, R6): beside emission class Z they are a conflict (A4).
COMBUSTION_FUELS = frozenset({"Benzine", "Diesel", *ALTERNATIVE_FUELS})

BEDRIJFSAUTO = "Bedrijfsauto"
#: `inrichting` of a motorhome: a Bedrijfsauto camper above the van mass is in doubt (A11).
CAMPER = "kampeerwagen"


class PassageTimeError(ValueError):
    """The passage time cannot be evaluated: no offset, or outside the calendar (R39)."""


@dataclass(frozen=True, slots=True)
class PassageFacts:
    """What the camera side knows about a passage beyond its time and zone."""

    plate: str | None = None
    """Normalised plate as read; used for the special-registration test (R33)."""
    country: str | None = None
    """ISO 3166 alpha-2 country of the plate as read; None or NL means Dutch."""
    read_confidence: float | None = None
    """Confidence of the plate read (0..1); None when not known (e.g. a manual entry)."""
    priority_incident: bool = False
    """An incident log shows the vehicle drove with optical and sound signals (R20)."""
    direction_unknown: bool = False
    """The camera could not tell entering from leaving: a violation then needs a human (R1a)."""
    leaving: bool = False
    """The vehicle was leaving the zone: only entries are decided, so out of scope (R1a)."""


def decide(
    at: datetime,
    zone: Zone,
    vehicle: Vehicle | None,
    exemptions: Sequence[Exemption] = (),
    *,
    facts: PassageFacts = PassageFacts(),
    day_permits_used: int = 0,
    params: LawParams | None = None,
    explain: bool = True,
) -> Decision:
    """Decide one passage under the ZE-zone law.

    `day_permits_used` is the number of day-permit days the vehicle already used this calendar
    year in the zone's municipality, not counting the passage's own day (R22).
    `params` defaults to the zone's parameter set.
    `explain=False` skips collecting the rule hits (`Decision.rules` is empty); everything
    else is the same. The stream decides its 95% compliant traffic that way — only counters
    remain of those passages — and explains the rest.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise PassageTimeError(
            "passage time must be timezone-aware (R39: stored as UTC plus offset)"
        )
    p = params if params is not None else zone.params
    try:
        evaluation = _Evaluation(at.astimezone(LOCAL_TZ), zone, vehicle, exemptions, facts, p)
        evaluation.explain = explain
        return evaluation.run(day_permits_used)
    except OverflowError:
        # Only a date at the very ends of the calendar (year 1 or 9999) gets here: its local
        # time or a period around it has no date.
        raise PassageTimeError(
            f"passage time {at.isoformat()} is outside the calendar the law can evaluate"
        ) from None


def decide_plates(
    at: datetime,
    zone: Zone,
    plates: Sequence[str],
    vehicles: Mapping[str, Vehicle],
    exemptions: Mapping[str, Sequence[Exemption]],
    *,
    read_confidence: float | None = None,
) -> list[Decision]:
    """`decide` for many plates read at one moment, with the register facts of a batch
    lookup (demo, benchmarks, bulk checks)."""
    return [
        decide(
            at,
            zone,
            vehicles.get(plate),
            exemptions.get(plate, ()),
            facts=PassageFacts(plate=plate, read_confidence=read_confidence),
        )
        for plate in plates
    ]


class _Evaluation:
    """One run of the rules; collects the hits that explain the outcome."""

    def __init__(
        self,
        local: datetime,
        zone: Zone,
        vehicle: Vehicle | None,
        exemptions: Sequence[Exemption],
        facts: PassageFacts,
        params: LawParams,
    ) -> None:
        self.local = local
        self.day = local.date()
        self.zone = zone
        self.vehicle = vehicle
        self.exemptions = tuple(exemptions)
        self.facts = facts
        self.p = params
        self.hits: list[RuleHit] = []
        self.explain = True
        self.vehicle_class: VehicleClass | None = None
        self.class_conflict: VehicleClass | None = None
        """The class the EU category reads where it contradicts the mass (A6), else None."""
        self.day_permits_used = 0

    # -- helpers ---------------------------------------------------------------------------
    def hit(self, rule_id: str, key: str, **args: object) -> None:
        if self.explain:
            self.hits.append(RuleHit(rule_id, key, tuple(args.items())))

    def done(self, outcome: Outcome, **kwargs: object) -> Decision:
        if outcome in (Outcome.ALLOWED, Outcome.OUT_OF_SCOPE):
            self.hit("R38", "no_hit")
        return Decision(
            outcome=outcome,
            rules=tuple(self.hits),
            local_time=self.local,
            vehicle_class=self.vehicle_class,
            exemptions_considered=self.exemptions,
            **kwargs,  # type: ignore[arg-type]
        )

    def boundary(self, *days: date | None) -> None:
        """R39: say so when the decision hinges on the first or last day of a period."""
        for d in days:
            if d is not None and self.day in (d, d + timedelta(days=1)):
                self.hit("R39", "local_time", at=self.local)
                return

    # -- the rules ---------------------------------------------------------------------------
    def run(self, day_permits_used: int) -> Decision:
        self.day_permits_used = day_permits_used
        zone = self.zone
        if zone.start is None:
            self.hit("R1", "no_zone", municipality=zone.municipality)
            return self.done(Outcome.OUT_OF_SCOPE)
        if self.day < zone.start:
            self.hit("R1", "zone_not_started", zone=zone.name, start=zone.start)
            return self.done(Outcome.OUT_OF_SCOPE)
        if self.day == zone.start:
            self.hit("R1", "zone_first_day", zone=zone.name, start=zone.start)
            self.boundary(zone.start)
        if self.facts.leaving:
            # R1a (A2): only entries are decided; a leaving passage is a no-hit.
            self.hit("R1a", "leaving_zone", zone=zone.name)
            return self.done(Outcome.OUT_OF_SCOPE)

        country = (self.facts.country or "NL").upper()
        if country != "NL":
            self.hit("R34", "foreign_plate", country=country)
            return self.done(Outcome.OUT_OF_SCOPE)

        undetermined = self.doubt()
        if undetermined is not None:
            return undetermined
        vehicle = self.vehicle
        assert vehicle is not None  # doubt() checked
        if vehicle.kind is None:
            # A5: doubt() let a zero-emission vehicle through without its kind.
            return self.zero_emission(vehicle, missing="voertuigsoort")

        if vehicle.kind != BEDRIJFSAUTO:
            self.hit("R3", "not_in_scope", kind=vehicle.kind, body=vehicle.body or "")
            if vehicle.kind in {"Aanhangwagen", "Oplegger"}:
                self.hit("R3", "trailer_plate")
            return self.done(Outcome.OUT_OF_SCOPE)
        self.hit("R2", "in_scope")
        if (
            vehicle.body == CAMPER
            and vehicle.max_mass_kg is not None
            and vehicle.max_mass_kg > self.p.van_max_mass_kg
            and not self.is_zero_emission(vehicle)
        ):
            # A11: a Bedrijfsauto camper is in scope up to the van mass; above it, whether it
            # is a vrachtauto at all is in doubt. A zero-emission one is allowed either way.
            limit = self.p.van_max_mass_kg
            self.hit("R3", "camper_above_van_mass", mass=vehicle.max_mass_kg, limit=limit)
            self.hit("R33", "camper_in_doubt")
            return self.done(Outcome.UNDETERMINED)
        if vehicle.max_mass_kg is not None:
            self.classify(vehicle)  # also for ZE vehicles: the flow statistics count classes

        zero_emission = vehicle.zero_emission
        # A4: class Z beside a combustion fuel row; the register contradicts itself. One fuel
        # row with both is read as class Z (zero_emission), so only those and vehicles of
        # several rows need the look (most vehicles have one diesel or petrol row).
        if (zero_emission or len(vehicle.fuels) > 1) and ze_class_conflict(vehicle.fuels):
            self.hit("R5", "ze_class_conflict", fuels=_fuel_names(vehicle))
            self.hit("R33", "register_conflict_review")
            return self.done(Outcome.UNDETERMINED)
        if zero_emission:
            missing = (
                "toegestane maximum massa"
                if vehicle.max_mass_kg is None
                else "DET"
                if vehicle.first_admission is None
                else None
            )
            return self.zero_emission(vehicle, missing=missing)

        if vehicle.max_mass_kg is None or vehicle.first_admission is None:
            missing = "toegestane maximum massa" if vehicle.max_mass_kg is None else "DET"
            self.hit("R33", "missing_register_data", field=missing)
            return self.done(Outcome.UNDETERMINED)

        if vehicle.hybrid or any(f.name in ALTERNATIVE_FUELS for f in vehicle.fuels):
            self.hit("R6", "hybrid_not_ze", fuels=_fuel_names(vehicle))

        if self.facts.priority_incident:
            self.hit("R20", "priority_vehicle")
            self.hit("R36", "priority_review")
            return self.done(Outcome.ALLOWED)

        decided = self.access(vehicle)
        if decided is not None:
            return decided
        return self.violation(vehicle)

    def access(self, vehicle: Vehicle) -> Decision | None:
        """R17-R31 under the current class: allowed (or undetermined), or None for no access."""
        for check in (self.vrijstelling, self.transitional):
            allowed = check(vehicle)
            if allowed is not None:
                return allowed
        return self.ontheffingen(vehicle, self.day_permits_used)

    def is_zero_emission(self, vehicle: Vehicle) -> bool:
        """R5 with A4: zero-emission by its fuel rows or class Z, and no Z beside a
        combustion fuel row."""
        return vehicle.zero_emission and not ze_class_conflict(vehicle.fuels)

    def zero_emission(self, vehicle: Vehicle, missing: str | None) -> Decision:
        """R5: allowed, always, with no end date; A5: whatever else the register lacks."""
        self.hit("R5", "zero_emission", fuels=_fuel_names(vehicle))
        if missing is not None:
            self.hit("R5", "zero_emission_data_missing", field=missing)
        if self.day >= self.p.end_state_from:
            self.hit("R16", "end_state_ze_only", since=self.p.end_state_from)
        return self.done(Outcome.ALLOWED)

    def doubt(self) -> Decision | None:
        """R33: no automated decision on a doubtful read, a special plate or missing data."""
        confidence = self.facts.read_confidence
        if confidence is not None and confidence < self.p.read_confidence_min:
            self.hit(
                "R33", "low_confidence", confidence=confidence, minimum=self.p.read_confidence_min
            )
            return self.done(Outcome.UNDETERMINED)
        if self.facts.plate:
            plate = self.facts.plate
            if special_registration(plate) is not None:
                series = plate[:3] if plate[:3] in ("CDJ", "ZZZ") else plate[:2]
                self.hit("R33", "special_registration", series=series)
                return self.done(Outcome.UNDETERMINED)
        if self.vehicle is None:
            self.hit("R33", "not_in_register")
            return self.done(Outcome.UNDETERMINED)
        if self.vehicle.exported:
            self.hit("R33", "exported")
            return self.done(Outcome.UNDETERMINED)
        if self.vehicle.kind is None and not self.is_zero_emission(self.vehicle):
            # A5: a zero-emission vehicle is allowed whatever its kind; any other needs it.
            self.hit("R33", "missing_register_data", field="voertuigsoort")
            return self.done(Outcome.UNDETERMINED)
        if (
            self.vehicle.kind == BEDRIJFSAUTO
            and not self.vehicle.fuels
            and self.vehicle.emission_class is None
        ):
            # A3: without fuel rows or a class we cannot tell an electric van from a diesel one.
            self.hit("R33", "missing_register_data", field="brandstof")
            return self.done(Outcome.UNDETERMINED)
        return None

    def classify(self, vehicle: Vehicle) -> None:
        """R4: a van up to `van_max_mass_kg`; heavier is a truck, a tractor by `inrichting`
        or code BC. The mass decides (RVV 86c); the EU category is the cross-check: N1 is a
        van, N2/N3 a truck. Where the two disagree, `class_conflict` holds the category's
        reading, which `cross_check` weighs before any sanction (A6)."""
        assert vehicle.max_mass_kg is not None
        limit = self.p.van_max_mass_kg
        if vehicle.max_mass_kg <= limit:
            self.vehicle_class = VehicleClass.VAN
        else:
            self.vehicle_class = _truck_class(vehicle)
        self.hit("R4", f"class_{self.vehicle_class.value}", mass=vehicle.max_mass_kg, limit=limit)
        category = (vehicle.eu_category or "").strip().upper()
        if self.vehicle_class is VehicleClass.VAN and category in self.p.truck_eu_categories:
            self.class_conflict = _truck_class(vehicle)
        elif self.vehicle_class is not VehicleClass.VAN and category in self.p.van_eu_categories:
            self.class_conflict = VehicleClass.VAN
        if self.class_conflict is not None:
            self.hit("R4", "category_conflict", category=category, mass=vehicle.max_mass_kg)

    # -- R17-R19: vrijstellingen from register data ------------------------------------------
    def vrijstelling(self, vehicle: Vehicle) -> Decision | None:
        det = vehicle.first_admission
        assert det is not None
        last = self.p.vrijstelling_last_day
        candidates: list[tuple[str, str, date, dict[str, object]]] = []

        # R17: "40 years or more" - a 29 February DET counts from 28 February (favours the
        # vehicle, never fine on doubt).
        oldtimer_from = anniversary(det, self.p.oldtimer_years, leap_day_late=False)
        if oldtimer_from <= self.day:
            years = self.p.oldtimer_years
            candidates.append(("R17", "oldtimer", last, {"det": det, "years": years}))
        elif oldtimer_from <= self.day + timedelta(days=366):
            self.hit("R17", "oldtimer_not_yet", det=det, since=oldtimer_from)

        codes = set(vehicle.particularity_codes) & self.p.wheelchair_codes
        types = set(vehicle.body_type_codes) & self.p.wheelchair_body_type_codes
        if codes or types:
            code = ", ".join(sorted([*map(str, codes), *types]))
            candidates.append(("R18", "wheelchair", last, {"code": code}))

        if self.vehicle_class is not VehicleClass.VAN:
            body = (set(vehicle.body_codes) & self.p.special_body_codes) | (
                set(vehicle.body_type_codes) & self.p.special_body_type_codes
            )
            if body:
                until = min(self._special_body_last_day(det), last)
                code = ", ".join(sorted(body))
                candidates.append(("R19", "special_body", until, {"code": code, "det": det}))

        for rule_id, key, until, args in candidates:
            if self.day <= until:
                self.hit(rule_id, key, until=until, **args)
                self.boundary(until)
                return self.done(Outcome.ALLOWED, allowed_until=until)
            self.hit(rule_id, f"{key}_ended", until=until, **args)
            self.boundary(until)
        return None

    def _special_body_last_day(self, det: date) -> date:
        """Exempt while younger than 13 years: the day before the 13th anniversary of DET."""
        years = self.p.special_body_max_age_years
        return anniversary(det, years, leap_day_late=True) - timedelta(days=1)

    # -- R7-R16: transitional access by class and date ---------------------------------------
    def transitional(self, vehicle: Vehicle) -> Decision | None:
        det = vehicle.first_admission
        assert det is not None
        moment = det
        if self.p.transition_date_field is TransitionDateField.FIRST_NL_REGISTRATION:
            moment = vehicle.first_nl_registration or det
        if vehicle.first_nl_registration and vehicle.first_nl_registration != det:
            self.hit(
                "R11",
                "transition_date",
                det=det,
                nl=vehicle.first_nl_registration,
                used=moment,
            )
        euro = vehicle.facts.euro
        cutoff = self.p.new_vehicle_cutoff_det
        if cutoff - timedelta(days=31) <= moment < cutoff:
            self.hit("R10", "before_cutoff", det=moment, cutoff=cutoff)
        rule, key, until = self._transition_rule(moment, euro)
        args: dict[str, object] = {"det": moment, "euro": vehicle.emission_class or "-"}
        if rule == "R10":
            args["cutoff"] = cutoff  # its sentence says the cut-off rests on policy (§11)
        if until is not None and self.day <= until:
            self.hit(rule, key, until=until, **args)
            self.boundary(until)
            return self.done(Outcome.ALLOWED, allowed_until=until)
        if until is not None:
            self.hit(rule, f"{key}_ended", until=until, **args)
            self.boundary(until)
            if self.vehicle_class is not VehicleClass.VAN and rule != "R15":
                self.hit("R15", "truck_no_access_now", **args)
        else:
            self.hit(rule, key, **args)
        if self.day >= self.p.end_state_from:
            self.hit("R16", "end_state", since=self.p.end_state_from)
        return None

    def _transition_rule(self, moment: date, euro: int | None) -> tuple[str, str, date | None]:
        p = self.p
        if moment >= p.new_vehicle_cutoff_det:
            return "R10", "new_vehicle", None
        if self.vehicle_class is VehicleClass.VAN:
            if euro is None:
                return "R7", "van_no_class", None
            if euro <= 4:
                return "R7", "van_low_class", None
            if euro == 5:
                return "R8", "van_euro5", p.van_e5_last_day
            return "R9", "van_euro6", p.van_e6_last_day
        if euro is None or euro < 6:
            return "R15", "truck_low_class", None
        if self.vehicle_class is VehicleClass.TRACTOR:
            if moment >= p.tractor_det_from:
                return "R12", "tractor_euro6", p.truck_last_day
            self.hit("R12", "tractor_det_too_early", since=p.tractor_det_from, det=moment)
            return "R15", "truck_det_too_early", None
        if moment >= p.rigid_det_from:
            return "R13", "rigid_euro6", p.truck_last_day
        if moment >= p.rigid_2017_det_from:
            return "R14", "rigid_2017_2019", p.rigid_2017_2019_last_day
        return "R15", "truck_det_too_early", None

    # -- R21-R31: ontheffingen ---------------------------------------------------------------
    def ontheffingen(self, vehicle: Vehicle, day_permits_used: int) -> Decision | None:
        malformed = False
        for exemption in (*self.exemptions, *self._automatic_ontheffingen(vehicle)):
            rule_id = ONTHEFFING_RULES.get(exemption.type, "R31")
            reason = self._ontheffing_problem(exemption, rule_id, vehicle, day_permits_used)
            if reason is None:
                reason = self.scope_malformed(exemption, rule_id)
                malformed = malformed or reason is not None
            if reason is not None:
                key, args = reason
                if key.startswith("day_permit_"):
                    self.hit(rule_id, key, type=exemption.type, scope=exemption.scope, **args)
                else:
                    self.hit(rule_id, "ontheffing_considered", type=exemption.type)
                    self.hit("R21", key, type=exemption.type, scope=exemption.scope, **args)
                continue
            end = self._ontheffing_end(exemption, vehicle)
            until = (end - timedelta(microseconds=1)).astimezone(LOCAL_TZ).date()
            self.hit("R21", "ontheffing_valid", type=exemption.type, scope=exemption.scope)
            self.hit(rule_id, "ontheffing_allows", type=exemption.type, until=until)
            day = None
            if exemption.type == "dagontheffing" and exemption.starts_at is not None:
                day = exemption.starts_at.astimezone(LOCAL_TZ).date()
                if self.day > day:  # in the tail of the permit day (R22, R39)
                    self.hit(
                        "R39",
                        "day_permit_tail",
                        day=day,
                        at=self.local,
                        until=end.astimezone(LOCAL_TZ),
                    )
            if self.day >= self.p.end_state_from:
                self.hit("R16", "end_state_ontheffing", since=self.p.end_state_from)
            return self.done(
                Outcome.ALLOWED, allowed_until=until, exemption=exemption, day_permit_day=day
            )
        if malformed:
            # A8: a permit that would allow this passage but for its malformed scope: the
            # register must be corrected, and until then a person decides (R33).
            self.hit("R33", "malformed_permit")
            return self.done(Outcome.UNDETERMINED)
        return None

    def scope_malformed(
        self, exemption: Exemption, rule_id: str
    ) -> tuple[str, dict[str, object]] | None:
        """R21 (A7, A8): a nationwide scope is valid only for the national schemes (R14, R23)
        and for R25/R26 permits from 2026; on any other record it is malformed."""
        if not is_nationwide_scope(exemption.scope):
            return None
        p = self.p
        if rule_id not in p.nationwide_ontheffing_rules:
            return "nationwide_scope_malformed", {}
        if rule_id in p.nationwide_dated_rules:
            assert exemption.starts_at is not None  # _ontheffing_problem checked the period
            if exemption.starts_at.astimezone(LOCAL_TZ).date() < p.nationwide_dated_from:
                return "nationwide_scope_too_early", {"since": p.nationwide_dated_from}
        return None

    def _automatic_ontheffingen(self, vehicle: Vehicle) -> tuple[Exemption, ...]:
        """R23: the RVO grants kermis/circus trucks and heavy exceptional-transport tractors
        their ontheffing without an application; honour it where no record was loaded."""
        if not self.p.automatic_special_vehicle_ontheffing or vehicle.first_admission is None:
            return ()
        kind = None
        if vehicle.fairground and self.vehicle_class is not VehicleClass.VAN:
            kind = "bijzonder-voertuig-kermis"
        elif (
            self.vehicle_class is VehicleClass.TRACTOR
            and vehicle.axles is not None
            and vehicle.axles >= self.p.exceptional_transport_min_axles
        ):
            kind = "bijzonder-voertuig-exceptioneel"
        if kind is None or any(e.type == kind for e in self.exemptions):
            return ()
        last = min(
            self._special_body_last_day(vehicle.first_admission), self.p.vrijstelling_last_day
        )
        return (
            Exemption.for_dates(
                vehicle.plate, kind, "NL(RVO)", vehicle.first_admission, last, note="automatic"
            ),
        )

    def _ontheffing_end(self, exemption: Exemption, vehicle: Vehicle) -> datetime:
        """The permit's end, cut where the law caps its type (R23: 13 years, R23/R29: 2029).

        A day permit recorded by its day only (as a register that stores the permit day
        holds it) ends at local midnight; R22's window runs on to the tail on D+1."""
        assert exemption.ends_before is not None
        end = exemption.ends_before
        if exemption.type == "dagontheffing":
            local_end = end.astimezone(LOCAL_TZ)
            if local_end.time() == time(0):
                end = local_end + timedelta(hours=self.p.day_permit_tail_hours)
        if exemption.type in self.p.capped_ontheffing_types:
            end = min(end, end_of_day(self.p.vrijstelling_last_day))
        if exemption.type.startswith("bijzonder-voertuig-") and vehicle.first_admission:
            end = min(end, end_of_day(self._special_body_last_day(vehicle.first_admission)))
        return end

    def _ontheffing_problem(
        self, exemption: Exemption, rule_id: str, vehicle: Vehicle, day_permits_used: int
    ) -> tuple[str, dict[str, object]] | None:
        """Why a permit does not allow this passage (R21 and the type's own rule), or None."""
        if exemption.status is not ExemptionStatus.GRANTED:
            return "ontheffing_not_granted", {"status": exemption.status.value}
        if not self.zone.covers_scope(exemption.scope):
            return "ontheffing_wrong_scope", {"zone": self.zone.name}
        if exemption.starts_at is None or exemption.ends_before is None:
            return "ontheffing_no_period", {}
        if self.local < exemption.starts_at:
            return "ontheffing_not_started", {"start": exemption.starts_at.astimezone(LOCAL_TZ)}
        end = self._ontheffing_end(exemption, vehicle)
        if self.local >= end:
            last = (end - timedelta(microseconds=1)).astimezone(LOCAL_TZ)
            if rule_id == "R22":
                return "day_permit_ended", {"end": end.astimezone(LOCAL_TZ)}
            return "ontheffing_ended", {"last_day": last.date()}
        if rule_id == "R22":
            maximum = self.p.day_permit_max_per_year
            if (exemption.sequence is not None and exemption.sequence > maximum) or (
                day_permits_used >= maximum
            ):
                return "day_permit_limit", {"maximum": maximum}
            minimum = self.zone.day_permit_min_class
            euro = vehicle.facts.euro
            if minimum is not None and (euro is None or euro < minimum):
                return "day_permit_min_class", {"minimum": minimum}
        return None

    # -- the outcome of a failed test ---------------------------------------------------------
    def cross_check(self, vehicle: Vehicle, category_class: VehicleClass) -> Decision | None:
        """A6: the mass reading is a violation; the EU category reads the vehicle as
        `category_class`. Also no access under that reading: a violation either way, and the
        explanation names the conflict. Otherwise which class applies decides between a fine
        and none: undetermined (R33)."""
        other = _Evaluation(self.local, self.zone, vehicle, self.exemptions, self.facts, self.p)
        other.explain = self.explain
        other.vehicle_class = category_class
        other.day_permits_used = self.day_permits_used
        reading = other.access(vehicle)
        category = (vehicle.eu_category or "").strip().upper()
        if reading is None:
            rule = _decisive_rule(other.hits, _TRANSITIONAL)
            self.hit("R4", "category_reading_agrees", category=category,
                     reading=category_class.value, rule=rule)  # fmt: skip
            return None
        rule = _decisive_rule(other.hits)
        self.hit("R4", "category_reading_differs", category=category,
                 reading=category_class.value, rule=rule)  # fmt: skip
        self.hit("R33", "class_conflict")
        return self.done(Outcome.UNDETERMINED)

    def violation(self, vehicle: Vehicle) -> Decision:
        if self.class_conflict is not None:
            undetermined = self.cross_check(vehicle, self.class_conflict)
            if undetermined is not None:
                return undetermined
        if self.facts.direction_unknown:
            # R1a (A2): only an entry is an offence; without a known direction nobody is fined.
            self.hit("R33", "direction_unknown")
            return self.done(Outcome.UNDETERMINED)
        last_warning = self.zone.last_warning_day
        if last_warning is not None and self.day <= last_warning:
            self.hit("R32", "warning_period", until=last_warning)
            self.boundary(last_warning)
            sanction = Sanction(SanctionKind.WARNING)
        else:
            if last_warning is not None:
                self.hit("R32", "warning_period_over", until=last_warning)
            amounts = self.p.fine_for(self.day)
            if amounts is None:
                sanction = Sanction(SanctionKind.WARNING)
            else:
                amount = (
                    amounts.van_eur if self.vehicle_class is VehicleClass.VAN else amounts.truck_eur
                )
                self.hit("R37", "fine", amount=amount, admin=amounts.admin_costs_eur)
                sanction = Sanction(SanctionKind.FINE, amount, amounts.admin_costs_eur)
        self.hit("R36", "review_before_sanction")
        return self.done(Outcome.VIOLATION, sanction=sanction)


def _truck_class(vehicle: Vehicle) -> VehicleClass:
    """R4: a truck is a tractor unit by `inrichting` or body type BC, else a rigid."""
    if vehicle.body == "opleggertrekker" or "BC" in vehicle.body_type_codes:
        return VehicleClass.TRACTOR
    return VehicleClass.RIGID


#: Rules that only annotate a decision; `_decisive_rule` looks past them.
_ANNOTATIONS = frozenset({"R11", "R16", "R21", "R36", "R38", "R39"})
#: The transitional rules (R7-R15): one of them denies access when nothing else allows.
_TRANSITIONAL = frozenset({"R7", "R8", "R9", "R10", "R12", "R13", "R14", "R15"})


def _decisive_rule(hits: Sequence[RuleHit], among: frozenset[str] | None = None) -> str:
    """The rule that decided a reading: the last one that is no mere annotation (or the
    last of `among`)."""
    for hit in reversed(hits):
        if hit.rule_id in among if among is not None else hit.rule_id not in _ANNOTATIONS:
            return hit.rule_id
    return "-"


@functools.lru_cache(maxsize=4096)
def ze_class_conflict(fuels: tuple[Fuel, ...]) -> bool:
    """A4: a fuel row with emission class Z beside a row naming a combustion fuel. The class
    is stored per fuel row, so a Z on any row must never let a plug-in hybrid through.
    Cached per fuel tuple, as `vehicle_facts` is."""
    z_class = combustion = False
    for fuel in fuels:
        combustion = combustion or fuel.name in COMBUSTION_FUELS
        if fuel.emission_class and not z_class:
            with contextlib.suppress(ValueError):  # unreadable text is no class Z
                z_class = parse_emission_class(fuel.emission_class) == "Z"
    return z_class and combustion


def _fuel_names(vehicle: Vehicle) -> str:
    return "+".join(f.name for f in vehicle.fuels) or "-"


def passage_key(facts: PassageFacts, params: LawParams) -> tuple[object, ...]:
    """What `decide` reads of a passage's read (`PassageFacts`), as it uses it: the read
    confidence only against the minimum (R33), the plate only for the special-registration
    test (R33). For memoising decisions per kind of passage: two reads with the same key are
    decided alike."""
    plate = facts.plate
    confidence = facts.read_confidence
    return (
        facts.country,
        confidence is not None and confidence < params.read_confidence_min,
        bool(plate) and special_registration(plate or "") is not None,
        facts.priority_incident,
        facts.direction_unknown,
        facts.leaving,
    )


def _mass_band(mass: int | None, params: LawParams) -> bool | None:
    return None if mass is None else mass <= params.van_max_mass_kg


#: Vehicle facts the rules compare only with a bound, by the band a value falls in under a
#: zone's parameters: a memo of decisions keys them by band (R4: the mass only against the
#: van maximum).
DECISION_BANDS: Mapping[str, Callable[[Any, LawParams], Hashable]] = {"max_mass_kg": _mass_band}
