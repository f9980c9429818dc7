"""Typed records as each source kind states them in the source contract (docs/sources/).

These are the systems' claims, validated on arrival so a source that breaks the contract fails
loudly at the edge instead of deep inside a resolver. Nothing here decides what is true.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Generic, Literal, TypeVar

from pydantic import AliasGenerator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "BalanceTransaction",
    "Charge",
    "ChargeRefund",
    "ComplianceHold",
    "CreditMemo",
    "Customer",
    "Dispute",
    "ErpLine",
    "FulfilmentLine",
    "FulfilmentOrder",
    "Location",
    "OrderPayments",
    "OrderTotals",
    "Payout",
    "Refund",
    "ReturnReceipt",
    "ReturnReceiptLine",
    "SalesOrder",
    "Shipment",
    "ShipmentLine",
    "Sourced",
    "StockLevel",
    "StorefrontLine",
    "StorefrontOrder",
    "StorefrontReturn",
    "StorefrontReturnLine",
    "StorefrontTransaction",
]


RecordT = TypeVar("RecordT")


@dataclass(frozen=True, slots=True)
class Sourced(Generic[RecordT]):
    """A record and the name of the configured source that stated it."""

    source: str
    record: RecordT


class _CamelRecord(BaseModel):
    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=to_camel),
        populate_by_name=True,
        frozen=True,
        extra="ignore",
    )


class _SnakeRecord(BaseModel):
    """Payments records follow the card processors' snake_case wire format."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class OrderTotals(_CamelRecord):
    subtotal: Decimal
    discount: Decimal = Decimal("0")
    shipping: Decimal = Decimal("0")
    tax: Decimal = Decimal("0")
    total: Decimal


class Customer(_CamelRecord):
    id: str
    name: str
    email: str | None = None


class StorefrontLine(_CamelRecord):
    id: str
    sku: str
    title: str | None = None
    quantity: int
    unit_price: Decimal


class StorefrontTransaction(_CamelRecord):
    """Money the storefront recorded against an order (a capture or a refund), with the
    processor's id for it (``gatewayRef``), the way hosted storefronts keep order transactions."""

    id: str
    kind: str
    amount: Decimal
    currency: str
    gateway_ref: str | None = None
    processed_at: datetime
    return_id: str | None = None


class StorefrontReturnLine(_CamelRecord):
    sku: str
    quantity: int


class StorefrontReturn(_CamelRecord):
    id: str
    status: str
    reason: str | None = None
    opened_at: datetime | None = None
    lines: list[StorefrontReturnLine] = Field(default_factory=list)


class StorefrontOrder(_CamelRecord):
    id: str
    name: str | None = None
    channel: str
    customer: Customer | None = None
    fulfilment_method: Literal["ship", "pickup", "wholesale"]
    pickup_location_id: str | None = None
    currency: str
    status: Literal["open", "cancelled", "closed"]
    fulfilment_status: Literal[
        "unfulfilled", "partial", "fulfilled", "ready_for_pickup", "picked_up"
    ]
    financial_status: str | None = None
    cancel_requested_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    placed_at: datetime
    updated_at: datetime
    lines: list[StorefrontLine]
    totals: OrderTotals
    returns: list[StorefrontReturn] = Field(default_factory=list)
    transactions: list[StorefrontTransaction] = Field(default_factory=list)


class OrderPayments(_CamelRecord):
    """The money a storefront order recorded, and nothing else of it: what reconciliation
    matches balance transactions against, read for every charge. Parsed from the same record
    as :class:`StorefrontOrder` (the fields it reads are validated alike), in a third of the
    time."""

    id: str
    transactions: list[StorefrontTransaction] = Field(default_factory=list)


class ErpLine(_CamelRecord):
    line_no: int
    sku: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = Decimal("0")
    tax: Decimal = Decimal("0")


class CreditMemo(_CamelRecord):
    id: str
    amount: Decimal
    reason: str | None = None
    issued_at: datetime
    return_ref: str | None = None


class SalesOrder(_CamelRecord):
    id: str
    order_ref: str
    account_id: str | None = None
    currency: str
    terms: str
    status: str
    financial_status: str
    lines: list[ErpLine]
    totals: OrderTotals
    credit_memos: list[CreditMemo] = Field(default_factory=list)
    requested_ship_date: date | None = None
    updated_at: datetime


class FulfilmentLine(_CamelRecord):
    sku: str
    quantity: int
    picked: int = 0
    packed: int = 0
    shipped: int = 0
    short: int = 0
    damaged: int = 0
    returned: int = 0
    cancelled: int = 0
    backordered: int = 0


class ShipmentLine(_CamelRecord):
    sku: str
    quantity: int


class Shipment(_CamelRecord):
    id: str
    carrier: str
    tracking_number: str | None = None
    shipped_at: datetime
    delivered_at: datetime | None = None
    lines: list[ShipmentLine]


class ComplianceHold(_CamelRecord):
    """A wholesale order held until the trading partner's requirements are met."""

    reason: str
    since: datetime


FulfilmentStatus = Literal[
    "released",
    "picking",
    "picked",
    "packed",
    "partially_shipped",
    "shipped",
    "delivered",
    "ready_for_pickup",
    "picked_up",
    "partially_returned",
    "returned",
    "cancelled",
]


class ReturnReceiptLine(_CamelRecord):
    sku: str
    quantity: int
    disposition: str | None = None


class ReturnReceipt(_CamelRecord):
    """Goods the WMS received back, against the storefront's return (``rmaRef``)."""

    id: str
    rma_ref: str | None = None
    received_at: datetime
    lines: list[ReturnReceiptLine] = Field(default_factory=list)


class FulfilmentOrder(_CamelRecord):
    id: str
    order_ref: str
    location_id: str
    status: FulfilmentStatus
    lines: list[FulfilmentLine]
    shipments: list[Shipment] = Field(default_factory=list)
    released_at: datetime | None = None
    pickup_hold_until: datetime | None = None
    compliance_hold: ComplianceHold | None = None
    asn_sent_at: datetime | None = None
    updated_at: datetime
    return_receipts: list[ReturnReceipt] = Field(default_factory=list)


class Location(_CamelRecord):
    id: str
    name: str
    type: Literal["warehouse", "store"]
    cutoff: str | None = None
    timezone: str = "UTC"


class StockLevel(_CamelRecord):
    sku: str
    location_id: str
    on_hand: int
    allocated: int = 0
    damaged: int = 0
    quality_hold: int = 0
    incoming: int = 0
    as_of: datetime


def _from_unix(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class ChargeRefund(_SnakeRecord):
    id: str
    amount: int
    created: int
    status: str | None = None  # Stripe's is nullable

    @property
    def created_at(self) -> datetime:
        return _from_unix(self.created)


class Dispute(_SnakeRecord):
    id: str
    amount: int
    status: str
    created: int
    charge: str | None = None  # present when fetched on its own, as the providers do


class Refund(_SnakeRecord):
    """A refund fetched on its own, naming the charge it returns money from."""

    id: str
    amount: int
    created: int
    status: str | None = None  # Stripe's is nullable
    charge: str | None = None


class Charge(_SnakeRecord):
    id: str
    amount: int
    amount_captured: int = 0
    amount_refunded: int = 0
    currency: str
    captured: bool
    status: str
    created: int
    balance_transaction: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    refunds: list[ChargeRefund] = Field(default_factory=list)
    disputes: list[Dispute] = Field(default_factory=list)

    @property
    def order_ref(self) -> str | None:
        return self.metadata.get("order_ref")

    @property
    def created_at(self) -> datetime:
        return _from_unix(self.created)


class Payout(_SnakeRecord):
    id: str
    amount: int
    currency: str
    arrival_date: int | None = None
    created: int
    status: str
    method: str | None = None

    @property
    def arrival_at(self) -> datetime | None:
        return None if self.arrival_date is None else _from_unix(self.arrival_date)

    @property
    def created_at(self) -> datetime:
        return _from_unix(self.created)


class BalanceTransaction(_SnakeRecord):
    id: str
    amount: int
    fee: int = 0
    net: int
    currency: str
    type: str
    reporting_category: str
    source: str | None = None
    payout: str | None = None
    created: int
    exchange_rate: float | None = None

    @property
    def created_at(self) -> datetime:
        return _from_unix(self.created)
