"""Idempotency keys claimed before the work they guard (revision 0012, after 0011; 2026-12-06)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0012", "0011"


def upgrade() -> None:
    # set while the request holding the key runs; null once its answer is stored
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_keys WHERE claim_token IS NOT NULL")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("claim_token")
