"""The law decided once per kind of vehicle, not once per vehicle.

A passage without exemptions is decided by a handful of facts — its zone, its local day, its
read (`enforcement.law.passage_key`) and the register facts the rules happen to read on
the way to the answer — never by the plate. A passenger car is out of scope after two facts
(export flag, vehicle kind), a diesel van is decided by a dozen. So the memo does not guess
a key: on a miss it runs `decide` on a *recording* view of the vehicle, which notes each
field the rules read, in order, and files the answer under exactly those values in a tree:
one node per field read, one branch per value (by band where the law says a fact counts
only by its band, `enforcement.law.DECISION_BANDS`). The next vehicle walks the tree,
reading the same fields in the same order; reaching an answer means the rules would have
read those very values, and so would have answered the same.

`decide` is pure and deterministic, so the fields read depend only on the values read
before: the tree is exact whatever the rules become. `tests/stream/test_memo.py` compares
the memo with `decide` over 120,000 random passages built to share kinds.

Only what a quiet decision (`explain=False`) of a passage without exemptions carries is
cached. A branch on which the rules read the plate (R23's automatic ontheffing names it) or
whose decision names an exemption is marked "decide in full" and never shared.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Hashable
from datetime import date, datetime
from typing import Any, Final, NamedTuple, cast

from enforcement.law import DECISION_BANDS, PassageFacts, decide, passage_key
from enforcement.model import LOCAL_TZ, Decision, Outcome, Sanction, Vehicle, VehicleClass, Zone
from enforcement.params import LawParams

#: Answers kept per worker. A day of traffic has a few thousand kinds; past the bound the
#: memo starts over (the cheapest eviction: a miss costs one `decide`).
DEFAULT_MAX_KINDS: Final = 50_000


class _Answer(NamedTuple):
    """What a quiet decision of a passage without exemptions carries beyond its time."""

    outcome: Outcome
    vehicle_class: VehicleClass | None
    sanction: Sanction
    allowed_until: date | None


class _Full:
    """A branch whose passages are decided in full every time."""


_FULL: Final = _Full()
_MISSING: Final = object()


def _banded(band: Callable[[Any, LawParams], Hashable], params: LawParams, value: Any) -> Hashable:
    return band(value, params)


class _Node:
    """The rules read `field` here; `children` maps its value (or band) to what follows."""

    __slots__ = ("band", "children", "field")

    def __init__(self, field: str, params: LawParams) -> None:
        self.field = field
        # A root (and so every node under it) belongs to one zone: its band uses that zone's
        # parameters (R4's van maximum is a parameter).
        band = DECISION_BANDS.get(field)
        self.band: Callable[[Any], Hashable] | None = (
            None if band is None else functools.partial(_banded, band, params)
        )
        self.children: dict[Hashable, object] = {}


class _Recorder:
    """A vehicle that notes each field `decide` reads, first read first. Properties and
    methods run with the recorder as `self`, so the fields they read are noted too."""

    __slots__ = ("_vehicle", "read")

    def __init__(self, vehicle: Vehicle) -> None:
        self._vehicle = vehicle
        self.read: dict[str, object] = {}

    def __getattr__(self, name: str) -> Any:
        how = _READS.get(name)
        if how is None:
            how = _READS[name] = _how_to_read(name)
        if how is _FIELD:
            value = getattr(self._vehicle, name)
            self.read.setdefault(name, value)
            return value
        return how(self)


def _FIELD(recorder: _Recorder) -> Any:  # noqa: N802 (a marker, never called)
    raise AssertionError("a marker")


def _how_to_read(name: str) -> Callable[[_Recorder], Any]:
    """How the recorder reads `name`: a dataclass field (noted), a property (run on the
    recorder) or a method (bound to it)."""
    attribute = getattr(Vehicle, name, None)
    if isinstance(attribute, property) and attribute.fget is not None:
        return attribute.fget
    if callable(attribute) and not hasattr(attribute, "__set__"):
        method: Callable[[_Recorder], Any] = attribute.__get__
        return method
    return _FIELD


#: Per attribute name of Vehicle, how the recorder reads it (the same for every vehicle).
_READS: dict[str, Callable[[_Recorder], Any]] = {}


def _decision_maker() -> Callable[[Outcome, datetime, _Answer], Decision]:
    """Decisions of memo hits built by setting their slots directly: the dataclass's
    `__init__` goes through `object.__setattr__` for each of its nine fields, a fifth of a
    hit's cost. Falls back to the constructor if Decision ever validates."""
    if hasattr(Decision, "__post_init__") or not hasattr(Decision, "__slots__"):
        return lambda outcome, local, a: Decision(
            outcome, (), local, a.vehicle_class, a.sanction, a.allowed_until
        )
    setters = [getattr(Decision, f.name).__set__ for f in dataclasses.fields(Decision)]
    if [f.name for f in dataclasses.fields(Decision)][:6] != [
        "outcome", "rules", "local_time", "vehicle_class", "sanction", "allowed_until",
    ]:  # fmt: skip
        raise RuntimeError("Decision's fields changed: update stream.memo")
    rest = [f.default for f in dataclasses.fields(Decision)][6:]
    new = object.__new__

    def make(outcome: Outcome, local: datetime, a: _Answer) -> Decision:
        decision: Decision = new(Decision)
        values = (outcome, (), local, a.vehicle_class, a.sanction, a.allowed_until, *rest)
        for setter, value in zip(setters, values, strict=True):
            setter(decision, value)
        return decision

    return make


_make_decision: Final = _decision_maker()


class QuietDecisions:
    """`decide(at, zone, vehicle, (), facts=facts, explain=False)`, memoised per kind.

    Per worker (no locking: one asyncio loop), bounded by `max_kinds` answers (0: off, every
    passage decided in full). Only for passages without exemptions, decided with the zone's
    own parameters."""

    def __init__(self, max_kinds: int = DEFAULT_MAX_KINDS) -> None:
        if max_kinds < 0:
            raise ValueError("max_kinds must be >= 0 (0: off)")
        self.max_kinds = max_kinds
        self.hits = 0
        """Answered from the memo."""
        self.misses = 0
        """Decided and learnt."""
        self.full = 0
        """Decided in full on a branch that is never shared."""
        self._size = 0
        self._roots: dict[Hashable, object] = {}
        self._zones: dict[int, Zone] = {}  # keeps every keyed zone alive: its id stays its own

    @property
    def hit_rate(self) -> float:
        looked = self.hits + self.misses + self.full
        return self.hits / looked if looked else 0.0

    def __len__(self) -> int:
        """Answers (and "decide in full" marks) kept."""
        return self._size

    def quiet_decision(
        self, at: datetime, zone: Zone, vehicle: Vehicle | None, facts: PassageFacts
    ) -> Decision:
        """The quiet decision (`explain=False`) of a passage without exemptions: the memo's
        answer for the vehicle's kind, or `decide`'s, learnt for the next of its kind."""
        if at.utcoffset() is None or not self.max_kinds:
            return decide(at, zone, vehicle, facts=facts, explain=False)  # naive: raises (R39)
        local = at.astimezone(LOCAL_TZ)
        root = (id(zone), local.date(), passage_key(facts, zone.params), vehicle is None)
        found = self._roots.get(root, _MISSING)
        while type(found) is _Node:
            value = getattr(vehicle, found.field)
            band = found.band
            found = found.children.get(value if band is None else band(value), _MISSING)
        if type(found) is _Answer:
            self.hits += 1
            return _make_decision(found.outcome, local, found)
        if found is _FULL:
            self.full += 1
            return decide(at, zone, vehicle, facts=facts, explain=False)
        self.misses += 1
        return self._learn(root, at, zone, vehicle, facts)

    def _learn(
        self,
        root: Hashable,
        at: datetime,
        zone: Zone,
        vehicle: Vehicle | None,
        facts: PassageFacts,
    ) -> Decision:
        recorder = _Recorder(vehicle) if vehicle is not None else None
        decision = decide(at, zone, cast(Vehicle | None, recorder), facts=facts, explain=False)
        path = list(recorder.read.items()) if recorder is not None else []
        names = [name for name, _ in path]
        leaf: object
        if "plate" in names:
            path, leaf = path[: names.index("plate")], _FULL
        elif decision.exemption is not None or decision.day_permit_day is not None:
            leaf = _FULL
        else:
            leaf = _Answer(
                decision.outcome, decision.vehicle_class, decision.sanction, decision.allowed_until
            )
        if self._size >= self.max_kinds:
            self._roots.clear()
            self._size = 0
        self._zones.setdefault(id(zone), zone)
        self._file(root, path, leaf, zone.params)
        return decision

    def _file(
        self, root: Hashable, path: list[tuple[str, object]], leaf: object, params: LawParams
    ) -> None:
        holder: dict[Hashable, object] = self._roots
        slot: Hashable = root
        value: Any
        for name, value in path:
            node = holder.get(slot, _MISSING)
            if node is _MISSING:
                node = holder[slot] = _Node(name, params)
            if type(node) is not _Node or node.field != name:
                return  # not the path an earlier vehicle took: keep what is there
            band = node.band
            holder, slot = node.children, value if band is None else band(value)
        if slot not in holder:
            holder[slot] = leaf
            self._size += 1
