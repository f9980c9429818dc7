"""Exceptions, history and source cursors (revision 0001, the first; 2026-11-25)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0001", None


def upgrade() -> None:
    op.create_table(
        "exceptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("owner_source", sa.String(length=64), nullable=False),
        sa.Column("owner_kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("order_source", sa.String(length=64), nullable=True),
        sa.Column("order_ref", sa.String(length=128), nullable=True),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    with op.batch_alter_table("exceptions", schema=None) as batch_op:
        batch_op.create_index("ix_exceptions_order", ["order_source", "order_ref"], unique=False)
        batch_op.create_index("ix_exceptions_owner", ["owner_kind", "owner_source"], unique=False)
        batch_op.create_index(
            "ix_exceptions_status_detected", ["status", "detected_at"], unique=False
        )

    op.create_table(
        "source_cursors",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("feed", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "feed"),
    )
    op.create_table(
        "exception_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("exception_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["exception_id"], ["exceptions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("exception_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exception_events_exception_id"), ["exception_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("exception_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exception_events_exception_id"))

    op.drop_table("exception_events")
    op.drop_table("source_cursors")
    with op.batch_alter_table("exceptions", schema=None) as batch_op:
        batch_op.drop_index("ix_exceptions_status_detected")
        batch_op.drop_index("ix_exceptions_owner")
        batch_op.drop_index("ix_exceptions_order")

    op.drop_table("exceptions")
