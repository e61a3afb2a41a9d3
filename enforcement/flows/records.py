"""The `flows` topic's records: anonymous hourly counts of one stream batch.

A record holds, per consumed passage envelope (its source offset), the cells its passages
counted into. The sink de-duplicates by source partition and offset, so a batch that a worker
re-reads after a crash or a rebalance (with other batch boundaries) is never counted twice.
Pure: schemas and codec only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from enforcement.records import Direction

Label = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[\w.:-]+$")]
Scope = Literal["zone", "area"]
Origin = Literal["nl", "foreign"]
WindowState = Literal["none", "in", "privilege", "exempt", "out", "out_of_scope", "undetermined"]


class FlowCell(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """One count: a zone or area, a local hour and the vehicle's kind, never the vehicle.

    Array-like on the wire: a batch carries hundreds of these, and field names would triple it.
    """

    scope: Scope
    scope_id: Label
    hour: datetime
    """Start of the hour, UTC (aware). Local hour-of-day and weekday derive from it (R39)."""
    direction: Direction
    origin: Origin
    outcome: Label
    vehicle_class: Label
    fuel_group: Label
    emission_class: Label
    window: WindowState
    count: Annotated[int, msgspec.Meta(ge=1)]


class FlowEntry(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """The cells of one consumed passage envelope."""

    offset: Annotated[int, msgspec.Meta(ge=0)]
    cells: tuple[FlowCell, ...]


class FlowBatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What one stream worker counted in one batch from one source partition."""

    schema: Literal[1] = 1
    """A new layout gets a new literal, and readers refuse unknown ones."""
    batch_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    """worker/topic/partition/first offset: unique per batch, for logs and the sink's table."""
    worker: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    topic: Label
    partition: Annotated[int, msgspec.Meta(ge=0)]
    entries: tuple[FlowEntry, ...]


class FlowRecordError(ValueError):
    """A `flows` record that cannot be read."""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(FlowBatch)


def encode_flow_batch(batch: FlowBatch) -> bytes:
    return _encoder.encode(batch)


def decode_flow_batch(data: bytes) -> FlowBatch:
    try:
        batch = _decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise FlowRecordError(f"flows record: {exc}") from None
    offsets = [entry.offset for entry in batch.entries]
    if offsets != sorted(set(offsets)):
        raise FlowRecordError("flows record: entry offsets must increase")
    for entry in batch.entries:
        for cell in entry.cells:
            if cell.hour.tzinfo is None or cell.hour.utcoffset() is None:
                raise FlowRecordError("flows record: a cell's hour must be an aware instant")
            if cell.hour.minute or cell.hour.second or cell.hour.microsecond:
                raise FlowRecordError("flows record: a cell's hour must start on the hour")
    return batch
