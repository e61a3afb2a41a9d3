"""The policy's own decision on an application (pure: the law, the policy, no servers)."""

from __future__ import annotations

from datetime import date

import pytest

from enforcement.exemptions.decision import Application, Verdict, assess, fee_cents
from enforcement.exemptions.files import EXAMPLE_DIR, load_policies
from enforcement.exemptions.policy import MunicipalPolicy
from enforcement.model import Fuel, Vehicle, Zone
from enforcement.settings import Settings, load_law
from tests.enforcement.exemptions.conftest import van as desk_van

TODAY = date(2027, 3, 1)


@pytest.fixture(scope="module")
def amsterdam() -> tuple[MunicipalPolicy, list[Zone]]:
    _, zones = load_law(Settings(_env_file=None, law_file=None))
    return load_policies(EXAMPLE_DIR)["amsterdam"], [zones.resolve("amsterdam")]


def van(euro: str, year: int = 2010, fuel: str = "Diesel") -> Vehicle:
    """The desk fixtures' van (`conftest.van`), as VNB12X of 2010 by default."""
    return desk_van("VNB12X", euro, year, fuel)


def day_permit(day: date = TODAY) -> Application:
    return Application("VNB12X", "dagontheffing", day, day)


def test_a_euro_5_van_gets_its_day_permit_at_once(
    amsterdam: tuple[MunicipalPolicy, list[Zone]],
) -> None:
    policy, zones = amsterdam
    verdict = assess(policy, day_permit(), van("5"), zones, today=TODAY, granted_this_year=3)
    assert verdict.verdict is Verdict.GRANTED
    assert verdict.sentence("en") == (
        "Every condition of the policy is met; the exemption is granted."
    )


def test_below_the_municipal_minimum_class_is_refused_with_its_sentence(
    amsterdam: tuple[MunicipalPolicy, list[Zone]],
) -> None:
    policy, zones = amsterdam
    verdict = assess(policy, day_permit(), van("4"), zones, today=TODAY, granted_this_year=0)
    assert (verdict.verdict, verdict.code) == (Verdict.REFUSED, "below_min_class")
    assert verdict.sentence("nl") == (
        "Dagontheffing wordt in deze gemeente alleen verleend vanaf emissieklasse 5; dit "
        "voertuig heeft 4."
    )
    assert verdict.sentence("en").startswith("Day permit is granted in this municipality only")


def test_an_electric_van_is_already_allowed(
    amsterdam: tuple[MunicipalPolicy, list[Zone]],
) -> None:
    policy, zones = amsterdam
    electric = van("", 2022, "Elektriciteit")
    verdict = assess(policy, day_permit(), electric, zones, today=TODAY, granted_this_year=0)
    assert (verdict.verdict, verdict.code) == (Verdict.REFUSED, "already_allowed")
    assert "zonder ontheffing" in verdict.sentence("nl")


def test_a_euro_6_van_allowed_until_2028_needs_one_only_beyond(
    amsterdam: tuple[MunicipalPolicy, list[Zone]],
) -> None:
    policy, zones = amsterdam
    euro6 = van("6", 2021)
    now = Application("VNB12X", "markthandel", TODAY, date(2027, 12, 30), trips_per_year=40)
    assert assess(policy, now, euro6, zones, today=TODAY, granted_this_year=0).code == (
        "already_allowed"
    )
    later = Application("VNB12X", "markthandel", date(2028, 6, 1), date(2029, 5, 31), 40)
    verdict = assess(policy, later, euro6, zones, today=TODAY, granted_this_year=0)
    assert (verdict.verdict, verdict.code) == (Verdict.REVIEW, "officer_review")


def test_a_period_longer_than_the_type_allows_is_refused(
    amsterdam: tuple[MunicipalPolicy, list[Zone]],
) -> None:
    policy, zones = amsterdam
    two_days = Application("VNB12X", "dagontheffing", TODAY, date(2027, 3, 2))
    verdict = assess(policy, two_days, van("5"), zones, today=TODAY, granted_this_year=0)
    assert (verdict.verdict, verdict.code) == (Verdict.REFUSED, "period_too_long")
    assert (
        verdict.sentence("en") == "Day permit is valid for at most 1 day(s); you asked for 2 days."
    )


def test_the_thirteenth_day_permit_is_refused(
    amsterdam: tuple[MunicipalPolicy, list[Zone]],
) -> None:
    policy, zones = amsterdam
    verdict = assess(policy, day_permit(), van("5"), zones, today=TODAY, granted_this_year=12)
    assert (verdict.verdict, verdict.code) == (Verdict.REFUSED, "year_limit")
    assert "12" in verdict.sentence("nl")


def test_a_past_period_is_refused_but_today_is_not(
    amsterdam: tuple[MunicipalPolicy, list[Zone]],
) -> None:
    policy, zones = amsterdam
    yesterday = day_permit(date(2027, 2, 28))
    assert assess(policy, yesterday, van("5"), zones, today=TODAY, granted_this_year=0).code == (
        "period_past"
    )


def test_too_few_trips_and_a_class_the_type_is_not_for(
    amsterdam: tuple[MunicipalPolicy, list[Zone]],
) -> None:
    policy, zones = amsterdam
    few = Application("VNB12X", "markthandel", TODAY, date(2027, 6, 30), trips_per_year=5)
    assert assess(policy, few, van("4"), zones, today=TODAY, granted_this_year=0).code == (
        "too_few_trips"
    )
    truck = Vehicle(
        plate="BX12XY", kind="Bedrijfsauto", max_mass_kg=18000, eu_category="N3",
        first_admission=date(2012, 1, 1), first_nl_registration=date(2012, 1, 1),
        fuels=(Fuel("Diesel", "V"),),
    )  # fmt: skip
    ambulance = Application("BX12XY", "dierenambulance", TODAY, date(2027, 6, 30))
    verdict = assess(policy, ambulance, truck, zones, today=TODAY, granted_this_year=0)
    assert verdict.code == "class_not_eligible"
    assert verdict.sentence("nl") == "Dierenambulance is niet bedoeld voor een vrachtauto."


def test_doubt_goes_to_an_officer_never_to_a_refusal(
    amsterdam: tuple[MunicipalPolicy, list[Zone]],
) -> None:
    policy, zones = amsterdam
    assert assess(policy, day_permit(), None, zones, today=TODAY, granted_this_year=0).verdict is (
        Verdict.REVIEW
    )
    down = assess(
        policy, day_permit(), van("5"), zones, today=TODAY, granted_this_year=0, register_up=False
    )
    assert (down.verdict, down.code) == (Verdict.REVIEW, "register_unavailable")


def test_the_fee_of_a_zero_emission_vehicle_is_reduced(
    amsterdam: tuple[MunicipalPolicy, list[Zone]],
) -> None:
    policy, _ = amsterdam
    market = policy.types["markthandel"]
    assert fee_cents(market, van("4")) == 7500
    assert fee_cents(market, van("", 2022, "Elektriciteit")) == 3750
