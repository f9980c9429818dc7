"""Expected receipts, drift watch, feed sequence positions (0004, after 0003)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0004", "0003"


def upgrade() -> None:
    op.create_table(
        "inventory_drift_watch",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("differences", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("sku", "location_id"),
    )
    op.create_table(
        "inventory_expected",
        sa.Column("expected_receipt_id", sa.String(length=128), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("quantity_open", sa.Integer(), nullable=False),
        sa.Column("expected_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("expected_receipt_id", "sku", "location_id"),
    )
    with op.batch_alter_table("inventory_expected", schema=None) as batch_op:
        batch_op.create_index("ix_expected_sku_location", ["sku", "location_id"], unique=False)

    with op.batch_alter_table("source_cursors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_sequence", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source_cursors", schema=None) as batch_op:
        batch_op.drop_column("last_sequence")

    with op.batch_alter_table("inventory_expected", schema=None) as batch_op:
        batch_op.drop_index("ix_expected_sku_location")

    op.drop_table("inventory_expected")
    op.drop_table("inventory_drift_watch")
