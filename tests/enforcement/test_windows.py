"""Access windows: edges a minute before/after, midnight spans, holidays, DST, privileges."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta

import msgspec
import pytest

from enforcement.model import LOCAL_TZ, Exemption, Fuel, Outcome, Vehicle
from enforcement.windows import (
    HOLIDAY,
    AccessArea,
    AccessWindow,
    VehicleFilter,
    decide_window,
)

WEEKDAYS = frozenset({1, 2, 3, 4, 5, 6})
AREA = AccessArea(
    id="centrum",
    name="Centrum",
    municipality="Utrecht",
    windows=(
        AccessWindow(WEEKDAYS, time(7), time(12), label="morning"),
        AccessWindow(frozenset({1, 2, 3, 4}), time(18), time(20), VehicleFilter.ZERO_EMISSION),
        AccessWindow(frozenset({5}), time(22), time(2), VehicleFilter.ZERO_EMISSION),
        AccessWindow(frozenset({HOLIDAY}), time(9), time(10)),
        AccessWindow(frozenset({7}), time(2), time(3)),
    ),
    holidays=frozenset({date(2026, 4, 27)}),  # King's Day, a Monday
)

DIESEL = Vehicle("VBB12B", "Bedrijfsauto", 3000, fuels=(Fuel("Diesel", "6"),), length_cm=600)
ELECTRIC = msgspec.structs.replace(DIESEL, fuels=(Fuel("Elektriciteit"),))


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ)


def outcome(when: datetime, vehicle: Vehicle = DIESEL, area: AccessArea = AREA) -> str:
    return decide_window(when, area, vehicle).outcome.value


@pytest.mark.parametrize(
    ("clock", "expected"),
    [("06:59", "violation"), ("07:00", "allowed"), ("11:59", "allowed"), ("12:00", "violation")],
)
def test_morning_window_edges(clock: str, expected: str) -> None:
    assert outcome(local(f"2026-03-03T{clock}")) == expected  # a Tuesday


def test_evening_window_is_a_ze_privilege() -> None:
    evening = local("2026-03-03T19:00")
    assert outcome(evening, DIESEL) == "violation"
    decision = decide_window(evening, AREA, ELECTRIC)
    assert decision.outcome is Outcome.ALLOWED and decision.privilege
    assert "W3" in decision.rule_ids
    refused = decide_window(evening, AREA, DIESEL)
    assert "W3" in refused.rule_ids  # says the window exists but only for ZE


def test_midnight_spanning_window_belongs_to_its_start_day() -> None:
    assert outcome(local("2026-03-06T21:59"), ELECTRIC) == "violation"  # Friday
    assert outcome(local("2026-03-06T22:00"), ELECTRIC) == "allowed"
    assert outcome(local("2026-03-07T01:59"), ELECTRIC) == "allowed"  # Saturday, Friday's window
    assert outcome(local("2026-03-07T02:00"), ELECTRIC) == "violation"
    assert outcome(local("2026-03-06T01:00"), ELECTRIC) == "violation"  # Thursday has none


def test_holiday_replaces_the_weekday_windows() -> None:
    assert outcome(local("2026-04-27T08:00")) == "violation"
    assert outcome(local("2026-04-27T09:30")) == "allowed"
    assert outcome(local("2026-04-20T08:00")) == "allowed"  # the Monday before


def test_dst_spring_forward_hour_does_not_exist() -> None:
    # 29 March 2026: 02:00 jumps to 03:00. 00:59 UTC is 01:59 CET, 01:00 UTC is 03:00 CEST.
    assert outcome(datetime(2026, 3, 29, 0, 59, tzinfo=UTC)) == "violation"
    assert outcome(datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == "violation"


def test_dst_fall_back_hour_counts_twice() -> None:
    # 25 October 2026: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert [outcome(first), outcome(second)] == ["allowed", "allowed"]
    assert outcome(datetime(2026, 10, 25, 2, 0, tzinfo=UTC)) == "violation"  # 03:00 CET


def test_nearest_window_is_reported_for_a_violation() -> None:
    decision = decide_window(local("2026-03-03T12:10"), AREA, DIESEL)
    assert decision.nearest is not None
    start, end, window = decision.nearest
    assert (start, end) == (local("2026-03-03T07:00"), local("2026-03-03T12:00"))
    assert window.label == "morning"
    assert "W4" in decision.rule_ids
    early = decide_window(local("2026-03-04T06:30"), AREA, DIESEL)
    assert early.nearest is not None and early.nearest[0] == local("2026-03-04T07:00")


def test_length_limit_and_missing_length() -> None:
    short_only = dataclasses.replace(
        AREA, windows=(AccessWindow(WEEKDAYS, time(7), time(12), max_length_cm=1000),)
    )
    when = local("2026-03-03T08:00")
    assert outcome(when, DIESEL, short_only) == "allowed"
    assert outcome(when, msgspec.structs.replace(DIESEL, length_cm=1200), short_only) == "violation"
    assert (
        outcome(when, msgspec.structs.replace(DIESEL, length_cm=None), short_only) == "undetermined"
    )


def test_scope_unknown_vehicle_and_area_exemption() -> None:
    car = msgspec.structs.replace(DIESEL, kind="Personenauto")
    assert outcome(local("2026-03-03T15:00"), car) == "out_of_scope"
    assert decide_window(local("2026-03-03T15:00"), AREA, None).outcome is Outcome.UNDETERMINED
    market = Exemption.for_dates("VBB12B", "markt", "Centrum", date(2026, 1, 1), date(2026, 12, 31))
    decision = decide_window(local("2026-03-03T15:00"), AREA, DIESEL, (market,))
    assert decision.outcome is Outcome.ALLOWED and "W5" in decision.rule_ids
    other = dataclasses.replace(market, scope="Amsterdam")
    assert decide_window(local("2026-03-03T15:00"), AREA, DIESEL, (other,)).outcome is (
        Outcome.VIOLATION
    )


def test_every_minute_of_a_week_is_decided_consistently() -> None:
    start = local("2026-03-02T00:00")
    allowed = sum(
        outcome(start + timedelta(minutes=m)) == "allowed" for m in range(0, 7 * 24 * 60, 15)
    )
    # 6 mornings of 5 h + Sunday 02:00-03:00, in 15-minute steps.
    assert allowed == (6 * 5 + 1) * 4


def test_window_sentences_render() -> None:
    decision = decide_window(local("2026-03-03T12:10"), AREA, DIESEL)
    for lang in ("nl", "en"):
        assert all("{" not in h.sentence_in(lang) for h in decision.rules)
