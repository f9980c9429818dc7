"""Inventory ledger keyed by movement id (revision 0010, after 0009; 2026-12-06).

The contract identifies a movement by its ``id``, whatever event carries it: a feed that
delivers one movement again under a new event id must not move stock twice. Entries taken in
before keep their history; a movement that an earlier redelivery recorded twice keeps its later
copies under ``<movement id>#<event id>``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0010", "0009"

_COLUMNS = (
    "event_id, sequence, movement, sku, location_id, quantity, occurred_at, ingested_at, data"
)


def upgrade() -> None:
    _ledger_table("inventory_ledger_by_movement", key="movement_id")
    sqlite = op.get_bind().dialect.name == "sqlite"
    stated = "json_extract(data, '$.id')" if sqlite else "(data ->> 'id')"
    movement_id = f"COALESCE(CAST({stated} AS VARCHAR(128)), event_id)"
    op.execute(
        f"""
        INSERT INTO inventory_ledger_by_movement (source, movement_id, {_COLUMNS})
        SELECT source, CASE WHEN copy = 1 THEN mid ELSE mid || '#' || event_id END, {_COLUMNS}
        FROM (
            SELECT inventory_ledger.*, {movement_id} AS mid,
                   ROW_NUMBER() OVER (
                       PARTITION BY source, {movement_id} ORDER BY sequence, event_id
                   ) AS copy
            FROM inventory_ledger
        ) AS numbered
        """
    )
    op.drop_index("ix_ledger_sku_location", table_name="inventory_ledger")
    op.drop_table("inventory_ledger")
    op.rename_table("inventory_ledger_by_movement", "inventory_ledger")
    op.create_index("ix_ledger_sku_location", "inventory_ledger", ["sku", "location_id"])


def downgrade() -> None:
    _ledger_table("inventory_ledger_by_event", key="event_id")
    op.execute(
        f"""
        INSERT INTO inventory_ledger_by_event (source, {_COLUMNS})
        SELECT source, {_COLUMNS}
        FROM (
            SELECT inventory_ledger.*, ROW_NUMBER() OVER (
                PARTITION BY source, event_id ORDER BY sequence, movement_id
            ) AS copy
            FROM inventory_ledger
        ) AS numbered
        WHERE copy = 1
        """
    )
    op.drop_index("ix_ledger_sku_location", table_name="inventory_ledger")
    op.drop_table("inventory_ledger")
    op.rename_table("inventory_ledger_by_event", "inventory_ledger")
    op.create_index("ix_ledger_sku_location", "inventory_ledger", ["sku", "location_id"])


def _ledger_table(name: str, *, key: str) -> None:
    """The ledger's columns, keyed by source and ``key`` (a movement id or an event id)."""
    movement_id = [sa.Column("movement_id", sa.String(length=256), nullable=False)]
    op.create_table(
        name,
        sa.Column("source", sa.String(length=64), nullable=False),
        *(movement_id if key == "movement_id" else []),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("movement", sa.String(length=32), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("source", key),
    )
