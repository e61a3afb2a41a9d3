"""Flow statistics of one batch as `flows` records, for the persisted policy statistics.

The decider counts each passage once into a `FlowTally` (the same facts the Prometheus flow
counters use); the tally becomes one `FlowBatch` per source partition, produced with the
batch's other outputs and acknowledged before the batch is, so a counted batch is never lost,
and keyed by the source partition so the sink sees one partition's batches in order.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from datetime import UTC, date, datetime

from enforcement.flows.records import FlowBatch, FlowCell, FlowEntry
from enforcement.model import LOCAL_TZ

FlowKey = tuple[str, str, datetime, str, str, str, str, str, str, str]
"""scope, scope id, hour (UTC), direction, origin, outcome, class, fuel, emission, window."""

Source = tuple[str, int, int]
"""topic, partition, offset of the consumed envelope."""

_HOURS: dict[int, datetime] = {}


def hour_of(instant: datetime) -> datetime:
    """The UTC start of the hour an instant falls in (Amsterdam offsets are whole hours, so
    this is also the local hour). Cached per hour: a batch spans a handful of hours."""
    index = int(instant.timestamp()) // 3600
    hour = _HOURS.get(index)
    if hour is None:
        if len(_HOURS) > 100_000:
            _HOURS.clear()
        hour = _HOURS[index] = datetime.fromtimestamp(index * 3600, UTC)
    return hour


def vehicle_digest(key: bytes, plate: str, day: date) -> str:
    """64 bits of HMAC-SHA256 over the local day and the plate: the same vehicle on one day
    gives one digest, on another day an unrelated one; without the key nobody can test a
    plate against it. A collision merges two vehicles, so a count of digests is a lower
    bound of the vehicles (what small-cell suppression needs)."""
    message = f"flows|{day.isoformat()}|{plate}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


class FlowTally:
    """Cells counted per source envelope, for one batch; with `vehicle_key`, each entering
    cell also carries the digests of its distinct vehicles (never a plate)."""

    __slots__ = ("_cells", "_digests", "_vehicles", "vehicle_key")

    def __init__(self, vehicle_key: bytes | None = None) -> None:
        self._cells: dict[Source, Counter[FlowKey]] = {}
        self._vehicles: dict[tuple[Source, FlowKey], set[str]] = {}
        self._digests: dict[tuple[str, datetime], str] = {}
        self.vehicle_key = vehicle_key

    def add(self, source: Source, key: FlowKey, plate: str | None = None) -> None:
        cells = self._cells.get(source)
        if cells is None:
            cells = self._cells[source] = Counter()
        cells[key] += 1
        if plate is None or self.vehicle_key is None or key[3] == "leaving":
            return
        hour = key[2]
        digest = self._digests.get((plate, hour))
        if digest is None:
            day = hour.astimezone(LOCAL_TZ).date()
            digest = self._digests[plate, hour] = vehicle_digest(self.vehicle_key, plate, day)
        self._vehicles.setdefault((source, key), set()).add(digest)

    def batches(self, worker: str) -> list[FlowBatch]:
        """One record per source partition, entries in offset order."""
        by_partition: dict[tuple[str, int], list[FlowEntry]] = {}
        for (topic, partition, offset), cells in sorted(self._cells.items()):
            source = (topic, partition, offset)
            by_partition.setdefault((topic, partition), []).append(
                FlowEntry(
                    offset,
                    tuple(
                        FlowCell(*key, count, tuple(sorted(self._vehicles.get((source, key), ()))))  # type: ignore[arg-type]
                        for key, count in cells.items()
                    ),
                )
            )
        return [
            FlowBatch(
                batch_id=f"{worker}/{topic}/{partition}/{entries[0].offset}",
                worker=worker,
                topic=topic,
                partition=partition,
                entries=tuple(entries),
            )
            for (topic, partition), entries in by_partition.items()
        ]
