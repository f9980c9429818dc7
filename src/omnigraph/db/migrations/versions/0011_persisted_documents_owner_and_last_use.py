"""Persisted documents' owner and last use (revision 0011, after 0010; 2026-12-06).

A document learnt by automatic persisted queries counts against the cap of the key that taught
it and is forgotten once long unused; documents kept before this revision have no owner and
were last used when they were learnt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0011", "0010"


def upgrade() -> None:
    with op.batch_alter_table("persisted_documents") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=160), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE persisted_documents SET last_used_at = created_at")
    op.create_index(
        "ix_persisted_documents_owner_last_used", "persisted_documents", ["owner", "last_used_at"]
    )
    op.create_index("ix_persisted_documents_last_used", "persisted_documents", ["last_used_at"])


def downgrade() -> None:
    op.drop_index("ix_persisted_documents_last_used", table_name="persisted_documents")
    op.drop_index("ix_persisted_documents_owner_last_used", table_name="persisted_documents")
    with op.batch_alter_table("persisted_documents") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("owner")
