"""flow statistics

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import enforcement.casework.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flow_batches",
        sa.Column("batch_id", sa.String(length=200), nullable=False),
        sa.Column(
            "applied_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_flow_batches")),
    )
    with op.batch_alter_table("flow_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_flow_batches_applied_at"), ["applied_at"], unique=False
        )

    op.create_table(
        "flow_day_hours",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("local_hour", sa.SmallInteger(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_day_hours")),
        sa.UniqueConstraint(
            "scope",
            "scope_id",
            "local_date",
            "local_hour",
            "direction",
            name="uq_flow_day_hours_cell",
        ),
    )
    op.create_table(
        "flow_days",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("vehicle_class", sa.String(length=32), nullable=False),
        sa.Column("fuel_group", sa.String(length=32), nullable=False),
        sa.Column("emission_class", sa.String(length=32), nullable=False),
        sa.Column("window", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_days")),
        sa.UniqueConstraint(
            "scope",
            "scope_id",
            "local_date",
            "direction",
            "origin",
            "outcome",
            "vehicle_class",
            "fuel_group",
            "emission_class",
            "window",
            name="uq_flow_days_cell",
        ),
    )
    op.create_table(
        "flow_hours",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("hour", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("local_hour", sa.SmallInteger(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("vehicle_class", sa.String(length=32), nullable=False),
        sa.Column("fuel_group", sa.String(length=32), nullable=False),
        sa.Column("emission_class", sa.String(length=32), nullable=False),
        sa.Column("window", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_hours")),
        sa.UniqueConstraint(
            "scope",
            "scope_id",
            "hour",
            "direction",
            "origin",
            "outcome",
            "vehicle_class",
            "fuel_group",
            "emission_class",
            "window",
            name="uq_flow_hours_cell",
        ),
    )
    with op.batch_alter_table("flow_hours", schema=None) as batch_op:
        batch_op.create_index(
            "ix_flow_hours_scope_date", ["scope", "scope_id", "local_date"], unique=False
        )

    op.create_table(
        "flow_watermarks",
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("last_offset", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("topic", "partition", name=op.f("pk_flow_watermarks")),
    )


def downgrade() -> None:
    op.drop_table("flow_watermarks")
    with op.batch_alter_table("flow_hours", schema=None) as batch_op:
        batch_op.drop_index("ix_flow_hours_scope_date")

    op.drop_table("flow_hours")
    op.drop_table("flow_days")
    op.drop_table("flow_day_hours")
    with op.batch_alter_table("flow_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_batches_applied_at"))

    op.drop_table("flow_batches")
