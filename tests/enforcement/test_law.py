"""Unit tests of the ZE law beyond the scenario file: every rule id, every boundary date the
day before, on and after, and the switchable parameters."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import msgspec
import pytest

from enforcement.law import PassageFacts, decide
from enforcement.model import (
    Decision,
    Exemption,
    ExemptionStatus,
    Fuel,
    Outcome,
    SanctionKind,
    Vehicle,
    VehicleClass,
    Zone,
)
from enforcement.params import FineAmounts, LawParams, TransitionDateField
from tests.enforcement.law_cases import PLATE, UTRECHT, ZONES, at, run


def van(
    euro: str | None = "6",
    det: date = date(2019, 6, 1),
    fuel: str = "Diesel",
    mass: int = 3000,
    **kw: object,
) -> Vehicle:
    return Vehicle(
        plate=PLATE,
        kind="Bedrijfsauto",
        max_mass_kg=mass,
        eu_category="N1",
        first_admission=det,
        first_nl_registration=kw.pop("nl", det),  # type: ignore[arg-type]
        fuels=(Fuel(fuel, euro),),
        **kw,  # type: ignore[arg-type]
    )


def truck(
    euro: str | None = "6", det: date = date(2021, 3, 1), tractor: bool = False, **kw: object
) -> Vehicle:
    return msgspec.structs.replace(
        van(euro, det, mass=18000, **kw),  # type: ignore[arg-type]
        eu_category="N3",
        body="opleggertrekker" if tractor else "gesloten opbouw",
    )


def outcomes(*decisions: Decision) -> list[str]:
    return [d.outcome.value for d in decisions]


def around(last_day: str, vehicle: Vehicle, zone: Zone = UTRECHT) -> list[str]:
    """Outcome on the last allowed day (23:59:59) and the first moment after."""
    last = date.fromisoformat(last_day)
    return outcomes(
        run(at(last_day, "23:59:59"), vehicle, where=zone),
        run(at((last + timedelta(days=1)).isoformat(), "00:00"), vehicle, where=zone),
    )


# -- R1, R34, R33: scope and doubt -----------------------------------------------------------
def test_r1_zone_not_started_day_before_on_after() -> None:
    den_bosch = ZONES.resolve("'s-Hertogenbosch")
    vehicle = van(euro="4")
    before = run(at("2025-02-28", "23:59"), vehicle, where=den_bosch)
    first = run(at("2025-03-01", "00:00"), vehicle, where=den_bosch)
    assert before.outcome is Outcome.OUT_OF_SCOPE and before.rule_ids[0] == "R1"
    assert first.outcome is Outcome.VIOLATION and "R1" in first.rule_ids


def test_r1_municipality_without_zone() -> None:
    for name in ("Hilversum", "Nergenshuizen"):
        decision = run(at("2026-05-12"), van(euro="4"), where=ZONES.resolve(name))
        assert decision.outcome is Outcome.OUT_OF_SCOPE
        assert decision.rule_ids[0] == "R1"


def test_r34_foreign_plate_is_out_of_scope_even_without_register_data() -> None:
    decision = run(at("2026-09-08"), None, facts=PassageFacts(country="de"))
    assert decision.outcome is Outcome.OUT_OF_SCOPE
    assert decision.rule_ids[0] == "R34"
    assert "DE" in decision.rules[0].sentence


def test_r33_unknown_plate_is_undetermined_never_allowed() -> None:
    decision = run(at("2026-03-01"), None)
    assert decision.outcome is Outcome.UNDETERMINED
    assert decision.rule_ids == ("R33",)
    assert decision.needs_review


@pytest.mark.parametrize(
    ("confidence", "expected"), [(0.89, Outcome.UNDETERMINED), (0.90, Outcome.VIOLATION)]
)
def test_r33_low_read_confidence(confidence: float, expected: Outcome) -> None:
    decision = run(at("2026-03-01"), van(euro="4"), facts=PassageFacts(read_confidence=confidence))
    assert decision.outcome is expected


def test_r33_low_confidence_beats_an_allowed_vehicle() -> None:
    ze = van(euro=None, fuel="Elektriciteit")
    decision = run(at("2026-03-01"), ze, facts=PassageFacts(read_confidence=0.5))
    assert decision.outcome is Outcome.UNDETERMINED


def test_r33_special_registration_plate() -> None:
    decision = run(at("2026-03-01"), van(euro="4"), facts=PassageFacts(plate="CD1234"))
    assert decision.outcome is Outcome.UNDETERMINED
    assert decision.rule_ids == ("R33",)


@pytest.mark.parametrize(
    "vehicle",
    [
        msgspec.structs.replace(van(), kind=None),
        msgspec.structs.replace(van(), max_mass_kg=None),
        msgspec.structs.replace(van(), first_admission=None),
        msgspec.structs.replace(van(), fuels=()),
        msgspec.structs.replace(van(), exported=True),
    ],
    ids=["no-kind", "no-mass", "no-det", "no-fuel-rows", "exported"],
)
def test_r33_missing_register_data(vehicle: Vehicle) -> None:
    assert run(at("2026-03-01"), vehicle).outcome is Outcome.UNDETERMINED


def test_missing_emission_class_alone_is_r7_not_r33() -> None:
    decision = run(at("2026-03-01"), van(euro=None))
    assert decision.outcome is Outcome.VIOLATION
    assert "R7" in decision.rule_ids and "R33" not in decision.rule_ids


# -- R2, R3, R4 ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["Personenauto", "Bus", "Motorfiets", "Aanhangwagen"])
def test_r3_other_kinds_are_out_of_scope(kind: str) -> None:
    decision = run(at("2026-03-01"), msgspec.structs.replace(van(euro="1"), kind=kind))
    assert decision.outcome is Outcome.OUT_OF_SCOPE
    assert "R3" in decision.rule_ids
    # Spec §11 ("—" row): a trailer plate is R3 (the towing vehicle counts), not R33.
    assert "R33" not in decision.rule_ids
    trailer = any(hit.key == "trailer_plate" for hit in decision.rules)
    assert trailer is (kind == "Aanhangwagen")


@pytest.mark.parametrize(
    ("mass", "tractor", "expected"),
    [
        (3500, False, VehicleClass.VAN),
        (3501, False, VehicleClass.RIGID),
        (19000, True, VehicleClass.TRACTOR),
    ],
)
def test_r4_classification(mass: int, tractor: bool, expected: VehicleClass) -> None:
    vehicle = msgspec.structs.replace(
        van(), max_mass_kg=mass, body="opleggertrekker" if tractor else None
    )
    decision = run(at("2026-03-01"), vehicle)
    assert decision.vehicle_class is expected
    assert "R2" in decision.rule_ids and "R4" in decision.rule_ids


def test_r4_tractor_by_body_type_code_bc() -> None:
    vehicle = msgspec.structs.replace(truck(), body=None, body_type_codes=("BC",))
    assert run(at("2026-03-01"), vehicle).vehicle_class is VehicleClass.TRACTOR


# -- R5, R6, R16 -----------------------------------------------------------------------------
@pytest.mark.parametrize("fuel", ["Elektriciteit", "Waterstof"])
def test_r5_zero_emission_always_allowed_even_after_2030(fuel: str) -> None:
    vehicle = van(euro=None, fuel=fuel, det=date(2026, 1, 1))
    for when in (at("2025-01-01"), at("2035-06-01")):
        decision = run(when, vehicle)
        assert decision.outcome is Outcome.ALLOWED
        assert "R5" in decision.rule_ids
        assert decision.allowed_until is None


def test_r5_emission_class_z() -> None:
    """Class Z on a row whose fuel is not described (or is electric) is zero-emission; beside
    a combustion fuel it is A4's register conflict (see test_law_amendments)."""
    assert run(at("2026-03-01"), van(euro="Z", fuel="")).outcome is Outcome.ALLOWED
    assert run(at("2026-03-01"), van(euro="Z", fuel="Elektriciteit")).outcome is Outcome.ALLOWED


def test_r6_plug_in_hybrid_is_judged_by_class() -> None:
    hybrid = msgspec.structs.replace(
        van(),
        fuels=(Fuel("Diesel", "6", "OVC-HEV"), Fuel("Elektriciteit", None, "OVC-HEV")),
    )
    decision = run(at("2026-04-21"), hybrid)
    assert decision.outcome is Outcome.ALLOWED
    assert {"R6", "R9"} <= set(decision.rule_ids)
    late = run(at("2029-01-01", "00:00"), hybrid)
    assert late.outcome is Outcome.VIOLATION


def test_r16_end_state_after_2029() -> None:
    decision = run(at("2030-01-01", "00:00"), truck(tractor=True, det=date(2019, 5, 1)))
    assert decision.outcome is Outcome.VIOLATION
    assert {"R12", "R16"} <= set(decision.rule_ids)


# -- R7-R15: transitional access -------------------------------------------------------------
@pytest.mark.parametrize("euro", ["0", "3", "4"])
def test_r7_low_class_van_violation_from_zone_start(euro: str) -> None:
    decision = run(at("2025-01-01", "00:00"), van(euro=euro, det=date(2009, 1, 1)))
    assert decision.outcome is Outcome.VIOLATION
    assert "R7" in decision.rule_ids


def test_r8_euro5_van_through_2026() -> None:
    assert around("2026-12-31", van(euro="5", det=date(2013, 4, 1))) == ["allowed", "violation"]
    decision = run(at("2026-12-31"), van(euro="5", det=date(2013, 4, 1)))
    assert decision.allowed_until == date(2026, 12, 31)
    assert "R39" in decision.rule_ids


def test_r9_euro6_van_default_and_switch() -> None:
    vehicle = van(euro="6")
    assert around("2028-12-31", vehicle) == ["allowed", "violation"]
    rvv_text = dataclasses.replace(UTRECHT, params=LawParams(van_e6_last_day=date(2027, 12, 31)))
    assert around("2027-12-31", vehicle, zone=rvv_text) == ["allowed", "violation"]


@pytest.mark.parametrize(
    ("det", "expected"),
    [("2024-12-31", "allowed"), ("2025-01-01", "violation"), ("2025-01-02", "violation")],
)
def test_r10_new_vehicle_cutoff(det: str, expected: str) -> None:
    for vehicle in (van(det=date.fromisoformat(det)), truck(det=date.fromisoformat(det))):
        decision = run(at("2026-03-17"), vehicle)
        assert decision.outcome.value == expected
        if expected == "violation":
            assert "R10" in decision.rule_ids


def test_r11_used_import_uses_det_by_default_and_switches() -> None:
    vehicle = van(euro="6", det=date(2022, 5, 10), nl=date(2025, 4, 1))
    decision = run(at("2026-05-19"), vehicle)
    assert decision.outcome is Outcome.ALLOWED
    assert "R11" in decision.rule_ids
    nl_reading = LawParams(transition_date_field=TransitionDateField.FIRST_NL_REGISTRATION)
    assert run(at("2026-05-19"), vehicle, params=nl_reading).outcome is Outcome.VIOLATION


@pytest.mark.parametrize(
    ("det", "expected"),
    [("2016-12-31", "violation"), ("2017-01-01", "allowed"), ("2017-01-02", "allowed")],
)
def test_r12_tractor_det_window(det: str, expected: str) -> None:
    decision = run(at("2026-03-02"), truck(tractor=True, det=date.fromisoformat(det)))
    assert decision.outcome.value == expected
    assert "R12" in decision.rule_ids


def test_r12_r13_end_on_2029_12_31() -> None:
    assert around("2029-12-31", truck(tractor=True, det=date(2019, 5, 1))) == [
        "allowed",
        "violation",
    ]
    assert around("2029-12-31", truck(det=date(2021, 3, 1))) == ["allowed", "violation"]


@pytest.mark.parametrize(
    ("det", "rule"),
    [("2019-12-31", "R14"), ("2020-01-01", "R13"), ("2020-01-02", "R13"), ("2017-01-01", "R14")],
)
def test_r13_r14_rigid_windows(det: str, rule: str) -> None:
    decision = run(at("2026-09-15"), truck(det=date.fromisoformat(det)))
    assert decision.outcome is Outcome.ALLOWED
    assert rule in decision.rule_ids


def test_r14_ends_2027_12_31() -> None:
    assert around("2027-12-31", truck(det=date(2018, 6, 1))) == ["allowed", "violation"]
    decision = run(at("2028-01-01", "00:00"), truck(det=date(2018, 6, 1)))
    assert {"R14", "R15"} <= set(decision.rule_ids)


@pytest.mark.parametrize(
    "vehicle",
    [truck(euro="5", det=date(2015, 2, 1)), truck(det=date(2016, 12, 31))],
    ids=["euro-v", "euro-vi-before-2017"],
)
def test_r15_other_trucks(vehicle: Vehicle) -> None:
    decision = run(at("2026-02-24"), vehicle)
    assert decision.outcome is Outcome.VIOLATION
    assert "R15" in decision.rule_ids


def test_roman_numeral_classes_are_understood() -> None:
    assert run(at("2026-03-02"), truck(euro="VI", tractor=True, det=date(2018, 1, 1))).outcome is (
        Outcome.ALLOWED
    )


# -- R17-R19: vrijstellingen -----------------------------------------------------------------
def test_r17_oldtimer_from_40th_anniversary_until_2029() -> None:
    vehicle = van(euro=None, fuel="Benzine", det=date(1986, 3, 16))
    assert outcomes(run(at("2026-03-15"), vehicle), run(at("2026-03-16"), vehicle)) == [
        "violation",
        "allowed",
    ]
    assert "R17" in run(at("2026-03-15"), vehicle).rule_ids
    assert around("2029-12-31", vehicle) == ["allowed", "violation"]


def test_r19_leap_day_det_stays_exempt_through_28_february() -> None:
    # 13 years after 29 February 2016 has no 29 February: the reading that favours the
    # vehicle makes 1 March 2029 the anniversary, so 28 February is the last exempt day.
    vehicle = truck(euro="5", det=date(2016, 2, 29), body_codes=("31",))
    assert around("2029-02-28", vehicle) == ["allowed", "violation"]


@pytest.mark.parametrize(
    "vehicle",
    [
        van(euro="4", det=date(2008, 4, 1), particularity_codes=(146,)),
        van(euro="4", det=date(2008, 4, 1), body_type_codes=("SH",)),
        van(euro="4", det=date(2008, 4, 1), particularity_codes=(70,)),
    ],
    ids=["code-146", "SH", "code-70-default"],
)
def test_r18_wheelchair_vehicle(vehicle: Vehicle) -> None:
    assert around("2029-12-31", vehicle) == ["allowed", "violation"]
    assert "R18" in run(at("2026-06-01"), vehicle).rule_ids


def test_r18_code_70_is_switchable() -> None:
    vehicle = van(euro="4", det=date(2008, 4, 1), particularity_codes=(70,))
    strict = LawParams(wheelchair_codes=frozenset({145, 146, 147, 149}))
    assert run(at("2026-06-01"), vehicle, params=strict).outcome is Outcome.VIOLATION


def test_r19_special_body_until_13th_anniversary() -> None:
    vehicle = truck(euro="5", det=date(2014, 5, 1), body_codes=("27",))
    assert outcomes(run(at("2027-04-30"), vehicle), run(at("2027-05-01", "00:00"), vehicle)) == [
        "allowed",
        "violation",
    ]
    assert run(at("2027-04-30"), vehicle).allowed_until == date(2027, 4, 30)


def test_r19_capped_at_2029_and_not_for_vans() -> None:
    mixer = truck(det=date(2020, 8, 1), body_codes=("15",))
    assert around("2029-12-31", mixer) == ["allowed", "violation"]
    small = van(euro="4", det=date(2020, 8, 1), body_codes=("15",))
    assert run(at("2026-01-10"), small).outcome is Outcome.VIOLATION


def test_r19_body_type_codes_sb_sf() -> None:
    crane = truck(euro="5", det=date(2016, 9, 1), body_type_codes=("SF",))
    decision = run(at("2026-10-01"), crane)
    assert decision.outcome is Outcome.ALLOWED and "R19" in decision.rule_ids


# -- R20 ---------------------------------------------------------------------------------------
def test_r20_priority_vehicle_with_incident_log() -> None:
    decision = run(at("2026-11-12"), van(euro="4"), facts=PassageFacts(priority_incident=True))
    assert decision.outcome is Outcome.ALLOWED
    assert {"R20", "R36"} <= set(decision.rule_ids)
    assert run(at("2026-11-12"), van(euro="4")).outcome is Outcome.VIOLATION


# -- R21-R31: ontheffingen -------------------------------------------------------------------
def permit(kind: str, scope: str, first: str, last: str, **kw: object) -> Exemption:
    return Exemption.for_dates(
        PLATE, kind, scope, date.fromisoformat(first), date.fromisoformat(last), **kw
    )


OLD_VAN = van(euro="4", det=date(2009, 5, 1))


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        ("levertijd", "R24"),
        ("bedrijfseconomisch", "R25"),
        ("netcongestie", "R26"),
        ("geen-ZE-alternatief", "R27"),
        ("aangepast-voertuig-handicap", "R28"),
        ("hardheidsclausule", "R30"),
        ("dierenambulance", "R31"),
    ],
)
def test_ontheffing_types_valid_through_their_last_day(kind: str, rule: str) -> None:
    p = permit(kind, "Utrecht", "2026-01-01", "2026-06-30")
    before = run(at("2025-12-31"), OLD_VAN, p)
    first = run(at("2026-01-01", "00:00"), OLD_VAN, p)
    last = run(at("2026-06-30", "23:59:59"), OLD_VAN, p)
    after = run(at("2026-07-01", "00:00"), OLD_VAN, p)
    assert outcomes(before, first, last, after) == ["violation", "allowed", "allowed", "violation"]
    assert {"R21", rule} <= set(first.rule_ids)
    assert first.exemption == p and first.allowed_until == date(2026, 6, 30)
    assert "R21" in after.rule_ids


def test_r21_scope_municipal_and_national() -> None:
    den_haag_permit = permit("bedrijfseconomisch", "Den Haag", "2025-05-01", "2026-04-30")
    rotterdam = ZONES.resolve("Rotterdam")
    assert run(at("2025-10-01"), OLD_VAN, den_haag_permit, where=rotterdam).outcome is (
        Outcome.VIOLATION
    )
    assert run(at("2025-10-01"), OLD_VAN, den_haag_permit, where=ZONES.resolve("den-haag")).outcome
    national = permit("netcongestie", "NL", "2026-01-15", "2028-01-14")
    assert run(at("2027-05-03"), OLD_VAN, national, where=rotterdam).outcome is Outcome.ALLOWED
    rvo = permit("bijzonder-voertuig-kraan", "NL(RVO)", "2026-01-01", "2029-12-31")
    crane = truck(euro="5", det=date(2018, 1, 1))
    assert run(at("2026-05-01"), crane, rvo, where=rotterdam).outcome is Outcome.ALLOWED


@pytest.mark.parametrize("status", [ExemptionStatus.REFUSED, ExemptionStatus.REVOKED])
def test_r21_refused_or_revoked_permit_never_allows(status: ExemptionStatus) -> None:
    p = permit("hardheidsclausule", "Utrecht", "2026-01-01", "2026-12-31", status=status)
    decision = run(at("2026-06-01"), OLD_VAN, p)
    assert decision.outcome is Outcome.VIOLATION
    assert status.value in " ".join(decision.reasons())


def test_r22_day_permit_window_and_tail() -> None:
    p = Exemption.day_permit(PLATE, "Utrecht", date(2026, 3, 10), sequence=3)
    results = outcomes(
        run(at("2026-03-09", "23:59:59"), OLD_VAN, p),
        run(at("2026-03-10", "00:00"), OLD_VAN, p),
        run(at("2026-03-11", "05:59:59"), OLD_VAN, p),
        run(at("2026-03-11", "06:00"), OLD_VAN, p),
    )
    assert results == ["violation", "allowed", "allowed", "violation"]
    allowed = run(at("2026-03-11", "05:59"), OLD_VAN, p)
    assert allowed.day_permit_day == date(2026, 3, 10)
    assert "R39" in allowed.rule_ids


def test_r22_day_permit_limit_per_year_and_municipality() -> None:
    p = Exemption.day_permit(PLATE, "Utrecht", date(2026, 3, 10))
    assert run(at("2026-03-10"), OLD_VAN, p, day_permits_used=11).outcome is Outcome.ALLOWED
    refused = run(at("2026-03-10"), OLD_VAN, p, day_permits_used=12)
    assert refused.outcome is Outcome.VIOLATION and "R22" in refused.rule_ids
    thirteenth = Exemption.day_permit(PLATE, "Utrecht", date(2026, 3, 10), sequence=13)
    assert run(at("2026-03-10"), OLD_VAN, thirteenth).outcome is Outcome.VIOLATION
    amsterdam = ZONES.resolve("Amsterdam")
    assert run(at("2026-03-10"), OLD_VAN, p, where=amsterdam).outcome is Outcome.VIOLATION


def test_r22_municipal_minimum_class_for_day_permits() -> None:
    strict = dataclasses.replace(UTRECHT, day_permit_min_class=5)
    p = Exemption.day_permit(PLATE, "Utrecht", date(2026, 3, 10))
    assert run(at("2026-03-10"), OLD_VAN, p, where=strict).outcome is Outcome.VIOLATION
    euro5 = van(euro="5", det=date(2013, 1, 1))
    assert run(at("2027-03-10"), euro5, Exemption.day_permit(
        PLATE, "Utrecht", date(2027, 3, 10)), where=strict).outcome is Outcome.ALLOWED  # fmt: skip


def test_r23_special_vehicle_permit_capped_at_13_years() -> None:
    removal = truck(euro="5", det=date(2012, 3, 1), removal=True)
    p = permit("bijzonder-voertuig-verhuisauto", "NL(RVO)", "2024-01-01", "2029-12-31")
    assert outcomes(
        run(at("2025-02-28"), removal, p), run(at("2025-03-01", "00:00"), removal, p)
    ) == ["allowed", "violation"]


def test_r23_automatic_ontheffing_for_fairground_trucks_and_heavy_tractors() -> None:
    fair = truck(euro="5", det=date(2015, 1, 1), fairground=True)
    assert run(at("2026-06-01"), fair).outcome is Outcome.ALLOWED
    assert run(at("2028-01-01"), fair).outcome is Outcome.VIOLATION  # 13 years on 2028-01-01
    heavy = truck(euro="5", det=date(2016, 1, 1), tractor=True, axles=4)
    assert run(at("2026-06-01"), heavy).outcome is Outcome.ALLOWED
    light = truck(euro="5", det=date(2016, 1, 1), tractor=True, axles=3)
    assert run(at("2026-06-01"), light).outcome is Outcome.VIOLATION
    off = LawParams(automatic_special_vehicle_ontheffing=False)
    assert run(at("2026-06-01"), fair, params=off).outcome is Outcome.VIOLATION


def test_r27_may_run_past_2030_but_r29_is_capped() -> None:
    new_truck = truck(det=date(2026, 2, 1))
    r27 = permit("geen-ZE-alternatief", "Utrecht", "2026-02-01", "2036-01-31")
    assert run(at("2031-03-03"), new_truck, r27).outcome is Outcome.ALLOWED
    phev = msgspec.structs.replace(
        truck(det=date(2025, 6, 1)),
        fuels=(Fuel("Diesel", "6", "OVC-HEV"), Fuel("Elektriciteit", None, "OVC-HEV")),
    )
    r29 = permit("phev-vrachtauto", "Utrecht", "2025-07-01", "2031-12-31")
    assert outcomes(
        run(at("2029-12-31"), phev, r29), run(at("2030-01-01", "00:00"), phev, r29)
    ) == ["allowed", "violation"]


# -- R32, R35-R37: sanctions -----------------------------------------------------------------
def test_r32_warning_period_then_r37_fine() -> None:
    rotterdam = ZONES.resolve("Rotterdam")
    last = run(at("2025-06-30", "23:59"), OLD_VAN, where=rotterdam)
    first = run(at("2025-07-01", "00:00"), OLD_VAN, where=rotterdam)
    assert last.sanction.kind is SanctionKind.WARNING and "R32" in last.rule_ids
    assert first.sanction.kind is SanctionKind.FINE and "R37" in first.rule_ids
    assert (first.sanction.amount_eur, first.sanction.admin_costs_eur) == (120, 9)
    assert run(at("2026-01-05"), truck(euro="5"), where=rotterdam).sanction.amount_eur == 310
    assert "R36" in first.rule_ids


def test_r32_warning_period_extended_locally() -> None:
    zone = dataclasses.replace(UTRECHT, warning_until=date(2025, 12, 31))
    assert run(at("2025-12-31"), OLD_VAN, where=zone).sanction.kind is SanctionKind.WARNING
    assert run(at("2026-01-01"), OLD_VAN, where=zone).sanction.kind is SanctionKind.FINE


def test_r37_amounts_are_parameters() -> None:
    params = LawParams(
        fines=(
            FineAmounts(valid_from=date(2025, 1, 1), van_eur=120, truck_eur=310, admin_costs_eur=9),
            FineAmounts(valid_from=date(2026, 1, 1), van_eur=130, truck_eur=320, admin_costs_eur=9),
        )
    )
    assert run(at("2025-12-31"), OLD_VAN, params=params).sanction.amount_eur == 120
    assert run(at("2026-01-01"), OLD_VAN, params=params).sanction.amount_eur == 130


def test_r38_no_hit_outcomes_say_so_and_violations_need_review() -> None:
    allowed = run(at("2026-03-01"), van())
    assert "R38" in allowed.rule_ids and not allowed.needs_review
    assert run(at("2026-03-01"), OLD_VAN).needs_review


def test_r39_time_zone_and_naive_times() -> None:
    # 2026-12-31T23:30 UTC is already 2027-01-01 00:30 in Amsterdam: the Euro 5 van is late.
    utc_late = datetime.fromisoformat("2026-12-31T23:30:00+00:00")
    decision = run(utc_late, van(euro="5", det=date(2013, 4, 1)))
    assert decision.outcome is Outcome.VIOLATION
    assert decision.local_time.date() == date(2027, 1, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(datetime(2026, 1, 1), UTRECHT, van())


def test_every_sentence_renders_in_both_languages() -> None:
    cases = [
        run(at("2026-03-10"), OLD_VAN, Exemption.day_permit(PLATE, "Utrecht", date(2026, 3, 10))),
        run(at("2028-01-01"), truck(det=date(2018, 6, 1))),
        run(at("2026-03-01"), None),
        run(at("2026-03-01"), van(), facts=PassageFacts(country="BE")),
    ]
    for decision in cases:
        for lang in ("nl", "en"):
            sentences = decision.reasons(lang)
            assert sentences and all("{" not in s for s in sentences)


def test_unknown_direction_turns_a_violation_into_a_human_decision() -> None:
    unknown = PassageFacts(direction_unknown=True)
    decision = run(at("2026-03-01"), OLD_VAN, facts=unknown)
    assert decision.outcome is Outcome.UNDETERMINED
    assert decision.rule_ids[-1] == "R33"
    assert run(at("2026-03-01"), van(), facts=unknown).outcome is Outcome.ALLOWED
