"""Flow batches for tests, built the way the stream builds them."""

from __future__ import annotations

import datetime as dt

from enforcement.flows.records import FlowBatch
from stream.flows import FlowKey, FlowTally

HOUR = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC)  # 08:00 in Amsterdam, a Monday


def key(
    zone: str = "utrecht",
    *,
    hour: dt.datetime = HOUR,
    direction: str = "entering",
    origin: str = "nl",
    vehicle_class: str = "van",
    fuel: str = "diesel",
    emission: str = "6",
    scope: str = "zone",
    window: str = "none",
    outcome: str = "allowed",
) -> FlowKey:
    return (scope, zone, hour, direction, origin, outcome, vehicle_class, fuel, emission, window)


VEHICLE_KEY = bytes(range(32))


def batch(
    offsets: range,
    keys: list[FlowKey],
    *,
    partition: int = 0,
    worker: str = "w1",
    plate: str | None = None,
) -> FlowBatch:
    """One batch of envelopes at `offsets`; envelope i counts `keys` once each, each entry
    by another vehicle, or all by `plate`."""
    tally = FlowTally(VEHICLE_KEY)
    for offset in offsets:
        for n, k in enumerate(keys):
            vehicle = plate or f"P{partition}-{offset}-{n}"
            tally.add(("passages", partition, offset), k, vehicle)
    (only,) = tally.batches(worker)
    return only
