"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import enforcement.casework.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_log_seq")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_case_id"), ["case_id"], unique=False)

    op.create_table(
        "evidence_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column(
            "stored_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_evidence_blobs")),
    )
    op.create_table(
        "export_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_batches")),
        sa.UniqueConstraint("kind", "number", name="uq_export_batches_number"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_key", sa.String(length=128), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("zone_id", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("needs_identification", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("vehicle_class", sa.String(length=32), nullable=True),
        sa.Column("sanction_kind", sa.String(length=16), nullable=False),
        sa.Column("amount_eur", sa.Integer(), nullable=True),
        sa.Column("admin_costs_eur", sa.Integer(), nullable=True),
        sa.Column("rule_ids", sa.String(length=255), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column(
            "first_seen_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_seen_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("sightings_count", sa.Integer(), nullable=False),
        sa.Column(
            "reviewable_after",
            enforcement.casework.models.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "created_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "closed_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("claimed_by", sa.Integer(), nullable=True),
        sa.Column(
            "claim_expires_at",
            enforcement.casework.models.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("confirmed_by", sa.Integer(), nullable=True),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("reject_reason", sa.String(length=32), nullable=True),
        sa.Column("reject_text", sa.Text(), nullable=True),
        sa.Column("close_reason", sa.String(length=64), nullable=True),
        sa.Column("corrected_plate", sa.String(length=16), nullable=True),
        sa.Column("correction", sa.JSON(), nullable=True),
        sa.Column("export_batch_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["users.id"], name=op.f("fk_cases_approved_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["claimed_by"], ["users.id"], name=op.f("fk_cases_claimed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by"], ["users.id"], name=op.f("fk_cases_confirmed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["export_batch_id"],
            ["export_batches.id"],
            name=op.f("fk_cases_export_batch_id_export_batches"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("case_key", name=op.f("uq_cases_case_key")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_plate"), ["plate"], unique=False)
        batch_op.create_index("ix_cases_queue", ["status", "first_seen_at", "id"], unique=False)
        batch_op.create_index(
            "ix_cases_active",
            ["first_seen_at", "id"],
            unique=False,
            postgresql_where=sa.text("status IN ('open', 'confirmed', 'escalated')"),
            sqlite_where=sa.text("status IN ('open', 'confirmed', 'escalated')"),
        )
        batch_op.create_index(
            "ix_cases_zone_status", ["zone_id", "status", "first_seen_at", "id"], unique=False
        )

    op.create_table(
        "evidence_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("passage_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "captured_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "received_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["evidence_blobs.sha256"],
            name=op.f("fk_evidence_items_sha256_evidence_blobs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_items")),
        sa.UniqueConstraint("passage_id", "kind", name="uq_evidence_items_passage"),
    )
    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_items_passage_id"), ["passage_id"], unique=False
        )

    op.create_table(
        "sightings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("passage_id", sa.String(length=36), nullable=False),
        sa.Column(
            "seen_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("plate_raw", sa.String(length=32), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("first_sighting", sa.Boolean(), nullable=False),
        sa.Column("char_confidences", sa.JSON(), nullable=False),
        sa.Column(
            "received_at", enforcement.casework.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_sightings_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sightings")),
        sa.UniqueConstraint("passage_id", name=op.f("uq_sightings_passage_id")),
    )
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sightings_case_id"), ["case_id"], unique=False)

    # The audit chain starts from a fixed genesis hash (see enforcement.casework.audit).
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "hash": "0" * 64}])


def downgrade() -> None:
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sightings_case_id"))

    op.drop_table("sightings")
    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_items_passage_id"))

    op.drop_table("evidence_items")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_zone_status")
        batch_op.drop_index("ix_cases_queue")
        batch_op.drop_index("ix_cases_active")
        batch_op.drop_index(batch_op.f("ix_cases_plate"))

    op.drop_table("cases")
    op.drop_table("users")
    op.drop_table("export_batches")
    op.drop_table("evidence_blobs")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_case_id"))

    op.drop_table("audit_log")
    op.drop_table("audit_head")
