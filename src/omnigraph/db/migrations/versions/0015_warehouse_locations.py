"""The warehouses' last known locations (revision 0015, after 0014; 2026-12-08)."""

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


def downgrade() -> None:
    op.drop_table("warehouse_locations")
