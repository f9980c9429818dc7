"""Order changes: each storefront, ERP and WMS change-feed event about an order, for its
timeline."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0016", "0015"


def upgrade() -> None:
    op.create_table(
        "order_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("order_ref", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("record_type", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "event_id", name="uq_order_changes_event"),
    )
    op.create_index("ix_order_changes_order_ref", "order_changes", ["order_ref"])


def downgrade() -> None:
    op.drop_index("ix_order_changes_order_ref", table_name="order_changes")
    op.drop_table("order_changes")
