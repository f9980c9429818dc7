"""Stripe's objects as the payments contract's records (docs/sources/stripe.md has the table).

Pure functions from Stripe's JSON to the contract's JSON, which the shared records then parse:
a Stripe object missing what the contract needs fails there, blamed on the source. Expanded
references (``source``, ``charge``, ``balance_transaction``) are reduced to their ids.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from omnigraph.sources.contract import JsonRecord

__all__ = [
    "balance_transaction_record",
    "charge_record",
    "dispute_record",
    "id_of",
    "payout_event",
    "payout_record",
    "refund_record",
    "transaction_type",
]

# Stripe's reporting_category -> the contract's transaction type, which the reconciler's
# categories (omnigraph.payouts.categories) and the matcher key on. Stripe books disputes
# and their reversals as type "adjustment"; the reporting category tells them apart.
_TYPE_BY_CATEGORY = {
    "charge": "charge",
    "refund": "refund",
    "dispute": "dispute",
    "dispute_reversal": "dispute_reversal",
    "fee": "stripe_fee",
    "payout": "payout",
    "other_adjustment": "adjustment",
}


def id_of(value: Any) -> str | None:
    """A reference Stripe may send as an id or, expanded, as the object itself."""
    if isinstance(value, dict):
        ref = value.get("id")
        return ref if isinstance(ref, str) else None
    return value if isinstance(value, str) else None


def _object(raw: Any) -> JsonRecord:
    return raw if isinstance(raw, dict) else {}


def _copied(raw: Any, *names: str) -> JsonRecord:
    """The fields the contract names as Stripe does, as Stripe sent them."""
    stripe_object = _object(raw)
    return {name: stripe_object.get(name) for name in names}


def transaction_type(raw: JsonRecord) -> str:
    """The contract's type for a balance transaction, from its ``reporting_category``.

    Categories without a contract type (``partial_capture_reversal``, ``refund_failure``,
    ``payout_reversal``, ``transfer`` ...) keep their own name: the reconciler counts an unknown
    type as an adjustment, so it stays in the payout equation and visible on its line.
    """
    category = raw.get("reporting_category")
    if isinstance(category, str):
        return _TYPE_BY_CATEGORY.get(category, category)
    kind = raw.get("type")
    return kind if isinstance(kind, str) else ""


def balance_transaction_record(raw: Any, payout_id: str | None) -> JsonRecord:
    """A balance transaction listed for ``payout_id`` (Stripe's object does not name its payout:
    it was asked for with ``?payout=``)."""
    txn = _object(raw)
    return {
        "id": txn.get("id"),
        "amount": txn.get("amount"),
        "fee": txn.get("fee", 0),
        "net": txn.get("net"),
        "currency": txn.get("currency"),
        "type": transaction_type(txn),
        "reporting_category": txn.get("reporting_category"),
        "source": id_of(txn.get("source")),
        "payout": payout_id,
        "created": txn.get("created"),
        "exchange_rate": txn.get("exchange_rate"),
    }


def _refund_line(raw: Any) -> JsonRecord:
    return _copied(raw, "id", "amount", "created", "status")


def charge_record(raw: Any) -> JsonRecord:
    """A charge; ``refunds`` only when Stripe expanded them (a list object since 2022-11-15).

    Stripe's charge has no list of disputes (only ``disputed``): disputes are fetched on their
    own, by the ids their balance transactions name, as the reconciler does.
    """
    charge = _object(raw)
    refunds = charge.get("refunds")
    refund_lines = refunds.get("data") if isinstance(refunds, dict) else None
    if not isinstance(refund_lines, list):
        refund_lines = None
    metadata = charge.get("metadata")
    return {
        "id": charge.get("id"),
        "amount": charge.get("amount"),
        "amount_captured": charge.get("amount_captured", 0),
        "amount_refunded": charge.get("amount_refunded", 0),
        "currency": charge.get("currency"),
        "captured": charge.get("captured"),
        "status": charge.get("status"),
        "created": charge.get("created"),
        "balance_transaction": id_of(charge.get("balance_transaction")),
        "metadata": metadata if isinstance(metadata, dict) else {},
        "refunds": [_refund_line(r) for r in refund_lines]
        if isinstance(refund_lines, list)
        else [],
        "disputes": [],
    }


def refund_record(raw: Any) -> JsonRecord:
    refund = _object(raw)
    return _refund_line(refund) | {"charge": id_of(refund.get("charge"))}


def dispute_record(raw: Any) -> JsonRecord:
    charge = id_of(_object(raw).get("charge"))
    return _copied(raw, "id", "amount", "status", "created") | {"charge": charge}


def payout_record(raw: Any) -> JsonRecord:
    return _copied(raw, "id", "amount", "currency", "arrival_date", "created", "status", "method")


def payout_event(event_id: str, event_type: str, created: Any, payout: Any) -> JsonRecord:
    """A change-feed event (the contract's shape) carrying a payout as Stripe described it."""
    record = payout_record(payout)
    occurred = (
        datetime.fromtimestamp(created, UTC).isoformat() if isinstance(created, int) else None
    )
    return {
        "id": event_id,
        "type": event_type,
        "recordType": "payout",
        "recordId": record["id"],
        "occurredAt": occurred,
        "data": record,
    }
