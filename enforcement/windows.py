"""Access windows (venstertijden) with zero-emission privileges: a second, independent rule set.

Car-free shopping areas are open to goods vehicles only in loading windows (typically
07:00-12:00); zero-emission vehicles may get extra windows as a privilege (e.g. an evening
window). Rules spec §8 suggests `window(area, weekday, from, to, vehicle_filter)`; this module
is that model plus one pure function, `decide_window`, in the same style as `law.decide`.

Times are local wall-clock times in Europe/Amsterdam. A window whose end is not after its
start spans midnight and belongs to the day it starts on (Fri 22:00-02:00 covers Saturday
01:00). On a holiday only the windows marked for holidays apply. Around DST changes the
wall clock decides: on the last Sunday of March 02:00-03:00 does not exist, and in October
that hour happens twice and both count as inside a 02:00-03:00 window.

Rule ids: W1 area/scope, W2 inside a window, W3 ZE privilege window, W4 outside every
window (violation), W5 area exemption, W6 cannot decide (human).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from enforcement.model import (
    LOCAL_TZ,
    Exemption,
    Outcome,
    RuleHit,
    Vehicle,
    fold_name,
    unique_rule_ids,
)

HOLIDAY = 0
"""Put in `AccessWindow.days` for a window that applies on holidays (days 1-7 are ISO)."""


class VehicleFilter(enum.StrEnum):
    """Which vehicles a window admits."""

    ALL_GOODS = "all_goods"
    ZERO_EMISSION = "zero_emission"


@dataclass(frozen=True, slots=True)
class AccessWindow:
    days: frozenset[int]
    """ISO weekdays 1 (Mon) .. 7 (Sun) and/or HOLIDAY (0)."""
    start: time
    end: time
    """Exclusive. `end <= start` means the window runs past midnight into the next day."""
    vehicles: VehicleFilter = VehicleFilter.ALL_GOODS
    max_length_cm: int | None = None
    max_mass_kg: int | None = None
    label: str = ""

    @property
    def spans_midnight(self) -> bool:
        return self.end <= self.start

    def admits(self, vehicle: Vehicle) -> bool:
        if self.vehicles is VehicleFilter.ZERO_EMISSION and not vehicle.zero_emission:
            return False
        if self.max_length_cm is not None and (
            vehicle.length_cm is None or vehicle.length_cm > self.max_length_cm
        ):
            return False
        return self.max_mass_kg is None or (
            vehicle.max_mass_kg is not None and vehicle.max_mass_kg <= self.max_mass_kg
        )

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}" + (
            " (ZE)" if self.vehicles is VehicleFilter.ZERO_EMISSION else ""
        )


@dataclass(frozen=True, slots=True)
class AccessArea:
    id: str
    name: str
    municipality: str
    windows: tuple[AccessWindow, ...]
    holidays: frozenset[date] = frozenset()
    start: date | None = None
    """First day the windows are enforced; None = always."""
    kinds: frozenset[str] = frozenset({"Bedrijfsauto"})
    """RDW `voertuigsoort` values the windows apply to (goods traffic by default)."""

    def covers_scope(self, scope: str) -> bool:
        key = fold_name(scope)
        return key in {fold_name(self.id), fold_name(self.name), fold_name(self.municipality)}

    def windows_on(self, day: date) -> tuple[AccessWindow, ...]:
        key = HOLIDAY if day in self.holidays else day.isoweekday()
        return tuple(w for w in self.windows if key in w.days)


@dataclass(frozen=True, slots=True)
class WindowDecision:
    outcome: Outcome
    rules: tuple[RuleHit, ...]
    local_time: datetime
    window: AccessWindow | None = None
    """The window the passage fell in, when allowed by a window."""
    privilege: bool = False
    """True when only a zero-emission privilege window allowed the passage."""
    nearest: tuple[datetime, datetime, AccessWindow] | None = None
    """For a violation: the admitting window nearest to the passage (start, end, window)."""
    window_key: str | None = None
    """For de-duplication: the area-day of the missed (or used) window period."""
    exemption: Exemption | None = None

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return unique_rule_ids(self.rules)


def occurrences(
    area: AccessArea, around: datetime, days: int = 8
) -> list[tuple[datetime, datetime, AccessWindow]]:
    """Concrete window periods (local start, local end, window) from `days` before to after."""
    result: list[tuple[datetime, datetime, AccessWindow]] = []
    base = around.astimezone(LOCAL_TZ).date()
    for offset in range(-days, days + 1):
        day = base + timedelta(days=offset)
        for window in area.windows_on(day):
            end_day = day + timedelta(days=1) if window.spans_midnight else day
            result.append(
                (
                    datetime.combine(day, window.start, LOCAL_TZ),
                    datetime.combine(end_day, window.end, LOCAL_TZ),
                    window,
                )
            )
    return sorted(result, key=lambda item: item[0])


def _inside(local: datetime, start: datetime, end: datetime) -> bool:
    """Wall-clock comparison (naive), so DST-repeated hours count as inside."""
    naive = local.replace(tzinfo=None)
    return start.replace(tzinfo=None) <= naive < end.replace(tzinfo=None)


def decide_window(
    at: datetime,
    area: AccessArea,
    vehicle: Vehicle | None,
    exemptions: Sequence[Exemption] = (),
) -> WindowDecision:
    """Decide one passage into an access-window area."""
    if at.tzinfo is None:
        raise ValueError("passage time must be timezone-aware")
    local = at.astimezone(LOCAL_TZ)
    hits: list[RuleHit] = []

    def hit(rule_id: str, key: str, **args: object) -> None:
        hits.append(RuleHit(rule_id, key, tuple(args.items())))

    def done(outcome: Outcome, **kw: object) -> WindowDecision:
        return WindowDecision(outcome, tuple(hits), local, **kw)  # type: ignore[arg-type]

    if area.start is not None and local.date() < area.start:
        hit("W1", "area_not_started", area=area.name, start=area.start)
        return done(Outcome.OUT_OF_SCOPE)
    if vehicle is None or vehicle.kind is None:
        hit("W6", "window_unknown_vehicle")
        return done(Outcome.UNDETERMINED)
    if vehicle.kind not in area.kinds:
        hit("W1", "window_not_in_scope", kind=vehicle.kind, area=area.name)
        return done(Outcome.OUT_OF_SCOPE)

    periods = occurrences(area, local)
    current = [p for p in periods if _inside(local, p[0], p[1])]
    admitting = [p for p in current if p[2].admits(vehicle)]
    if admitting:
        start, _, window = min(
            admitting, key=lambda p: p[2].vehicles is not VehicleFilter.ALL_GOODS
        )
        privilege = window.vehicles is VehicleFilter.ZERO_EMISSION
        hit("W3" if privilege else "W2", "in_window", window=window.describe(), area=area.name)
        return done(
            Outcome.ALLOWED,
            window=window,
            privilege=privilege,
            window_key=f"{area.id}:{start.date().isoformat()}",
        )
    needs_data = [
        p
        for p in current
        if (p[2].max_length_cm is not None and vehicle.length_cm is None)
        or (p[2].max_mass_kg is not None and vehicle.max_mass_kg is None)
    ]
    if needs_data:
        hit("W6", "window_missing_data")
        return done(Outcome.UNDETERMINED)

    for exemption in exemptions:
        if exemption.valid_at(local) and area.covers_scope(exemption.scope):
            hit("W5", "window_exemption", type=exemption.type, area=area.name)
            return done(Outcome.ALLOWED, exemption=exemption)

    candidates = [p for p in periods if p[2].admits(vehicle)]
    nearest = None
    if candidates:

        def distance(p: tuple[datetime, datetime, AccessWindow]) -> timedelta:
            return p[0] - local if p[0] > local else local - p[1]

        nearest = min(candidates, key=distance)
        hit(
            "W4",
            "outside_windows",
            area=area.name,
            window=nearest[2].describe(),
            start=nearest[0],
        )
    else:
        hit("W4", "no_window_for_vehicle", area=area.name)
    if current and not vehicle.zero_emission:
        hit("W3", "privilege_ze_only", window=current[0][2].describe())
    return done(
        Outcome.VIOLATION,
        nearest=nearest,
        window_key=f"{area.id}:{local.date().isoformat()}",
    )
