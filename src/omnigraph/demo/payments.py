"""The demo payment processor: charges, refunds, disputes, payouts and balance transactions
(payments.yaml).

Shaped like the leading card processors' objects: integer minor units, lower-case currency and
Unix timestamps, unlike the other three systems; its balance transactions list pages the way
theirs do (`starting_after`, `has_more`).
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse
from starlette.routing import Route

from omnigraph.demo.contract import (
    CommandRejectedError,
    ContractError,
    ListFilter,
    RefIndex,
    SourceAppFactory,
    SourceParts,
    batch_route,
    by_order_ref_route,
    list_route,
    positive_int,
    read_object,
    require_positive_int,
    require_record,
    require_str,
    resync_command,
    single_param,
    string_list,
)
from omnigraph.demo.formats import unix

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from omnigraph.demo.contract import JsonRecord, SourceSystem
    from omnigraph.demo.world import DemoWorld

__all__ = ["MAX_TRANSACTIONS_PAGE", "PAYOUT_STATUSES", "create_payments_app"]

PAYOUT_STATUSES = ("paid", "pending", "in_transit", "canceled", "failed")
MAX_TRANSACTIONS_PAGE = 1000
_DEFAULT_TRANSACTIONS_PAGE = 100
_TRANSACTIONS_URL = "/balance-transactions"
_LIMIT = re.compile(r"[0-9]{1,4}")


def _payout_status(raw: str) -> str:
    if raw not in PAYOUT_STATUSES:
        raise ValueError(f"expected one of {', '.join(PAYOUT_STATUSES)}")
    return raw


_PAYOUT_FILTERS = (
    ListFilter("status", _payout_status, lambda payout, value: payout["status"] == value),
    # A half-open window on arrival: arrivalFrom <= arrival_date < arrivalTo.
    ListFilter("arrivalFrom", positive_int, lambda payout, value: payout["arrival_date"] >= value),
    ListFilter("arrivalTo", positive_int, lambda payout, value: payout["arrival_date"] < value),
)


def _transactions_limit(request: Request) -> int:
    raw = single_param(request, "limit")
    if raw is None:
        return _DEFAULT_TRANSACTIONS_PAGE
    if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_TRANSACTIONS_PAGE:
        raise ContractError(
            400, "BAD_LIMIT", f"`limit` must be an integer from 1 to {MAX_TRANSACTIONS_PAGE}"
        )
    return int(raw)


def _txn_order(txn: JsonRecord) -> tuple[int, str]:
    """Balance transactions list by id (`txn_000009` before `txn_000010`, however long)."""
    return len(txn["id"]), txn["id"]


def _charge_order_ref(charge: JsonRecord) -> object:
    return charge["metadata"].get("order_ref")


def _payments(world: DemoWorld, payments: SourceSystem) -> SourceParts:
    """The payments system over its own copy of the world's money movements."""
    now, feed = payments.now, payments.feed
    charges = {charge["id"]: charge for charge in copy.deepcopy(world.charges)}
    payouts = {payout["id"]: payout for payout in copy.deepcopy(world.payouts)}
    transactions = copy.deepcopy(world.balance_transactions)
    refund_count = [sum(len(charge["refunds"]) for charge in charges.values())]

    charges_by_order_ref = RefIndex(charges.values, _charge_order_ref).find

    async def transactions_by_payout(request: Request) -> Response:
        wanted = set(string_list(await read_object(request), "payoutIds") or [])
        rows = [txn for txn in transactions if txn["payout"] in wanted]
        return JSONResponse({"data": rows})

    async def list_transactions(request: Request) -> Response:
        """`GET /balance-transactions?payout&limit&starting_after`, the processors' list."""
        limit = _transactions_limit(request)
        payout = single_param(request, "payout")
        after = single_param(request, "starting_after")
        ordered = sorted(transactions, key=_txn_order)
        if after is not None:
            known = next((txn for txn in ordered if txn["id"] == after), None)
            if known is None:
                raise ContractError(
                    400, "BAD_CURSOR", f"`starting_after`: no balance transaction {after}"
                )
            ordered = [txn for txn in ordered if _txn_order(txn) > _txn_order(known)]
        if payout is not None:
            ordered = [txn for txn in ordered if txn["payout"] == payout]
        return JSONResponse(
            {
                "object": "list",
                "data": ordered[:limit],
                "has_more": len(ordered) > limit,
                "url": _TRANSACTIONS_URL,
            }
        )

    def refund_by_id(refund_id: str) -> JsonRecord | None:
        """A refund fetched on its own names its charge, as the processors' do."""
        for charge in charges.values():
            for refund in charge["refunds"]:
                if refund["id"] == refund_id:
                    return {**refund, "charge": charge["id"]}
        return None

    def dispute_by_id(dispute_id: str) -> JsonRecord | None:
        """A dispute fetched on its own names its charge, as the processors' do."""
        for charge in charges.values():
            for dispute in charge["disputes"]:
                if dispute["id"] == dispute_id:
                    return {"object": "dispute", **dispute, "charge": charge["id"]}
        return None

    def book(amount: int, currency: str, kind: str, source: str | None) -> JsonRecord:
        """A balance transaction moved by a command (no fee: refunds and adjustments)."""
        txn = {
            "id": f"txn_{len(transactions) + 1:06d}",
            "object": "balance_transaction",
            "amount": amount,
            "fee": 0,
            "net": amount,
            "currency": currency,
            "exchange_rate": None,
            "type": kind,
            "reporting_category": kind,
            "source": source,
            "payout": None,
            "created": unix(now()),
        }
        transactions.append(txn)
        return txn

    def payout_of(payload: dict[str, Any]) -> JsonRecord:
        return require_record(payload, "payoutId", payouts, "payout")

    def variance(payout: JsonRecord) -> int:
        """What the payout paid beyond (or short of) the net of the transactions it swept."""
        swept = [t for t in transactions if t["payout"] == payout["id"] and t["type"] != "payout"]
        return int(payout["amount"] - sum(t["net"] for t in swept))

    def refund(payload: dict[str, Any]) -> str:
        charge_id = require_str(payload, "charge")
        amount = require_positive_int(payload, "amount")
        charge = charges.get(charge_id)
        if charge is None:
            raise CommandRejectedError(f"no charge {charge_id}")
        left = charge["amount_captured"] - charge["amount_refunded"]
        if amount > left:
            raise CommandRejectedError(f"{charge_id} has {left} left to refund, not {amount}")
        refund_count[0] += 1
        refund: JsonRecord = {
            "id": f"re_{refund_count[0]:06d}",
            "object": "refund",
            "amount": amount,
            "created": unix(now()),
            "status": "succeeded",
        }
        charge["refunds"].append(refund)
        charge["amount_refunded"] += amount
        book(-amount, charge["currency"], "refund", refund["id"])
        feed.append("charge.refunded", "charge", charge_id, charge)
        return f"{refund['id']} refunded {amount} of {charge_id}"

    def investigate(payload: dict[str, Any]) -> str:
        payout = payout_of(payload)
        if payout["metadata"].get("investigation") == "open":
            raise CommandRejectedError(f"{payout['id']} is already under investigation")
        # Metadata values are strings, as the card processors keep them.
        payout["metadata"].update(investigation="open", investigation_opened_at=str(unix(now())))
        feed.append("payout.updated", "payout", payout["id"], payout)
        return f"investigation opened for {payout['id']}"

    def accept_variance(payload: dict[str, Any]) -> str:
        """Book the difference as an adjustment swept by the payout, so the books balance."""
        payout = payout_of(payload)
        difference = variance(payout)
        if difference == 0:
            raise CommandRejectedError(
                f"{payout['id']} matches the transactions it swept; there is no variance"
            )
        txn = book(difference, payout["currency"], "adjustment", payout["id"])
        txn["payout"] = payout["id"]
        payout["metadata"]["variance_accepted"] = str(difference)
        if payout["metadata"].get("investigation") == "open":
            payout["metadata"]["investigation"] = "closed"
        feed.append("payout.updated", "payout", payout["id"], payout)
        return f"variance of {difference} on {payout['id']} booked as adjustment {txn['id']}"

    return SourceParts(
        routes=[
            by_order_ref_route("charges", charges_by_order_ref),
            batch_route("charges", charges.get),
            batch_route("refunds", refund_by_id),
            batch_route("disputes", dispute_by_id),
            batch_route("payouts", payouts.get),
            list_route(
                "payouts",
                payouts.values,
                # Newest created first, then by id.
                sort_key=lambda payout: (-payout["created"], payout["id"]),
                filters=_PAYOUT_FILTERS,
            ),
            Route("/balance-transactions/by-payout", transactions_by_payout, methods=["POST"]),
            Route(_TRANSACTIONS_URL, list_transactions, methods=["GET"]),
        ],
        commands={
            "refund.create": refund,
            "payout.investigate": investigate,
            "payout.accept_variance": accept_variance,
            "record.resync": resync_command(
                feed,
                "charge or payout",
                ("charge.updated", "charge", charges),
                ("payout.updated", "payout", payouts),
            ),
        },
    )


create_payments_app = SourceAppFactory("payments", _payments)
