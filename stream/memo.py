"""The law decided once per kind of vehicle, not once per vehicle.

A passage without exemptions is decided by a handful of facts — its zone, its local day and
`enforcement.law.decision_key` (the read, the plate's kind, the register facts the rules
read) — not by the plate. Compliant traffic is ~95% of all passages and falls into a few
thousand such kinds a day, so a worker keeps the quiet decision (`explain=False`) of each
kind it saw and answers the next passage of that kind without running the rules.

Exact by construction: the key holds every fact `decide` reads (`tests/stream/test_memo.py`
checks that by recording each vehicle attribute `decide` touches, and compares the memo with
`decide` over 100,000 random vehicles, zones and dates). Only what a quiet decision of a
passage without exemptions can carry is cached; a decision that names an exemption (R23's
automatic ontheffing carries the vehicle's plate) is never cached, and is decided in full
every time.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import date, datetime
from typing import Final, NamedTuple

from enforcement.law import PassageFacts, decide, decision_key
from enforcement.model import LOCAL_TZ, Decision, Outcome, Sanction, Vehicle, VehicleClass, Zone

#: Kinds kept per worker. A kind is ~1 KB (key tuple and answer); a day of Dutch traffic has
#: a few thousand, so this bound is reached only by a register of very varied vehicles, and
#: then the memo starts over (the cheapest eviction: a miss costs one `decide`).
DEFAULT_MAX_KINDS: Final = 50_000


class _Answer(NamedTuple):
    """What a quiet decision of a passage without exemptions carries beyond its time."""

    outcome: Outcome
    vehicle_class: VehicleClass | None
    sanction: Sanction
    allowed_until: date | None


#: A kind whose decision cannot be shared (it names an exemption): always decided in full.
_FULL: Final = None


class QuietDecisions:
    """`decide(at, zone, vehicle, (), facts=facts, explain=False)`, memoised per kind.

    Per worker (no locking: one asyncio loop), bounded by `max_kinds`. Only for passages
    without exemptions and with the zone's own parameters; anything else calls `decide`."""

    def __init__(self, max_kinds: int = DEFAULT_MAX_KINDS) -> None:
        if max_kinds < 1:
            raise ValueError("max_kinds must be at least 1")
        self.max_kinds = max_kinds
        self.hits = 0
        self.misses = 0
        self._answers: dict[Hashable, _Answer | None] = {}
        self._zones: dict[int, Zone] = {}  # keeps every keyed zone alive: its id stays its own

    @property
    def hit_rate(self) -> float:
        looked = self.hits + self.misses
        return self.hits / looked if looked else 0.0

    def __len__(self) -> int:
        return len(self._answers)

    def decide(
        self, at: datetime, zone: Zone, vehicle: Vehicle | None, facts: PassageFacts
    ) -> Decision:
        if at.utcoffset() is None:
            return decide(at, zone, vehicle, facts=facts, explain=False)  # raises (R39)
        local = at.astimezone(LOCAL_TZ)
        key = (id(zone), local.date(), decision_key(vehicle, facts, zone.params))
        try:
            answer = self._answers[key]
        except KeyError:
            pass
        else:
            if answer is not None:
                self.hits += 1
                return Decision(
                    answer.outcome,
                    (),
                    local,
                    answer.vehicle_class,
                    answer.sanction,
                    answer.allowed_until,
                )
        self.misses += 1
        decision = decide(at, zone, vehicle, facts=facts, explain=False)
        if len(self._answers) >= self.max_kinds:
            self._answers.clear()
        self._zones.setdefault(id(zone), zone)
        self._answers[key] = (
            _FULL
            if decision.exemption is not None or decision.day_permit_day is not None
            else _Answer(
                decision.outcome,
                decision.vehicle_class,
                decision.sanction,
                decision.allowed_until,
            )
        )
        return decision
