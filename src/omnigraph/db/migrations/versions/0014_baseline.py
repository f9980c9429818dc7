"""The whole store as of revision 0014 (the baseline; 2026-12-07).

One revision builds every table the step-by-step migrations 0001 to 0014 built, with the same
columns in the same order, types, defaults, keys and indexes; it keeps 0014's id, so a
database those migrations brought to 0014 is already at this baseline. A database at an
older revision is upgraded first by a release that still carries those steps
(docs/operations.md, Upgrades and migrations).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0014", None


def upgrade() -> None:
    _exceptions()
    _inventory()
    _payments()
    _security()
    _runtime()


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)


# in the order they are made (a table before those that refer to it); dropped in reverse
TABLES = (
    "exceptions",
    "source_cursors",
    "exception_events",
    "idempotency_keys",
    "outbox_commands",
    "allocation_policies",
    "inventory_ledger",
    "inventory_positions",
    "inventory_quarantine",
    "inventory_reservations",
    "inventory_drift_watch",
    "inventory_expected",
    "published_availability",
    "payment_payouts",
    "payment_transactions",
    "payout_reconciliations",
    "reconciliation_lines",
    "api_keys",
    "persisted_documents",
    "leases",
    "bulk_operations",
)


def _exceptions() -> None:
    op.create_table(
        "exceptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("owner_source", sa.String(length=64), nullable=False),
        sa.Column("owner_kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("order_source", sa.String(length=64), nullable=True),
        sa.Column("order_ref", sa.String(length=128), nullable=True),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("resolution", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_exceptions_order", "exceptions", ["order_source", "order_ref"])
    op.create_index("ix_exceptions_owner", "exceptions", ["owner_kind", "owner_source"])
    op.create_index("ix_exceptions_status_detected", "exceptions", ["status", "detected_at"])

    op.create_table(
        "source_cursors",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("feed", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("source", "feed"),
    )
    op.create_table(
        "exception_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("exception_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["exception_id"], ["exceptions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_exception_events_exception_id", "exception_events", ["exception_id"])

    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        # set while the request holding the key runs; null once its answer is stored
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])

    op.create_table(
        "outbox_commands",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("exception_id", sa.String(length=36), nullable=False),
        sa.Column("resolution", sa.String(length=64), nullable=False),
        sa.Column("owner_source", sa.String(length=64), nullable=False),
        sa.Column("command_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["exception_id"], ["exceptions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_outbox_commands_exception_id", "outbox_commands", ["exception_id"])
    op.create_index("ix_outbox_due", "outbox_commands", ["status", "next_attempt_at"])


def _inventory() -> None:
    op.create_table(
        "allocation_policies",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    # a movement is known by the id the contract gives it, whatever event carries it; the
    # later copies of one that a redelivery recorded twice are keyed <movement id>#<event id>.
    # The steps built this table under another name and renamed it: PostgreSQL kept the
    # primary key's first name, which a later migration altering the key has to find on
    # every database alike (SQLite's key has no name)
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "inventory_ledger",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("movement_id", sa.String(length=256), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("movement", sa.String(length=32), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint(
            "source",
            "movement_id",
            name="inventory_ledger_by_movement_pkey" if postgresql else None,
        ),
    )
    op.create_index("ix_ledger_sku_location", "inventory_ledger", ["sku", "location_id"])

    op.create_table(
        "inventory_positions",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("committed", sa.Integer(), nullable=False),
        sa.Column("damaged", sa.Integer(), nullable=False),
        sa.Column("quality_control", sa.Integer(), nullable=False),
        sa.Column("incoming", sa.Integer(), nullable=False),
        sa.Column("restricted_returns", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.String(length=128), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("returns_inspection", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("sku", "location_id"),
    )
    op.create_table(
        "inventory_quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "inventory_reservations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_reservations_live",
        "inventory_reservations",
        ["sku", "location_id", "status", "expires_at"],
    )

    op.create_table(
        "inventory_drift_watch",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("differences", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("sku", "location_id"),
    )
    op.create_table(
        "inventory_expected",
        sa.Column("expected_receipt_id", sa.String(length=128), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("quantity_open", sa.Integer(), nullable=False),
        sa.Column("expected_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("expected_receipt_id", "sku", "location_id"),
    )
    op.create_index("ix_expected_sku_location", "inventory_expected", ["sku", "location_id"])

    op.create_table(
        "published_availability",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sku", "location_id", "channel"),
    )


def _payments() -> None:
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
    op.create_index(
        "ix_payment_payouts_needs_reconciliation", "payment_payouts", ["needs_reconciliation"]
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
    op.create_index(
        "ix_payment_transactions_payout", "payment_transactions", ["source", "payout_id"]
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
    op.create_index(
        "ix_payout_reconciliations_payout_created_at",
        "payout_reconciliations",
        ["payout_created_at"],
    )
    op.create_index("ix_payout_reconciliations_status", "payout_reconciliations", ["status"])

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
    op.create_index("ix_reconciliation_lines_occurred", "reconciliation_lines", ["occurred_at"])
    op.create_index(
        "ix_reconciliation_lines_payout", "reconciliation_lines", ["source", "payout_id"]
    )
    op.create_index("ix_reconciliation_lines_status", "reconciliation_lines", ["status"])


def _security() -> None:
    op.create_table(
        "api_keys",
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("prefix"),
    )
    # a document learnt by automatic persisted queries counts against the cap of the key that
    # taught it (owner) and is forgotten once long unused
    op.create_table(
        "persisted_documents",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("operation_name", sa.String(length=128), nullable=True),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner", sa.String(length=160), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_index(
        "ix_persisted_documents_owner_last_used", "persisted_documents", ["owner", "last_used_at"]
    )
    op.create_index("ix_persisted_documents_last_used", "persisted_documents", ["last_used_at"])


def _runtime() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "bulk_operations",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("owner", sa.String(length=160), nullable=False),
        sa.Column("principal", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("checkpoint", sa.JSON(), nullable=False),
        sa.Column("object_count", sa.BigInteger(), nullable=False),
        sa.Column("root_object_count", sa.BigInteger(), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("page_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_by", sa.String(length=160), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("file_name", sa.String(length=128), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("files_pending", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner", "idempotency_key", name="uq_bulk_operations_owner_key"),
    )
    op.create_index("ix_bulk_operations_owner_created", "bulk_operations", ["owner", "created_at"])
    op.create_index(
        "ix_bulk_operations_status_claim", "bulk_operations", ["status", "claimed_until"]
    )
