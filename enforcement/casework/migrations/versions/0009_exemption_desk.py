"""exemption desk: applications and their monthly tallies

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import enforcement.casework.models

revision = "0009"
down_revision = "0007"  # re-chained onto 0008 when that lands
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exemption_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("municipality", sa.String(length=64), nullable=False),
        sa.Column("type_key", sa.String(length=48), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("trips_per_year", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "submitted_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("policy_code", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=True),
        sa.Column("code_args", sa.JSON(), nullable=False),
        sa.Column("officer_note", sa.Text(), nullable=False),
        sa.Column("first_officer_id", sa.Integer(), nullable=True),
        sa.Column(
            "decided_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("fee_cents", sa.Integer(), nullable=True),
        sa.Column("exemption_reference", sa.String(length=64), nullable=True),
        sa.Column("purge_after", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exemption_applications")),
        sa.UniqueConstraint("reference", name=op.f("uq_exemption_applications_reference")),
    )
    with op.batch_alter_table("exemption_applications", schema=None) as batch_op:
        for column in ("municipality", "plate", "status", "purge_after"):
            batch_op.create_index(
                batch_op.f(f"ix_exemption_applications_{column}"), [column], unique=False
            )
    op.create_table(
        "exemption_tallies",
        sa.Column("municipality", sa.String(length=64), nullable=False),
        sa.Column("type_key", sa.String(length=48), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("granted", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("automatic", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "municipality", "type_key", "month", name=op.f("pk_exemption_tallies")
        ),
    )


def downgrade() -> None:
    op.drop_table("exemption_tallies")
    with op.batch_alter_table("exemption_applications", schema=None) as batch_op:
        for column in ("purge_after", "status", "plate", "municipality"):
            batch_op.drop_index(batch_op.f(f"ix_exemption_applications_{column}"))
    op.drop_table("exemption_applications")
