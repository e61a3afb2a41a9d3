"""audit trail integrity, retention and intake hardening

- PostgreSQL: `audit_log` is append-only for the application (a trigger refuses UPDATE,
  DELETE and TRUNCATE). The chain itself is HMAC-SHA256 under a key the database never holds
  (enforcement.casework.audit); entries written before this revision were hashed with plain
  SHA-256 and no longer verify: a deployment that has them anchors and archives the old log
  first (none does yet: the system has issued no fine).
- `failed_login_names`: the names typed at failed logins, out of the chain, so they can go.
- `retired_cases`: anonymous counts of the cases retention removes.
- Export batches per municipality, and `export_numbers`, so a number is never reused.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import enforcement.casework.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_DATETIME = enforcement.casework.models.UTCDateTime(timezone=True)

APPEND_ONLY = """
CREATE FUNCTION zes_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION zes_audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION zes_audit_log_append_only();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)
    op.create_table(
        "failed_login_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failed_login_names")),
    )
    with op.batch_alter_table("failed_login_names", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_failed_login_names_at"), ["at"], unique=False)
    op.create_table(
        "retired_cases",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("zone_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("sightings", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "zone_id", "status", "reason", name=op.f("pk_retired_cases")
        ),
    )
    op.create_table(
        "export_numbers",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("municipality", sa.String(length=64), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "municipality", name=op.f("pk_export_numbers")),
    )
    with op.batch_alter_table("export_batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("municipality", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.drop_constraint("uq_export_batches_number", type_="unique")
        batch_op.create_unique_constraint(
            "uq_export_batches_number", ["kind", "municipality", "number"]
        )


def downgrade() -> None:
    with op.batch_alter_table("export_batches", schema=None) as batch_op:
        batch_op.drop_constraint("uq_export_batches_number", type_="unique")
        batch_op.create_unique_constraint("uq_export_batches_number", ["kind", "number"])
        batch_op.drop_column("municipality")
    op.drop_table("export_numbers")
    op.drop_table("retired_cases")
    with op.batch_alter_table("failed_login_names", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_failed_login_names_at"))
    op.drop_table("failed_login_names")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER audit_log_no_update_delete ON audit_log")
        op.execute("DROP FUNCTION zes_audit_log_append_only()")
