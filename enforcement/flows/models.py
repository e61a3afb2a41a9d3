"""The flow statistics' tables: anonymous counts per zone or area and hour, day or day-hour,
and the sink's watermarks and batch log. They live in the case database (one schema, one
Alembic history, `casework.models.Base`), but belong to the flows, not to casework."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from enforcement.casework.models import Base


class _FlowCellCount:
    """The dimensions of a flow cell and its count, alike in `FlowHour` and `FlowDay` (the
    day table sums the hour table over the day); each table's unique constraint names them
    after its own time columns."""

    direction: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(32))
    vehicle_class: Mapped[str] = mapped_column(String(32))
    fuel_group: Mapped[str] = mapped_column(String(32))
    emission_class: Mapped[str] = mapped_column(String(32))
    window: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(BigInteger)


class FlowHour(_FlowCellCount, Base):
    """Persisted logistics-flow statistics: one anonymous count per zone or area, hour and
    kind of vehicle (`enforcement.flows`). No plate, passage or camera is part of a row."""

    __tablename__ = "flow_hours"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))
    scope_id: Mapped[str] = mapped_column(String(64))
    hour: Mapped[datetime]
    """Start of the hour, UTC."""
    local_date: Mapped[date] = mapped_column(Date)
    """The Europe/Amsterdam calendar day of the hour (R39), for period queries."""
    local_hour: Mapped[int] = mapped_column(SmallInteger)
    weekday: Mapped[int] = mapped_column(SmallInteger)
    """ISO weekday of `local_date`, 1 = Monday."""

    __table_args__ = (
        UniqueConstraint(
            "scope", "scope_id", "hour", "direction", "origin", "outcome", "vehicle_class",
            "fuel_group", "emission_class", "window", name="uq_flow_hours_cell",
        ),
        Index("ix_flow_hours_scope_date", "scope", "scope_id", "local_date"),
    )  # fmt: skip


class FlowDay(_FlowCellCount, Base):
    """The same counts summed per local day (written with `FlowHour` in one transaction): the
    back office's period charts read a year as ~7,000 rows a zone instead of ~130,000."""

    __tablename__ = "flow_days"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))
    scope_id: Mapped[str] = mapped_column(String(64))
    local_date: Mapped[date] = mapped_column(Date)

    __table_args__ = (
        UniqueConstraint(
            "scope", "scope_id", "local_date", "direction", "origin", "outcome", "vehicle_class",
            "fuel_group", "emission_class", "window", name="uq_flow_days_cell",
        ),
    )  # fmt: skip


class FlowDayHour(Base):
    """Passages per local day, hour and direction, whatever the vehicle (the same counts
    again): the hour-and-weekday chart reads a year as 8,760 rows a zone."""

    __tablename__ = "flow_day_hours"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))
    scope_id: Mapped[str] = mapped_column(String(64))
    local_date: Mapped[date] = mapped_column(Date)
    local_hour: Mapped[int] = mapped_column(SmallInteger)
    direction: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint(
            "scope", "scope_id", "local_date", "local_hour", "direction",
            name="uq_flow_day_hours_cell",
        ),
    )  # fmt: skip


class FlowWatermark(Base):
    """Per source partition of the passages topic: the last envelope offset whose flow cells
    are persisted. The sink skips any entry at or below it (exactly once across redelivery
    and rebalancing, whatever the batch boundaries)."""

    __tablename__ = "flow_watermarks"

    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class FlowBatchLog(Base):
    """The flow batches applied, by batch id (worker/topic/partition/first offset)."""

    __tablename__ = "flow_batches"

    batch_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(index=True)
    entries: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)
    """Entries already persisted by an earlier batch (a redelivery)."""


class FlowVehicleDigest(Base):
    """Which vehicles a flow base cell holds while its day is open: keyed digests (HMAC of
    the day and the plate, 64 bits; never a plate), so the open data can tell 5 passages of
    one tractor from 5 vehicles. Deleted when the day closes (`flows.store.close_days`),
    leaving only `FlowVehicleCount`."""

    __tablename__ = "flow_vehicle_digests"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    scope_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    cell: Mapped[str] = mapped_column(String(200), primary_key=True)
    """The base cell within the day (`flows.store.day_cell` / `hour_cell`)."""
    digest: Mapped[str] = mapped_column(String(16), primary_key=True)


class FlowVehicleCount(Base):
    """Distinct vehicles of a base cell of a closed day: a lower bound (a digest collision
    only merges two vehicles), what small-cell suppression compares with k."""

    __tablename__ = "flow_vehicle_counts"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    scope_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    cell: Mapped[str] = mapped_column(String(200), primary_key=True)
    vehicles: Mapped[int] = mapped_column(Integer)
