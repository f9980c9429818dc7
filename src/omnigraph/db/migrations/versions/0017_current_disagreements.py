"""Current disagreements: what the disagreement detector last found the systems disputing, per
order and field, so a listing of them reads one table instead of asking every system."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0017", "0016"


def upgrade() -> None:
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
