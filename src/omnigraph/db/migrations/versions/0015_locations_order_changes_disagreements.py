"""Revision 0015, after the 0014 baseline: what lets omnigraph answer from its own store where it
asked the systems each time.

- ``warehouse_locations``: each WMS's last known locations, so availability is still counted
  while a WMS is down (and after a restart during the outage).
- ``order_changes``: each storefront, ERP and WMS change-feed event about an order, for its
  timeline.
- ``current_disagreements``: what the disagreement detector last found the systems disputing,
  per order and field, so a listing of them reads one table instead of asking every system.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0015", "0014"


def upgrade() -> None:
    op.create_table(
        "warehouse_locations",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("locations", sa.JSON(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
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
    op.create_table(
        "current_disagreements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_source", sa.String(length=64), nullable=False),
        sa.Column("order_ref", sa.String(length=128), nullable=False),
        sa.Column("field", sa.String(length=255), nullable=False),
        sa.Column("canonical_field", sa.String(length=128), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "order_source", "order_ref", "field", name="uq_current_disagreements_field"
        ),
    )


def downgrade() -> None:
    op.drop_table("current_disagreements")
    op.drop_index("ix_order_changes_order_ref", table_name="order_changes")
    op.drop_table("order_changes")
    op.drop_table("warehouse_locations")
