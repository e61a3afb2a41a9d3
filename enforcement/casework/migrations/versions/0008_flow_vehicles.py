"""distinct vehicles per flow base cell (issue 23: open data counted passages, not vehicles);
`users.must_change_password` (an admin's reset forces a change at the next login)

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _cell() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("cell", sa.String(length=200), nullable=False),
    )


def upgrade() -> None:
    op.create_table(
        "flow_vehicle_digests",
        *_cell(),
        sa.Column("digest", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint(
            "scope",
            "scope_id",
            "local_date",
            "cell",
            "digest",
            name=op.f("pk_flow_vehicle_digests"),
        ),
    )
    op.create_table(
        "flow_vehicle_counts",
        *_cell(),
        sa.Column("vehicles", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "scope", "scope_id", "local_date", "cell", name=op.f("pk_flow_vehicle_counts")
        ),
    )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
    op.drop_table("flow_vehicle_counts")
    op.drop_table("flow_vehicle_digests")
