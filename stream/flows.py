"""Flow statistics of one batch as `flows` records, for the persisted policy statistics.

The decider counts each passage once into a `FlowTally` (the same facts the Prometheus flow
counters use); the tally becomes one `FlowBatch` per source partition, produced with the
batch's other outputs and acknowledged before the batch is, so a counted batch is never lost,
and keyed by the source partition so the sink sees one partition's batches in order.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from enforcement.flows.records import FlowBatch, FlowCell, FlowEntry

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


class FlowTally:
    """Cells counted per source envelope, for one batch."""

    __slots__ = ("_cells",)

    def __init__(self) -> None:
        self._cells: dict[Source, Counter[FlowKey]] = {}

    def add(self, source: Source, key: FlowKey) -> None:
        cells = self._cells.get(source)
        if cells is None:
            cells = self._cells[source] = Counter()
        cells[key] += 1

    def batches(self, worker: str) -> list[FlowBatch]:
        """One record per source partition, entries in offset order."""
        by_partition: dict[tuple[str, int], list[FlowEntry]] = {}
        for (topic, partition, offset), cells in sorted(self._cells.items()):
            by_partition.setdefault((topic, partition), []).append(
                FlowEntry(offset, tuple(FlowCell(*key, count) for key, count in cells.items()))  # type: ignore[arg-type]
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
