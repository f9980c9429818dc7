"""Returns awaiting inspection (revision 0009, after 0008; 2026-11-25)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0009", "0008"


def upgrade() -> None:
    with op.batch_alter_table("inventory_positions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("returns_inspection", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("inventory_positions", schema=None) as batch_op:
        batch_op.drop_column("returns_inspection")
