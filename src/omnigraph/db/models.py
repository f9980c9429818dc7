"""What omnigraph itself keeps: exceptions with their audit history, and sync cursors.

Everything else is read from the source systems; these tables hold only facts no source owns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "AllocationPolicyRow",
    "ApiKeyRow",
    "Base",
    "BulkOperationRow",
    "CurrentDisagreementRow",
    "DriftWatchRow",
    "ExceptionEventRow",
    "ExceptionRow",
    "ExpectedReceiptRow",
    "IdempotencyKeyRow",
    "InventoryGenerationRow",
    "InventoryPositionRow",
    "LeaseRow",
    "LedgerEntryRow",
    "OrderChangeRow",
    "OutboxCommandRow",
    "PaymentPayoutRow",
    "PaymentTransactionRow",
    "PayoutReconciliationRow",
    "PersistedDocumentRow",
    "PublishedAvailabilityRow",
    "QuarantinedEventRow",
    "ReconciliationLineRow",
    "ReservationRow",
    "SourceCursorRow",
    "UtcDateTime",
    "WarehouseLocationsRow",
]


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps in UTC with an offset, on every database.

    SQLite keeps no offset, so values are stored as UTC and given their offset back on reading;
    the graph then always serialises ``DateTime`` with an offset, as the contract says.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give them a timezone")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON}


class ExceptionRow(Base):
    """One operational exception; ``dedupe_key`` makes intake idempotent."""

    __tablename__ = "exceptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(24))
    severity: Mapped[str] = mapped_column(String(16), default="MEDIUM")
    owner_source: Mapped[str] = mapped_column(String(64))
    owner_kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    subject_type: Mapped[str] = mapped_column(String(32))
    order_source: Mapped[str | None] = mapped_column(String(64))
    order_ref: Mapped[str | None] = mapped_column(String(128))
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    detected_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=0)
    resolution: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    history: Mapped[list[ExceptionEventRow]] = relationship(
        back_populates="exception", lazy="raise", order_by="ExceptionEventRow.id"
    )

    __table_args__ = (
        Index("ix_exceptions_order", "order_source", "order_ref"),
        Index("ix_exceptions_status_detected", "status", "detected_at"),
        Index("ix_exceptions_owner", "owner_kind", "owner_source"),
    )


class ExceptionEventRow(Base):
    """One step in an exception's life: who moved it where, when and why.

    Rows are append-only and their ids increase, so ``id`` doubles as the position that live
    subscribers (in any process) tail from.
    """

    __tablename__ = "exception_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exception_id: Mapped[str] = mapped_column(
        ForeignKey("exceptions.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)

    exception: Mapped[ExceptionRow] = relationship(back_populates="history", lazy="raise")


class SourceCursorRow(Base):
    """How far omnigraph has read a source's change feed (one row per source and feed)."""

    __tablename__ = "source_cursors"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    feed: Mapped[str] = mapped_column(String(64), primary_key=True, default="changes")
    cursor: Mapped[str | None] = mapped_column(String(255))
    last_sequence: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class OrderChangeRow(Base):
    """One change-feed event about an order, as a storefront, ERP or WMS recorded it: kept so an
    order's timeline says what each system recorded and when. A re-sent event is kept once."""

    __tablename__ = "order_changes"
    __table_args__ = (UniqueConstraint("source", "event_id", name="uq_order_changes_event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(128))
    order_ref: Mapped[str] = mapped_column(String(128), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    record_type: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[datetime]


class CurrentDisagreementRow(Base):
    """A field of an order the systems disagree about, as the disagreement detector last found
    it: the served claim and the others (``claims``), when it was first and last seen. Removed
    when a check of the order finds them agreeing again (or the order gone from its storefront).
    """

    __tablename__ = "current_disagreements"
    __table_args__ = (
        UniqueConstraint(
            "order_source", "order_ref", "field", name="uq_current_disagreements_field"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_source: Mapped[str] = mapped_column(String(64))
    order_ref: Mapped[str] = mapped_column(String(128))
    field: Mapped[str] = mapped_column(String(255))
    # the field with its line index left out ("lines.unitPrice"): what a role may read is per
    # canonical field
    canonical_field: Mapped[str] = mapped_column(String(128))
    # {"authoritative": claim, "others": [claim, ...]}, each claim as ``claim_json`` writes it
    claims: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class OutboxCommandRow(Base):
    """A command owed to a source system, written in the same transaction as the state change.

    ``idempotency_key`` is what the owner sees on every delivery of this command, so a delivery
    repeated after a crash or a timeout is replayed by the owner, not applied twice.
    """

    __tablename__ = "outbox_commands"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    exception_id: Mapped[str] = mapped_column(
        ForeignKey("exceptions.id", ondelete="CASCADE"), index=True
    )
    resolution: Mapped[str] = mapped_column(String(64))
    owner_source: Mapped[str] = mapped_column(String(64))
    command_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)


class IdempotencyKeyRow(Base):
    """The first result of a mutation under a client's key, replayed for the same input; or a
    webhook delivery taken in. While ``claim_token`` is set the request that claimed the key
    (at ``created_at``) is still running and ``response`` is empty."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), default=None)


class LedgerEntryRow(Base):
    """One scan-confirmed inventory movement, exactly as the WMS reported it; append-only.

    Keyed by the source and the movement's own id (the contract's ``data.id``), so a movement
    delivered again, under its first event id or a new one, changes nothing a second time.
    """

    __tablename__ = "inventory_ledger"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    movement_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128))
    sequence: Mapped[int] = mapped_column(Integer)
    movement: Mapped[str] = mapped_column(String(32))
    sku: Mapped[str] = mapped_column(String(64))
    location_id: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime]
    ingested_at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_ledger_sku_location", "sku", "location_id"),)


class InventoryPositionRow(Base):
    """The quantity buckets of one SKU at one location, updated with every ledger entry."""

    __tablename__ = "inventory_positions"

    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    committed: Mapped[int] = mapped_column(Integer, default=0)
    damaged: Mapped[int] = mapped_column(Integer, default=0)
    quality_control: Mapped[int] = mapped_column(Integer, default=0)
    incoming: Mapped[int] = mapped_column(Integer, default=0)
    restricted_returns: Mapped[int] = mapped_column(Integer, default=0)
    returns_inspection: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_event_id: Mapped[str | None] = mapped_column(String(128))
    last_event_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=0)
    # the ledger page that last moved the buckets (InventoryGenerationRow): what a process's
    # projection of the positions reads again to catch up
    generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (Index("ix_positions_generation", "generation"),)

    @classmethod
    def empty(cls, sku: str, location_id: str) -> InventoryPositionRow:
        """A position holding nothing yet, its buckets zero before it is first written (column
        defaults apply only then, and the ledger adds to the buckets before)."""
        return cls(
            sku=sku,
            location_id=location_id,
            on_hand=0,
            committed=0,
            damaged=0,
            quality_control=0,
            incoming=0,
            restricted_returns=0,
            returns_inspection=0,
            version=0,
        )


class InventoryGenerationRow(Base):
    """How many ledger pages have moved positions. Each takes the next number under this row's
    lock and stamps it on the positions it moves, so the numbers commit in order: a reader that
    sees number n committed sees every position stamped n or lower. ``epoch`` is drawn anew
    whenever positions are written other than by the ledger, so every process's projection of
    them starts again."""

    __tablename__ = "inventory_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger)
    epoch: Mapped[str] = mapped_column(String(36))


class QuarantinedEventRow(Base):
    """A feed event that could not be applied (malformed), or a gap in the feed's sequence."""

    __tablename__ = "inventory_quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(128))
    sequence: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime]


class ReservationRow(Base):
    """Units promised to a channel for a while; counts against availability until it expires,
    is released, or is committed to an order."""

    __tablename__ = "inventory_reservations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    location_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_reservations_live", "sku", "location_id", "status", "expires_at"),)


class AllocationPolicyRow(Base):
    """One version of the allocation policy; the highest version is in force."""

    __tablename__ = "allocation_policies"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor: Mapped[str] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class ExpectedReceiptRow(Base):
    """Units announced but not yet received (purchase orders, transfers in transit), kept open
    per announcement so scheduled promises can count what arrives by a date."""

    __tablename__ = "inventory_expected"

    expected_receipt_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity_open: Mapped[int] = mapped_column(Integer, default=0)
    expected_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_expected_sku_location", "sku", "location_id"),)


class DriftWatchRow(Base):
    """A ledger position that differs from the WMS's own snapshot, and since when: drift is
    raised only once it outlasts the grace period (feed lag heals by itself)."""

    __tablename__ = "inventory_drift_watch"

    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    differences: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PublishedAvailabilityRow(Base):
    """What a channel was last told it may sell (``availability(publish: true)``), so that a
    later, lower truth can be flagged before the channel oversells."""

    __tablename__ = "published_availability"

    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime]


class WarehouseLocationsRow(Base):
    """The locations a WMS last listed, and when it last confirmed them: availability is
    counted over them while that WMS cannot be reached (omnigraph.inventory.locations)."""

    __tablename__ = "warehouse_locations"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    # the WMS's location records as it sent them (the contract's JSON)
    locations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    confirmed_at: Mapped[datetime]


class ApiKeyRow(Base):
    """An API key: its public prefix, roles and the digest of the secret (never the secret)."""

    __tablename__ = "api_keys"

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    roles: Mapped[list[str]] = mapped_column(JSON)
    channel: Mapped[str | None] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class PaymentPayoutRow(Base):
    """A payout as the payments provider last described it (synced from its feed)."""

    __tablename__ = "payment_payouts"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    payout_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    arrival_at: Mapped[datetime | None]
    synced_at: Mapped[datetime]
    # set when the payout or its transactions changed since the last reconciliation
    needs_reconciliation: Mapped[bool] = mapped_column(Boolean, default=True, index=True)


class PaymentTransactionRow(Base):
    """One balance transaction, keyed by the provider's id: a re-sync changes nothing twice."""

    __tablename__ = "payment_transactions"
    __table_args__ = (Index("ix_payment_transactions_payout", "source", "payout_id"),)

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    txn_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    payout_id: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    reporting_category: Mapped[str] = mapped_column(String(32))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    source_ref: Mapped[str | None] = mapped_column(String(64))
    exchange_rate: Mapped[float | None]
    created_at: Mapped[datetime]


class PayoutReconciliationRow(Base):
    """The payout equation's last verdict for one payout, with the sums behind it."""

    __tablename__ = "payout_reconciliations"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    payout_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    gross_minor: Mapped[int] = mapped_column(BigInteger)
    refunds_minor: Mapped[int] = mapped_column(BigInteger)
    fees_minor: Mapped[int] = mapped_column(BigInteger)
    disputes_minor: Mapped[int] = mapped_column(BigInteger)
    adjustments_minor: Mapped[int] = mapped_column(BigInteger)
    expected_minor: Mapped[int] = mapped_column(BigInteger)
    variance_minor: Mapped[int] = mapped_column(BigInteger)
    transaction_count: Mapped[int] = mapped_column(Integer)
    unmatched_count: Mapped[int] = mapped_column(Integer)
    payout_created_at: Mapped[datetime] = mapped_column(index=True)
    reconciled_at: Mapped[datetime]


class ReconciliationLineRow(Base):
    """One matched (or unmatched) item: a balance transaction, or a return with no money."""

    __tablename__ = "reconciliation_lines"
    __table_args__ = (
        Index("ix_reconciliation_lines_payout", "source", "payout_id"),
        Index("ix_reconciliation_lines_occurred", "occurred_at"),
    )

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    txn_id: Mapped[str | None] = mapped_column(String(64))
    payout_id: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(24), index=True)
    reason: Mapped[str] = mapped_column(Text)
    order_ref: Mapped[str | None] = mapped_column(String(64))
    counterpart: Mapped[str | None] = mapped_column(String(64))
    difference_minor: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime]
    reconciled_at: Mapped[datetime]


class PersistedDocumentRow(Base):
    """A GraphQL document known by the SHA-256 of its text.

    ``trusted`` rows were registered by an operator (``omnigraph documents register``) and are
    the only ones allow-list mode runs; the others were learnt from automatic persisted queries.
    """

    __tablename__ = "persisted_documents"
    __table_args__ = (
        Index("ix_persisted_documents_owner_last_used", "owner", "last_used_at"),
        Index("ix_persisted_documents_last_used", "last_used_at"),
    )

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    operation_name: Mapped[str | None] = mapped_column(String(128))
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    registered_at: Mapped[datetime | None]
    # who taught it by APQ (a key's or token's identity), and when it was last asked for: a
    # learnt document counts against its owner's cap and is forgotten once long unused
    owner: Mapped[str | None] = mapped_column(String(160))
    last_used_at: Mapped[datetime | None]


class LeaseRow(Base):
    """Which process runs a singleton background task, until when (omnigraph.db.leases).

    One row per task name; a holder renews ``expires_at`` while it lives, and any process may
    take a row whose ``expires_at`` has passed (compare-and-set on the row)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]


class BulkOperationRow(Base):
    """One bulk export: the query, whose it is, where its run stands and its file.

    A runner holds the export while ``claim_token`` is its own and ``claimed_until`` is ahead
    (renewed every page); ``checkpoint`` is what the last page written left: the cursor to go
    on from, and the spool's segments with the bytes of each that count."""

    __tablename__ = "bulk_operations"
    __table_args__ = (
        UniqueConstraint("owner", "idempotency_key", name="uq_bulk_operations_owner_key"),
        Index("ix_bulk_operations_owner_created", "owner", "created_at"),
        Index("ix_bulk_operations_status_claim", "status", "claimed_until"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(160))
    # the caller as it started the export: subject, roles, channel, how it authenticated
    principal: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    query: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    # the page document, its page size and the shape of its rows (omnigraph.bulk.plan)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    checkpoint: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    object_count: Mapped[int] = mapped_column(BigInteger, default=0)
    root_object_count: Mapped[int] = mapped_column(BigInteger, default=0)
    page_count: Mapped[int] = mapped_column(Integer, default=0)
    page_attempts: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_by: Mapped[str | None] = mapped_column(String(160))
    claimed_until: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(String(128))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    # files of this export may still be on the volume: the cleanup looks here
    files_pending: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
