"""Small-cell suppression of the open flow data. Pure.

The method (documented in deploy/README.md, "Open flow data"):

1. Base cells are the persisted counts per local day and kind of vehicle (origin, vehicle
   class, fuel group, emission class, window state), and per local day and hour.
2. A base cell with entries from fewer than k distinct vehicles is *small* (however many
   entries: one tractor entering five times is one vehicle): it is never published, only as
   `<k`. The distinct vehicles are counted from keyed day digests (`stream.flows`), a lower
   bound, so a cell published exactly always holds at least k vehicles.
3. Every published figure (a table cell or a total) is a sum of base cells. Its published value
   is computed from the base cells' published values only:
   - no small base cell in it: the exact sum;
   - otherwise: the exact part plus k/2 for each small cell (the middle of 1..k-1), rounded to
     the nearest multiple of k and marked `rounded`; shown as `<k` when that is below k.
4. So a published figure never depends on the value of a small cell, only on how many there
   are: changing any small cell to any other value in 1..k-1 changes nothing that is
   published, and no subtraction of published figures, in one answer or across answers,
   recovers one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figure:
    """A published count: `value` None when suppressed (shown as `<k`)."""

    value: int | None
    rounded: bool = False

    def text(self, k: int) -> str:
        return f"<{k}" if self.value is None else str(self.value)


def publish(cells: Sequence[int | tuple[int, int]], k: int) -> Figure:
    """The published figure of a sum of base cells, each (entries, distinct vehicles) or
    one number for both (see the module's method)."""
    pairs = [c if isinstance(c, tuple) else (c, c) for c in cells]
    if k < 2:
        return Figure(sum(entries for entries, _ in pairs))
    small = [(e, v) for e, v in pairs if e > 0 and v < k]
    exact = sum(e for e, _ in pairs) - sum(e for e, _ in small)
    return figure(exact, len(small), k)


def figure(exact: int, small: int, k: int) -> Figure:
    """The published figure of base cells summing to `exact` outside their `small` small
    cells: the small cells' values are not an argument, so they cannot show."""
    if k < 2 or not small:
        return Figure(exact)
    estimate = exact + small * k / 2
    if estimate < k:
        return Figure(None)
    return Figure(k * int(estimate / k + 0.5), rounded=True)
