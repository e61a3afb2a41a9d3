from __future__ import annotations

import datetime as dt

import pytest

from enforcement.flows.tables import DayCell, HourCell, exact, period_label, periods


@pytest.mark.parametrize(
    ("granularity", "label"),
    [("day", "2026-12-31"), ("week", "2026-W53"), ("month", "2026-12"), ("year", "2026")],
)
def test_period_labels(granularity: str, label: str) -> None:
    assert period_label(dt.date(2026, 12, 31), granularity) == label


def test_iso_week_of_new_year_belongs_to_the_week_it_starts_in() -> None:
    assert period_label(dt.date(2027, 1, 1), "week") == "2026-W53"
    assert periods(dt.date(2026, 12, 28), dt.date(2027, 1, 5), "week") == ["2026-W53", "2027-W01"]


def test_exact_tables_place_each_cell_once_per_table() -> None:
    day = dt.date(2026, 3, 2)
    days = (
        DayCell(day, "nl", "van", "zero_emission", "Z", "in", 7, 7),
        DayCell(day, "nl", "van", "diesel", "6", "out", 3, 3),
        DayCell(day, "foreign", "unknown", "unknown", "unknown", "none", 4, 4),
    )
    hours = (HourCell(day, 8, 10, 10), HourCell(day, 9, 4, 4))
    tables = exact(days, hours, "month", area=True)
    assert tables["origin"]["2026-03"] == {"nl": 10, "foreign": 4, "total": 14}
    assert tables["vehicle_class"]["2026-03"] == {"van": 10, "total": 10}  # NL plates only
    assert tables["zero_emission"]["2026-03"] == {"zero_emission": 7, "other": 3, "total": 10}
    assert tables["emission_fuel"]["Z"] == {"zero_emission": 7, "total": 7}
    assert tables["window"]["2026-03"]["in"] == 7
    assert tables["hour_weekday"]["08"] == {"1": 10, "total": 10}  # 2 March 2026 is a Monday
    assert exact(days, hours, "month", area=False)["window"] == {}
