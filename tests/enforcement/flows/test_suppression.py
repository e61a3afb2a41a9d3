"""Small-cell suppression: no published figure depends on a small cell's value."""

from __future__ import annotations

import datetime as dt
import random
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from enforcement.flows.opendata import OpenRow, open_rows
from enforcement.flows.suppression import Figure, publish
from enforcement.flows.tables import DayCell, HourCell, exact

K = 5
C = TypeVar("C", DayCell, HourCell)


def test_a_small_cell_alone_is_shown_as_below_k() -> None:
    for count in range(1, K):
        assert publish([count], K) == Figure(None)
        assert publish([count], K).text(K) == "<5"


def test_cells_of_k_or_more_and_their_exact_totals() -> None:
    assert publish([K], K) == Figure(K)
    assert publish([7, 12, 0], K) == Figure(19)


def test_a_total_holding_a_small_cell_is_rounded_without_using_its_value() -> None:
    # 10 + one small cell: 10 + 2.5 -> 12.5 -> rounded to 15, whatever the small cell holds.
    figures = {publish([10, small], K) for small in range(1, K)}
    assert figures == {Figure(15, rounded=True)}


def test_switched_off_with_k_1() -> None:
    assert publish([1, 2], 1) == Figure(3)


DAY = dt.date(2026, 3, 2)
ORIGINS = ("nl", "foreign")
CLASSES = ("van", "rigid", "tractor")
FUELS = ("diesel", "zero_emission", "petrol")
EMISSIONS = ("5", "6", "Z")


def _cells(seed: int, n: int) -> tuple[list[DayCell], list[HourCell]]:
    rng = random.Random(seed)
    days = {}
    for _ in range(n):
        key = (
            DAY + dt.timedelta(days=rng.randrange(40)),
            rng.choice(ORIGINS),
            rng.choice(CLASSES),
            rng.choice(FUELS),
            rng.choice(EMISSIONS),
            "none",
        )
        days[key] = rng.choice((1, 2, 3, 4, 5, 6, 9, 20, 40))
    hours = {}
    for _ in range(n):
        key2 = (DAY + dt.timedelta(days=rng.randrange(40)), rng.randrange(24))
        hours[key2] = rng.choice((1, 3, 4, 5, 8, 30))
    return (
        [DayCell(*k, v, v) for k, v in days.items()],
        [HourCell(*k, v, v) for k, v in hours.items()],
    )


def _publish(days: list[DayCell], hours: list[HourCell], granularity: str) -> list[OpenRow]:
    return open_rows(
        "zone", "utrecht", "2026-03-02", "2026-04-10", tuple(days), tuple(hours),
        granularity, K,  # type: ignore[arg-type]
    )  # fmt: skip


#: A random set of cells (`seed`, `n` of them) published per day, week, month or year: what
#: both subtraction properties range over.
_any_publication = given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 120),
    granularity=st.sampled_from(("day", "week", "month", "year")),
)


def _small(cell: C, vehicles: int) -> C:
    return cell._replace(entries=vehicles, vehicles=vehicles)


@settings(max_examples=60, deadline=None)
@_any_publication
def test_changing_any_small_cell_changes_nothing_published(
    seed: int, n: int, granularity: str
) -> None:
    """The strongest form of 'cannot be recovered by subtraction': the whole publication is
    the same whatever value in 1..k-1 each small cell holds."""
    days, hours = _cells(seed, n)
    rng = random.Random(seed + 1)
    before = _publish(days, hours, granularity)
    other_days = [_small(c, rng.randrange(1, K)) if c.vehicles < K else c for c in days]
    other_hours = [_small(c, rng.randrange(1, K)) if c.vehicles < K else c for c in hours]
    assert _publish(other_days, other_hours, granularity) == before


def test_subtraction_of_published_figures_does_not_recover_a_small_cell() -> None:
    """The attack itself: a row total minus its exact cells would give the small cell."""
    days = [
        DayCell(DAY, "nl", "van", "diesel", "6", "none", 40, 40),
        DayCell(DAY, "nl", "rigid", "diesel", "6", "none", 12, 12),
        DayCell(DAY, "nl", "tractor", "diesel", "5", "none", 2, 2),  # the rare truck
    ]
    rows = _publish(days, [], "day")
    by = {(r.table, r.row, r.column): r for r in rows}
    cls = {c: by["vehicle_class", "2026-03-02", c] for c in ("van", "rigid", "tractor", "total")}
    assert cls["tractor"].count == "<5"
    assert cls["total"].rounded
    recovered = int(cls["total"].count) - int(cls["van"].count) - int(cls["rigid"].count)
    assert recovered == 3  # 55 - 52: the k/2 rule's estimate, not the truck's 2
    # ... and it would be the same 3 had the truck cell held 1, 3 or 4:
    for small in (1, 3, 4):
        again = _publish([*days[:2], _small(days[2], small)], [], "day")
        assert again == rows
    # the exact tables (back office) do hold the truth
    assert exact(tuple(days), (), "day", area=False)["vehicle_class"]["2026-03-02"]["total"] == 54


def test_one_vehicle_entering_k_times_is_one_vehicle_not_k() -> None:
    """Issue 23: one LPG tractor entering five times was published as `5`, not rounded,
    and as `6` after one more entry."""
    for entries in (K, K + 1, 40):
        assert publish([(entries, 1)], K) == Figure(None)
    assert publish([(6, K)], K) == Figure(6)  # five vehicles, one of them twice: exact
    assert publish([(40, 40), (9, 2)], K) == Figure(45, rounded=True)  # 40 + k/2, rounded


@settings(max_examples=60, deadline=None)
@_any_publication
def test_no_exact_figure_holds_a_cell_of_fewer_than_k_vehicles(
    seed: int, n: int, granularity: str
) -> None:
    """Cells with many entries from few vehicles: their entries never reach an exact
    figure, so changing them changes nothing published."""
    days, hours = _cells(seed, n)
    rng = random.Random(seed + 2)
    few = [c._replace(vehicles=rng.randrange(1, K)) if rng.random() < 0.3 else c for c in days]
    more = [c._replace(entries=c.entries + rng.randrange(1, 50)) if c.vehicles < K else c
            for c in few]  # fmt: skip
    assert _publish(more, hours, granularity) == _publish(few, hours, granularity)
