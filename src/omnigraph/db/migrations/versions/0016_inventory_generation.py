"""Revision 0016: what lets each process keep the inventory positions in memory and stay exact.

- ``inventory_positions.generation``: the ledger page that last moved a position's buckets,
  indexed, so a process reads again only the positions moved since it last looked.
- ``inventory_generation``: the ledger pages' counter (taken under its row lock, so the numbers
  commit in order) and an epoch drawn when the row is made.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0016", "0015"


def upgrade() -> None:
    op.add_column(
        "inventory_positions",
        sa.Column("generation", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.create_index("ix_positions_generation", "inventory_positions", ["generation"])
    op.create_table(
        "inventory_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("epoch", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("inventory_generation")
    op.drop_index("ix_positions_generation", table_name="inventory_positions")
    with op.batch_alter_table("inventory_positions") as batch:
        batch.drop_column("generation")
