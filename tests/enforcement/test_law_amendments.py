"""The spec's amendments of 2026-12-06 (rules spec §11, A1-A12 and the "—" rows): one test per
amendment, named after it. Where an amendment changed what the law does, its test failed on
the law before it (issue 21 item 6); where it only wrote down what the law already did (A1,
A3, A9, A12 and R20), the test pins that."""

# The tests carry the spec's ids as written (A6, R10), so a reader finds the amendment's test.
# ruff: noqa: N802

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path

import msgspec
import pytest

from enforcement.explain import explain
from enforcement.law import PassageFacts
from enforcement.model import (
    LOCAL_TZ,
    Decision,
    Exemption,
    Fuel,
    Outcome,
    SanctionKind,
    Vehicle,
    VehicleClass,
)
from enforcement.params import LawParams
from enforcement.register.exemption_files import parse_scenario_exemption
from enforcement.settings import load_law, load_settings
from tests.enforcement.law_cases import PLATE, UTRECHT, at, keys, run, zone

COMBUSTION = ("Diesel", "Benzine", "LPG", "CNG", "LNG", "Alcohol")


def vehicle(
    euro: str | None = "4",
    det: date | None = date(2010, 2, 1),
    mass: int | None = 3000,
    eu: str | None = "N1",
    fuels: tuple[Fuel, ...] | None = None,
    kind: str | None = "Bedrijfsauto",
    **kw: object,
) -> Vehicle:
    """A Bedrijfsauto (by default a Euro 4 diesel van of 2010: a violation everywhere)."""
    return Vehicle(
        plate=PLATE,
        kind=kind,
        max_mass_kg=mass,
        eu_category=eu,
        first_admission=det,
        fuels=fuels if fuels is not None else (Fuel("Diesel", euro),),
        **kw,  # type: ignore[arg-type]
    )


OLD_VAN = vehicle()


def text(decision: Decision, lang: str = "en") -> str:
    return " ".join(decision.reasons(lang))


def permit(spec: str) -> Exemption:
    return parse_scenario_exemption(PLATE, spec)


# -- A1: R18 wheelchair codes 145, 146, 147, 149; never 148 ----------------------------------
def test_A1_wheelchair_codes_are_145_146_147_149_and_never_148() -> None:
    for code in (145, 146, 147, 149):
        decision = run(at("2026-06-01"), vehicle(particularity_codes=(code,)))
        assert decision.outcome is Outcome.ALLOWED and "R18" in decision.rule_ids, code
    decision = run(at("2026-06-01"), vehicle(particularity_codes=(148,)))
    assert decision.outcome is Outcome.VIOLATION and "R18" not in decision.rule_ids
    assert 148 not in LawParams().wheelchair_codes


# -- A2: R1a, the direction of travel -------------------------------------------------------------
def test_A2_leaving_is_out_of_scope_before_any_doubt_and_unknown_only_stops_a_fine() -> None:
    leaving = PassageFacts(plate=PLATE, leaving=True)
    # Only entries are decided: an unknown plate, a doubtful read, a compliant vehicle and a
    # foreign plate that leave the zone are all out of scope (R1a), never a case.
    for what, facts in (
        (None, leaving),
        (OLD_VAN, dataclasses.replace(leaving, read_confidence=0.4)),
        (vehicle(euro="6", det=date(2019, 6, 1)), leaving),
        (OLD_VAN, dataclasses.replace(leaving, country="DE")),
    ):
        decision = run(at("2026-06-01"), what, facts=facts)
        assert decision.outcome is Outcome.OUT_OF_SCOPE, (what, facts)
        assert "R1a" in decision.rule_ids and "R33" not in decision.rule_ids
        assert "R38" in decision.rule_ids  # a no-hit: deleted at once
    # Unknown: evaluated as an entry; a would-be violation becomes undetermined, the rest stand.
    unknown = PassageFacts(plate=PLATE, direction_unknown=True)
    assert run(at("2026-06-01"), OLD_VAN, facts=unknown).outcome is Outcome.UNDETERMINED
    clean = vehicle(euro="6", det=date(2019, 6, 1))
    assert run(at("2026-06-01"), clean, facts=unknown).outcome is Outcome.ALLOWED
    car = vehicle(kind="Personenauto", eu="M1")
    assert run(at("2026-06-01"), car, facts=unknown).outcome is Outcome.OUT_OF_SCOPE


# -- A3: no fuel row and no class -------------------------------------------------------------
def test_A3_no_fuel_row_and_no_class_is_undetermined() -> None:
    decision = run(at("2026-06-01"), vehicle(fuels=()))
    assert decision.outcome is Outcome.UNDETERMINED and "missing_register_data" in keys(decision)
    assert dict(decision.rules[-1].args)["field"] == "brandstof"
    # A class without a described fuel is a register fact of its own: decided by it.
    assert run(at("2026-06-01"), vehicle(fuels=(Fuel("", "4"),))).outcome is Outcome.VIOLATION


# -- A4: class Z beside a combustion fuel row ----------------------------------------------------
@pytest.mark.parametrize(
    "fuels",
    [
        (Fuel("Diesel", "Z"),),
        (Fuel("Benzine", "Z", "OVC-HEV"), Fuel("Elektriciteit", None, "OVC-HEV")),
        # The class is stored per fuel row: a Z on the electric row must not let the plug-in
        # hybrid through, nor may its Euro 6 petrol row decide it as if the Z were not there.
        (Fuel("Elektriciteit", "Z", "OVC-HEV"), Fuel("Benzine", "6", "OVC-HEV")),
        (Fuel("Benzine", "6", "OVC-HEV"), Fuel("Elektriciteit", "Z", "OVC-HEV")),
        *((Fuel(name, "Z"), Fuel("Elektriciteit")) for name in COMBUSTION),
    ],
    ids=lambda fuels: "+".join(f"{f.name}:{f.emission_class}" for f in fuels),
)
def test_A4_class_z_beside_a_combustion_fuel_is_undetermined_for_data_review(
    fuels: tuple[Fuel, ...],
) -> None:
    decision = run(at("2026-06-01"), vehicle(euro=None, det=date(2021, 5, 1), fuels=fuels))
    assert decision.outcome is Outcome.UNDETERMINED
    assert {"R5", "R33"} <= set(decision.rule_ids) and "ze_class_conflict" in keys(decision)
    assert "flagged for data review" in text(decision)
    assert "gemeld voor controle van de gegevens" in text(decision, "nl")
    # Class Z with only clean rows (or a row whose fuel is not described) is zero-emission.
    for clean in ((Fuel("Elektriciteit", "Z"),), (Fuel("", "Z"),), (Fuel("Waterstof", "Z"),)):
        assert run(at("2026-06-01"), vehicle(fuels=clean)).outcome is Outcome.ALLOWED


# -- A5: zero-emission whatever else is missing --------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "field"),
    [({"mass": None}, "toegestane maximum massa"), ({"det": None}, "DET"),
     ({"kind": None}, "voertuigsoort"), ({"mass": None, "det": None, "eu": None}, None)],
)  # fmt: skip
def test_A5_a_zero_emission_vehicle_is_allowed_whatever_is_missing(
    changes: dict[str, object], field: str | None
) -> None:
    electric = vehicle(fuels=(Fuel("Elektriciteit"),), **changes)  # type: ignore[arg-type]
    decision = run(at("2026-06-01"), electric)
    assert decision.outcome is Outcome.ALLOWED and "R5" in decision.rule_ids
    assert "R33" not in decision.rule_ids
    if field is not None:
        assert "zero_emission_data_missing" in keys(decision) and field in text(decision)
    # The same gap in a diesel's register data is R33: it could change the outcome.
    diesel = vehicle(**changes)  # type: ignore[arg-type]
    assert run(at("2026-06-01"), diesel).outcome is Outcome.UNDETERMINED


# -- A6: the EU category contradicts the mass ------------------------------------------------------
def test_A6_van_by_mass_truck_by_category_both_violations_is_a_violation() -> None:
    """Issue 21: a Bedrijfsauto N3 of 3,000 kg, Diesel class 4, is a violation as a van (R7)
    and as a truck (R15)."""
    decision = run(at("2026-06-01"), vehicle(eu="N3"))
    assert decision.outcome is Outcome.VIOLATION
    assert decision.vehicle_class is VehicleClass.VAN  # the mass decides in law
    assert {"category_conflict", "category_reading_agrees"} <= keys(decision)
    assert decision.sanction.kind is SanctionKind.FINE and decision.sanction.amount_eur == 120
    assert "EU category N3 as a rigid truck" in text(decision) and "(R15)" in text(decision)
    assert "als bakwagen" in text(decision, "nl")


def test_A6_truck_by_mass_van_by_category_both_violations_is_a_violation() -> None:
    """Issue 21: N1 of 3,501 kg, DET 2025-02-01, is a violation under R10 either way."""
    new = vehicle(euro="6", det=date(2025, 2, 1), mass=3501, eu="N1")
    decision = run(at("2026-06-01"), new)
    assert decision.outcome is Outcome.VIOLATION
    assert decision.vehicle_class is VehicleClass.RIGID
    assert {"category_conflict", "category_reading_agrees"} <= keys(decision)
    assert decision.sanction.amount_eur == 310
    assert "as a van" in text(decision) and "(R10)" in text(decision)


def test_A6_van_by_mass_truck_by_category_readings_differ_is_undetermined() -> None:
    """As a van: Euro 6 access ended with 2028 (R9); as a rigid of 2021: allowed through 2029
    (R13)."""
    euro6 = vehicle(euro="6", det=date(2021, 3, 1), eu="N2")
    decision = run(at("2029-06-01"), euro6)
    assert decision.outcome is Outcome.UNDETERMINED
    assert {"category_reading_differs", "class_conflict"} <= keys(decision)
    assert decision.sanction.kind is SanctionKind.NONE and "(R13)" in text(decision)
    # A special body exempts trucks only (R19): the truck reading allows it.
    mixer = vehicle(eu="N3", body_codes=("15",), det=date(2018, 1, 1))
    assert run(at("2026-06-01"), mixer).outcome is Outcome.UNDETERMINED


def test_A6_truck_by_mass_van_by_category_readings_differ_is_undetermined() -> None:
    """As a rigid first admitted in 2016: no access (R15); as a Euro 6 van: allowed (R9)."""
    rigid = vehicle(euro="6", det=date(2016, 6, 1), mass=3600, eu="N1")
    decision = run(at("2026-06-01"), rigid)
    assert decision.outcome is Outcome.UNDETERMINED
    assert {"category_reading_differs", "class_conflict"} <= keys(decision)
    assert "(R9)" in text(decision)


@pytest.mark.parametrize(
    ("what", "when"),
    [(vehicle(euro="6", det=date(2019, 6, 1), eu="N2"), "2026-06-01"),  # van R9
     (vehicle(euro="6", det=date(2021, 3, 1), mass=3600, eu="N1"), "2029-06-01"),  # rigid R13
     (vehicle(mass=18000, eu="N1", particularity_codes=(146,)), "2026-06-01")],  # R18
    ids=["van-by-mass", "truck-by-mass", "vrijstelling"],
)  # fmt: skip
def test_A6_a_mass_reading_that_allows_stays_allowed(what: Vehicle, when: str) -> None:
    decision = run(at(when), what)
    assert decision.outcome is Outcome.ALLOWED and "category_conflict" in keys(decision)
    assert "class_conflict" not in keys(decision)


def test_A6_agreeing_readings_with_an_unknown_direction_still_need_a_person() -> None:
    decision = run(at("2026-06-01"), vehicle(eu="N3"), facts=PassageFacts(direction_unknown=True))
    assert decision.outcome is Outcome.UNDETERMINED and "direction_unknown" in keys(decision)


# -- A7: a 2025 municipal R25/R26 permit stays municipal ------------------------------------------
def test_A7_a_2025_business_permit_stays_municipal_and_nl_starts_in_2026() -> None:
    municipal = permit("bedrijfseconomisch|Utrecht|2025-06-01|2026-05-31")
    assert run(at("2026-03-02"), OLD_VAN, municipal).outcome is Outcome.ALLOWED
    elsewhere = run(at("2026-03-02"), OLD_VAN, municipal, where=zone("Amsterdam"))
    assert elsewhere.outcome is Outcome.VIOLATION and "ontheffing_wrong_scope" in keys(elsewhere)
    # Nationwide only for a record from 2026 on (the renewal is a new record).
    for kind in ("bedrijfseconomisch", "netcongestie"):
        early = run(at("2026-03-02"), OLD_VAN, permit(f"{kind}|NL|2025-06-01|2026-05-31"))
        assert early.outcome is Outcome.UNDETERMINED, kind
        assert "nationwide_scope_too_early" in keys(early) and "1 January 2026" in text(early)
        renewal = permit(f"{kind}|NL|2026-01-15|2027-01-14")
        for name in ("Utrecht", "Amsterdam", "Rotterdam"):
            decision = run(at("2026-03-02"), OLD_VAN, renewal, where=zone(name))
            assert decision.outcome is Outcome.ALLOWED, (kind, name)


# -- A8: NL scope on a type that is never nationwide ----------------------------------------------
@pytest.mark.parametrize(
    "spec",
    ["dagontheffing|NL|2026-03-10|2026-03-10", "levertijd|NL|2026-01-01|2026-12-31",
     "geen-ZE-alternatief|NL(RVO)|2026-01-01|2032-12-31",
     "dierenambulance|NL|2026-01-01|2026-12-31", "hardheidsclausule|nl|2026-01-01|2026-12-31"],
)  # fmt: skip
def test_A8_nationwide_scope_on_a_municipal_type_is_undetermined(spec: str) -> None:
    decision = run(at("2026-03-10", "10:00"), OLD_VAN, permit(spec))
    assert decision.outcome is Outcome.UNDETERMINED
    assert {"nationwide_scope_malformed", "malformed_permit"} <= keys(decision)
    assert "R33" in decision.rule_ids and decision.exemption is None
    # A valid permit beside the malformed record still allows; one that could not have
    # allowed this passage anyway (another day) raises no doubt.
    valid = permit("levertijd|Utrecht|2026-01-01|2026-06-30")
    assert run(at("2026-03-10", "10:00"), OLD_VAN, permit(spec), valid).outcome is (Outcome.ALLOWED)
    assert run(at("2033-03-10", "10:00"), OLD_VAN, permit(spec)).outcome is Outcome.VIOLATION


def test_A8_the_national_schemes_keep_their_nationwide_scope() -> None:
    kermis = vehicle(mass=18000, eu="N3", det=date(2015, 1, 1), fairground=True)
    special = permit("bijzonder-voertuig-kermis|NL(RVO)|2025-01-01|2027-12-31")
    for name in ("Utrecht", "Rotterdam"):
        decision = run(at("2026-03-10"), kermis, special, where=zone(name))
        assert decision.outcome is Outcome.ALLOWED and "R23" in decision.rule_ids


# -- A9: inclusive end dates are half-open at the next local midnight -----------------------------
def test_A9_inclusive_end_dates_are_half_open_at_the_next_midnight() -> None:
    euro5 = vehicle(euro="5", det=date(2012, 1, 1))
    last = datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=LOCAL_TZ)
    first = datetime(2027, 1, 1, tzinfo=LOCAL_TZ)
    assert run(last, euro5).outcome is Outcome.ALLOWED  # R8 "tot en met 31 december 2026"
    assert run(first, euro5).outcome is Outcome.VIOLATION
    # The same instants in UTC: local time decides (R39).
    assert run(datetime(2026, 12, 31, 22, 59, 59, 999999, tzinfo=UTC), euro5).outcome is (
        Outcome.ALLOWED
    )
    assert run(datetime(2026, 12, 31, 23, tzinfo=UTC), euro5).outcome is Outcome.VIOLATION
    # An ontheffing "through" its last day, in summer time.
    levertijd = permit("levertijd|Utrecht|2026-01-01|2026-06-30")
    assert run(at("2026-06-30", "23:59:59.999999"), OLD_VAN, levertijd).outcome is (Outcome.ALLOWED)
    assert run(at("2026-07-01", "00:00:00"), OLD_VAN, levertijd).outcome is Outcome.VIOLATION


# -- A10: READ_CONFIDENCE_MIN, a named parameter -------------------------------------------------
def test_A10_read_confidence_min_is_a_named_parameter_of_the_law_file(tmp_path: Path) -> None:
    assert LawParams().read_confidence_min == 0.90
    description = LawParams.model_fields["read_confidence_min"].description or ""
    assert "READ_CONFIDENCE_MIN" in description
    clean = vehicle(euro="6", det=date(2019, 6, 1))
    assert run(at("2026-06-01"), clean, facts=PassageFacts(read_confidence=0.90)).outcome is (
        Outcome.ALLOWED
    )
    law_file = tmp_path / "law.toml"
    law_file.write_text("[params]\nread_confidence_min = 0.95\n", encoding="utf-8")
    params, catalog = load_law(load_settings(law_file=law_file))
    assert params.read_confidence_min == 0.95
    utrecht = catalog.get("Utrecht")
    assert utrecht is not None and utrecht.params.read_confidence_min == 0.95
    doubtful = run(at("2026-06-01"), clean, where=utrecht, facts=PassageFacts(read_confidence=0.93))
    assert doubtful.outcome is Outcome.UNDETERMINED and "minimum 0.95" in text(doubtful)


# -- A11: a Bedrijfsauto camper ----------------------------------------------------------------
def test_A11_a_bedrijfsauto_camper_is_in_scope_up_to_the_van_mass_then_in_doubt() -> None:
    camper = vehicle(body="kampeerwagen")
    assert run(at("2026-06-01"), camper).outcome is Outcome.VIOLATION
    assert run(at("2026-06-01"), msgspec.structs.replace(camper, max_mass_kg=3500)).outcome is (
        Outcome.VIOLATION
    )
    heavy = msgspec.structs.replace(camper, max_mass_kg=3850, eu_category="N2")
    decision = run(at("2026-06-01"), heavy)
    assert decision.outcome is Outcome.UNDETERMINED
    assert {"R3", "R33"} <= set(decision.rule_ids) and "camper_above_van_mass" in keys(decision)
    # A zero-emission camper is allowed whatever it counts as (A5); a Personenauto camper is
    # out of scope at any mass (R3).
    electric = msgspec.structs.replace(heavy, fuels=(Fuel("Elektriciteit"),))
    assert run(at("2026-06-01"), electric).outcome is Outcome.ALLOWED
    car = msgspec.structs.replace(heavy, kind="Personenauto", eu_category="M1")
    assert run(at("2026-06-01"), car).outcome is Outcome.OUT_OF_SCOPE


# -- A12: a granted day permit holds for its window, whenever requested ---------------------------
def test_A12_a_granted_day_permit_holds_for_its_window_whenever_requested() -> None:
    late = permit("dagontheffing|Utrecht|2026-03-10|2026-03-10|n=2/12 requested 2026-03-11 05:40")
    assert run(at("2026-03-10", "08:15"), OLD_VAN, late).outcome is Outcome.ALLOWED
    assert run(at("2026-03-11", "05:59"), OLD_VAN, late).outcome is Outcome.ALLOWED
    assert run(at("2026-03-11", "06:00"), OLD_VAN, late).outcome is Outcome.VIOLATION


# -- the "—" rows: where the law disagreed with the worked cases ----------------------------------
def test_R20_an_incident_log_allows_a_priority_vehicle() -> None:
    """As ZE-014."""
    decision = run(at("2026-11-12", "22:40"), OLD_VAN, facts=PassageFacts(priority_incident=True))
    assert decision.outcome is Outcome.ALLOWED and {"R20", "R36"} <= set(decision.rule_ids)


def test_a_trailer_plate_is_R3_not_R33() -> None:
    """As ZE-004: out of scope under R3, the towing vehicle's plate is what counts."""
    trailer = vehicle(kind="Aanhangwagen", eu="O2", mass=2000, fuels=(), det=date(2019, 5, 1))
    decision = run(at("2026-02-02", "07:30"), trailer)
    assert decision.outcome is Outcome.OUT_OF_SCOPE
    assert "R3" in decision.rule_ids and "R33" not in decision.rule_ids
    assert "trailer_plate" in keys(decision)


def test_R1_is_evaluated_before_R34_and_R33() -> None:
    before = at("2026-06-15")  # Dordrecht starts on 2026-07-01
    dordrecht = zone("Dordrecht")
    foreign = run(before, None, where=dordrecht, facts=PassageFacts(country="BE"))
    assert foreign.rule_ids[0] == "R1" and "R34" not in foreign.rule_ids
    unknown = run(before, None, where=dordrecht, facts=PassageFacts(read_confidence=0.2))
    assert unknown.outcome is Outcome.OUT_OF_SCOPE and "R33" not in unknown.rule_ids


# -- the end of §11: R10 rests on the published policy ------------------------------------------
def test_R10_explanations_say_the_cutoff_rests_on_the_published_policy() -> None:
    new = vehicle(euro="6", det=date(2025, 2, 1))
    decision = run(at("2026-06-01"), new)
    assert decision.outcome is Outcome.VIOLATION
    r10 = [hit for hit in decision.rules if hit.rule_id == "R10"]
    assert r10
    for hit in r10:
        assert "published policy" in hit.sentence_in("en")
        assert "gepubliceerde beleid" in hit.sentence_in("nl")
    # Just before the cut-off (R10 says why the transitional rules apply) too.
    december = run(at("2026-06-01"), vehicle(euro="6", det=date(2024, 12, 20)))
    (before,) = [hit for hit in december.rules if hit.rule_id == "R10"]
    assert "published policy" in before.sentence_in("en")
    # The sentence names the parameter's date, not a fixed one.
    later = dataclasses.replace(UTRECHT, params=LawParams(new_vehicle_cutoff_det=date(2025, 7, 1)))
    moved = run(at("2026-06-01"), vehicle(euro="6", det=date(2025, 8, 1)), where=later)
    lines = explain(moved, later, "en").lines()
    assert any("on or after 1 July 2025" in line and "published policy" in line for line in lines)


def test_section_4_zone_dates_as_amended() -> None:
    """§11's §4 row: Zaanstad 2030, Hoorn no date, Dordrecht's disagreement kept (the later)."""
    assert zone("Zaanstad").start == date(2030, 1, 1)
    assert zone("Hoorn").start is None
    assert zone("Dordrecht").start == date(2026, 7, 1)
    hoorn = run(at("2027-06-01"), OLD_VAN, where=zone("Hoorn"))
    assert hoorn.outcome is Outcome.OUT_OF_SCOPE and "no_zone" in keys(hoorn)
    assert run(at("2029-12-31"), OLD_VAN, where=zone("Zaanstad")).outcome is (Outcome.OUT_OF_SCOPE)
    assert run(at("2030-01-01", "00:00"), OLD_VAN, where=zone("Zaanstad")).outcome is (
        Outcome.VIOLATION
    )
