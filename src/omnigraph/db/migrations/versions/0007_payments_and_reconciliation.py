"""Payments and reconciliation (revision 0007, after 0006; 2026-11-25)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0007", "0006"


def upgrade() -> None:
    op.create_table(
        "payment_payouts",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("payout_id", sa.String(length=64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("arrival_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("needs_reconciliation", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("source", "payout_id"),
    )
    with op.batch_alter_table("payment_payouts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_payouts_needs_reconciliation"),
            ["needs_reconciliation"],
            unique=False,
        )

    op.create_table(
        "payment_transactions",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("txn_id", sa.String(length=64), nullable=False),
        sa.Column("payout_id", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("reporting_category", sa.String(length=32), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=True),
        sa.Column("exchange_rate", sa.Double(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "txn_id"),
    )
    with op.batch_alter_table("payment_transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payment_transactions_payout", ["source", "payout_id"], unique=False
        )

    op.create_table(
        "payout_reconciliations",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("payout_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("gross_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunds_minor", sa.BigInteger(), nullable=False),
        sa.Column("fees_minor", sa.BigInteger(), nullable=False),
        sa.Column("disputes_minor", sa.BigInteger(), nullable=False),
        sa.Column("adjustments_minor", sa.BigInteger(), nullable=False),
        sa.Column("expected_minor", sa.BigInteger(), nullable=False),
        sa.Column("variance_minor", sa.BigInteger(), nullable=False),
        sa.Column("transaction_count", sa.Integer(), nullable=False),
        sa.Column("unmatched_count", sa.Integer(), nullable=False),
        sa.Column("payout_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "payout_id"),
    )
    with op.batch_alter_table("payout_reconciliations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payout_reconciliations_payout_created_at"),
            ["payout_created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_payout_reconciliations_status"), ["status"], unique=False
        )

    op.create_table(
        "reconciliation_lines",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("txn_id", sa.String(length=64), nullable=True),
        sa.Column("payout_id", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("order_ref", sa.String(length=64), nullable=True),
        sa.Column("counterpart", sa.String(length=64), nullable=True),
        sa.Column("difference_minor", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "key"),
    )
    with op.batch_alter_table("reconciliation_lines", schema=None) as batch_op:
        batch_op.create_index("ix_reconciliation_lines_occurred", ["occurred_at"], unique=False)
        batch_op.create_index(
            "ix_reconciliation_lines_payout", ["source", "payout_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_reconciliation_lines_status"), ["status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reconciliation_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconciliation_lines_status"))
        batch_op.drop_index("ix_reconciliation_lines_payout")
        batch_op.drop_index("ix_reconciliation_lines_occurred")

    op.drop_table("reconciliation_lines")
    with op.batch_alter_table("payout_reconciliations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payout_reconciliations_status"))
        batch_op.drop_index(batch_op.f("ix_payout_reconciliations_payout_created_at"))

    op.drop_table("payout_reconciliations")
    with op.batch_alter_table("payment_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_transactions_payout")

    op.drop_table("payment_transactions")
    with op.batch_alter_table("payment_payouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_payouts_needs_reconciliation"))

    op.drop_table("payment_payouts")
