"""evidence signature: the seal check per evidence item, a flag on the case

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seal", sa.String(length=16), nullable=True))
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evidence_seal", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("evidence_seal")
    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.drop_column("seal")
