"""case outcomes after the export; the capture clock state of evidence

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import enforcement.casework.models

revision = "0007"
# re-chained onto 0006 when that lands
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column(
            "recorded_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_outcomes_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_outcomes")),
        sa.UniqueConstraint("case_id", "status", "decided_on", name="uq_case_outcomes_event"),
    )
    with op.batch_alter_table("case_outcomes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_outcomes_case_id"), ["case_id"], unique=False)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "outcome_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=True
            )
        )

    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_sync", sa.String(length=16), nullable=True))
    # Plain CREATE INDEX: audit_log is append-only (a trigger refuses UPDATE and DELETE), so
    # SQLite's batch mode, which copies the table, must not touch it.
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_log_action_at", table_name="audit_log")
    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.drop_column("time_sync")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("outcome_at")
    with op.batch_alter_table("case_outcomes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_outcomes_case_id"))
    op.drop_table("case_outcomes")
