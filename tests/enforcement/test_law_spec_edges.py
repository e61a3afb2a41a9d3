"""The law against the spec's edges found in review (issue 14): R22 day permits recorded by
their day, R31 local ontheffingen, R4 as parameters with the EU-category cross-check, R17's
years, one reading of the emission class, and passage times the calendar cannot hold."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from enforcement.law import PassageFacts, PassageTimeError
from enforcement.model import (
    LOCAL_TZ,
    Exemption,
    Fuel,
    LocalTimeError,
    Outcome,
    Vehicle,
    VehicleClass,
    day_permit_window,
    localize,
)
from enforcement.params import LawParams
from enforcement.register.exemption_files import parse_scenario_exemption
from tests.enforcement.law_cases import PLATE, UTRECHT, at, keys, run, zone


def van(
    euro: str | None = "4", det: date = date(2009, 5, 1), mass: int = 3000, eu: str | None = "N1"
) -> Vehicle:
    return Vehicle(
        plate=PLATE,
        kind="Bedrijfsauto",
        max_mass_kg=mass,
        eu_category=eu,
        first_admission=det,
        fuels=(Fuel("Diesel", euro),),
    )


OLD_VAN = van()


# -- R22: a day permit recorded by its day keeps R22's tail to D+1 06:00 ----------------------
DATE_ONLY = (
    parse_scenario_exemption(PLATE, "dagontheffing|Utrecht|2026-03-10|2026-03-10"),
    Exemption.for_dates(PLATE, "dagontheffing", "Utrecht", date(2026, 3, 10), date(2026, 3, 10)),
)


@pytest.mark.parametrize("permit", DATE_ONLY, ids=["case-file", "register-dates"])
def test_r22_date_only_day_permit_keeps_its_tail(permit: Exemption) -> None:
    """Before, the permit ended at D+1 00:00: a passage at 05:00 on D+1 was fined."""
    results = [
        run(at("2026-03-09", "23:59:59"), OLD_VAN, permit).outcome,
        run(at("2026-03-10", "00:00"), OLD_VAN, permit).outcome,
        run(at("2026-03-11", "05:00"), OLD_VAN, permit).outcome,
        run(at("2026-03-11", "05:59:59"), OLD_VAN, permit).outcome,
        run(at("2026-03-11", "06:00"), OLD_VAN, permit).outcome,
    ]
    assert [o.value for o in results] == [
        "violation", "allowed", "allowed", "allowed", "violation",
    ]  # fmt: skip
    tail = run(at("2026-03-11", "05:00"), OLD_VAN, permit)
    assert tail.day_permit_day == date(2026, 3, 10)
    assert "R39" in tail.rule_ids and "11 March 2026 06:00" in " ".join(tail.reasons())


def test_r22_tail_is_the_parameter() -> None:
    """`day_permit_tail_hours` was used nowhere; `Exemption.day_permit` hard-coded 06:00."""
    short = dataclasses.replace(UTRECHT, params=LawParams(day_permit_tail_hours=4))
    permit = DATE_ONLY[0]
    assert run(at("2026-03-11", "03:59"), OLD_VAN, permit, where=short).outcome is (Outcome.ALLOWED)
    assert run(at("2026-03-11", "04:00"), OLD_VAN, permit, where=short).outcome is (
        Outcome.VIOLATION
    )
    built = Exemption.day_permit(PLATE, "Utrecht", date(2026, 3, 10), tail_hours=4)
    assert built.ends_before == datetime(2026, 3, 11, 4, tzinfo=LOCAL_TZ)
    default = Exemption.day_permit(PLATE, "Utrecht", date(2026, 3, 10))
    assert default.ends_before == datetime(2026, 3, 11, 6, tzinfo=LOCAL_TZ)


def test_r22_tail_on_the_night_the_clocks_change() -> None:
    """Permit day 28 March 2026: the night to 29 March has 23 hours; the tail still ends at
    06:00 on the clock (R39)."""
    start, end = day_permit_window(date(2026, 3, 28), 6)
    assert end == datetime(2026, 3, 29, 6, tzinfo=LOCAL_TZ)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=29)
    permit = parse_scenario_exemption(PLATE, "dagontheffing|Utrecht|2026-03-28|2026-03-28")
    assert run(at("2026-03-29", "05:59"), OLD_VAN, permit).outcome is Outcome.ALLOWED
    assert run(at("2026-03-29", "06:00"), OLD_VAN, permit).outcome is Outcome.VIOLATION


# -- R31: a local ontheffing is valid only where it was granted ------------------------------
@pytest.mark.parametrize("scope", ["NL", "NL(RVO)", "nl"])
def test_r31_local_ontheffing_with_national_scope_is_not_valid(scope: str) -> None:
    """Before issue 14, `dierenambulance|NL` was honoured in every zone; since A8 such a
    malformed record makes the passage undetermined (never a fine, never allowed)."""
    permit = Exemption.for_dates(
        PLATE, "dierenambulance", scope, date(2025, 9, 1), date(2026, 8, 31)
    )
    decision = run(at("2026-04-04"), OLD_VAN, permit)
    assert decision.outcome is Outcome.UNDETERMINED
    assert "nationwide_scope_malformed" in keys(decision)
    assert {"R21", "R31", "R33"} <= set(decision.rule_ids)
    assert "only ever granted per municipality" in " ".join(decision.reasons())


def test_r31_local_ontheffing_in_its_own_municipality_only() -> None:
    permit = Exemption.for_dates(
        PLATE, "dierenambulance", "Utrecht", date(2025, 9, 1), date(2026, 8, 31)
    )
    assert run(at("2026-04-04"), OLD_VAN, permit).outcome is Outcome.ALLOWED
    assert run(at("2026-04-04"), OLD_VAN, permit, where=zone("Amsterdam")).outcome is (
        Outcome.VIOLATION
    )


def test_national_scopes_still_hold_for_the_types_that_have_them() -> None:
    permit = Exemption.for_dates(PLATE, "netcongestie", "NL", date(2026, 1, 15), date(2028, 1, 14))
    assert run(at("2027-05-03"), OLD_VAN, permit, where=zone("Rotterdam")).outcome is (
        Outcome.ALLOWED
    )


# -- R4: the van mass is a parameter; the EU category is the cross-check -----------------------
def test_r4_van_mass_limit_is_a_parameter() -> None:
    vehicle = van(mass=3200, eu=None)
    assert run(at("2026-06-01"), vehicle).vehicle_class is VehicleClass.VAN
    lighter = dataclasses.replace(UTRECHT, params=LawParams(van_max_mass_kg=3000))
    decision = run(at("2026-06-01"), vehicle, where=lighter)
    assert decision.vehicle_class is VehicleClass.RIGID
    assert "R15" in decision.rule_ids
    assert "3500 kg" not in " ".join(run(at("2026-06-01"), van(), where=lighter).reasons())


@pytest.mark.parametrize(
    ("mass", "category", "vehicle_class"),
    [(3500, "N1", "van"), (3501, "N2", "rigid"), (12000, "N3", "rigid"), (2100, "M1", "van"),
     (3000, None, "van"), (3000, "", "van")],
)  # fmt: skip
def test_r4_consistent_or_absent_category_decides_by_mass(
    mass: int, category: str | None, vehicle_class: str
) -> None:
    decision = run(at("2026-06-01"), van(mass=mass, eu=category))
    assert decision.outcome is Outcome.VIOLATION
    assert decision.vehicle_class is not None and decision.vehicle_class.value == vehicle_class
    assert "category_conflict" not in keys(decision)


def test_r4_conflict_does_not_take_away_access() -> None:
    """Allowed under the mass reading: still allowed (the conflict is only said)."""
    decision = run(at("2026-06-01"), van(euro="6", det=date(2019, 6, 1), mass=3400, eu="N2"))
    assert decision.outcome is Outcome.ALLOWED and "category_conflict" in keys(decision)


# -- R17: the explanation says the parameter's years ---------------------------------------------
def test_r17_explanation_uses_oldtimer_years() -> None:
    """Before, the sentence always said 40 years."""
    thirty = dataclasses.replace(UTRECHT, params=LawParams(oldtimer_years=30))
    decision = run(at("2026-06-01"), van(euro=None, det=date(1995, 1, 1)), where=thirty)
    assert decision.outcome is Outcome.ALLOWED and "R17" in decision.rule_ids
    text = " ".join(decision.reasons())
    assert "30 years or older" in text and "40" not in text
    (hit,) = [h for h in decision.rules if h.key == "oldtimer"]
    assert dict(hit.args)["years"] == 30


# -- one reading of the emission class -----------------------------------------------------------
@pytest.mark.parametrize(
    ("written", "rule", "outcome"),
    [("EEV", "R8", "allowed"), ("EURO 5", "R8", "allowed"), ("vi", "R9", "allowed"),
     ("VII", "R9", "allowed"), ("Euro 6", "R9", "allowed"), ("IV", "R7", "violation")],
)  # fmt: skip
def test_law_reads_every_emission_spelling(written: str, rule: str, outcome: str) -> None:
    """Before, the law read EEV as "no class" (R7) while the loader read it as 5."""
    decision = run(at("2026-06-01"), van(euro=written, det=date(2012, 1, 1)))
    assert rule in decision.rule_ids and decision.outcome.value == outcome


# -- R39: times the calendar cannot hold ---------------------------------------------------------
@pytest.mark.parametrize(
    "when",
    [
        datetime.fromisoformat("0001-01-01T00:00:00+01:00"),
        datetime.fromisoformat("9999-12-31T23:59:59-05:00"),
    ],
)
def test_extreme_passage_times_are_a_clear_error(when: datetime) -> None:
    """Before: OverflowError from deep inside the law (its local time has no date)."""
    with pytest.raises(PassageTimeError, match="outside the calendar"):
        run(when, OLD_VAN)


@pytest.mark.parametrize(
    "when", [datetime(1, 1, 1, 12, tzinfo=LOCAL_TZ), datetime(9999, 12, 31, 12, tzinfo=LOCAL_TZ)]
)
@pytest.mark.parametrize("vehicle", [OLD_VAN, van(euro=None, det=date(9999, 1, 1)), None])
def test_the_ends_of_the_calendar_are_decided_or_a_clear_error(
    when: datetime, vehicle: Vehicle | None
) -> None:
    try:
        decision = run(when, vehicle, facts=PassageFacts(plate=PLATE))
    except PassageTimeError:
        return
    assert decision.outcome in Outcome


def test_naive_passage_time_is_a_passage_time_error() -> None:
    with pytest.raises(PassageTimeError, match="timezone-aware"):
        run(datetime(2026, 6, 1, 12), OLD_VAN)


def test_localize_rejects_missing_and_doubled_local_times() -> None:
    with pytest.raises(LocalTimeError, match=r"does not exist.*02:00 to 03:00"):
        localize(datetime(2026, 3, 29, 2, 30))
    with pytest.raises(LocalTimeError, match=r"occurs twice.*\+02:00 or \+01:00"):
        localize(datetime(2026, 10, 25, 2, 30))
    assert localize(datetime(2026, 3, 29, 3, 0)).utcoffset() == timedelta(hours=2)
    assert localize(datetime(2026, 10, 25, 3, 0)).utcoffset() == timedelta(hours=1)
    aware = datetime.fromisoformat("2026-10-25T02:30+01:00")
    assert localize(aware) is aware


# -- direction (spec §10 `direction`) -----------------------------------------------------------
def test_a_leaving_vehicle_is_not_an_entry() -> None:
    leaving = run(at("2026-06-01"), OLD_VAN, facts=PassageFacts(leaving=True))
    assert leaving.outcome is Outcome.OUT_OF_SCOPE and "leaving_zone" in keys(leaving)
    unknown = run(at("2026-06-01"), OLD_VAN, facts=PassageFacts(direction_unknown=True))
    assert unknown.outcome is Outcome.UNDETERMINED
    # R1a (A2): every leaving passage is out of scope, a compliant one too (a no-hit either way).
    clean = van(euro="6", det=date(2019, 6, 1))
    assert run(at("2026-06-01"), clean, facts=PassageFacts(leaving=True)).outcome is (
        Outcome.OUT_OF_SCOPE
    )
