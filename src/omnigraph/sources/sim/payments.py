"""The demo payment processor: charges, refunds, payouts and balance transactions (payments.yaml).

Shaped like the leading card processors' objects: integer minor units, lower-case currency and
Unix timestamps, unlike the other three systems.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse
from starlette.routing import Route

from omnigraph.sources.sim.contract import (
    ChangeFeed,
    CommandRejectedError,
    ListFilter,
    batch_route,
    by_order_ref_route,
    list_route,
    positive_int,
    read_object,
    require_positive_int,
    require_str,
    source_app,
    string_list,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from omnigraph.sources.sim.contract import JsonRecord
    from omnigraph.sources.sim.world import DemoWorld

__all__ = ["PAYOUT_STATUSES", "create_payments_app"]

PAYOUT_STATUSES = ("paid", "pending", "in_transit", "canceled", "failed")


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


def create_payments_app(world: DemoWorld, *, token: str | None = None) -> Starlette:
    """The payments system over its own copy of the world's money movements."""
    charges = {charge["id"]: charge for charge in copy.deepcopy(world.charges)}
    payouts = {payout["id"]: payout for payout in copy.deepcopy(world.payouts)}
    transactions = copy.deepcopy(world.balance_transactions)
    feed = ChangeFeed("payments", world.events["payments"])
    refund_count = [sum(len(charge["refunds"]) for charge in charges.values())]

    def charges_by_order_ref(refs: Sequence[str]) -> list[JsonRecord]:
        wanted = set(refs)
        return [c for c in charges.values() if c["metadata"].get("order_ref") in wanted]

    async def transactions_by_payout(request: Request) -> Response:
        wanted = set(string_list(await read_object(request), "payoutIds") or [])
        rows = [txn for txn in transactions if txn["payout"] in wanted]
        return JSONResponse({"data": rows})

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
        now = int(time.time())
        refund = {
            "id": f"re_{refund_count[0]:06d}",
            "object": "refund",
            "amount": amount,
            "created": now,
            "status": "succeeded",
        }
        charge["refunds"].append(refund)
        charge["amount_refunded"] += amount
        transactions.append(
            {
                "id": f"txn_{len(transactions) + 1:06d}",
                "object": "balance_transaction",
                "amount": -amount,
                "fee": 0,
                "net": -amount,
                "currency": charge["currency"],
                "type": "refund",
                "reporting_category": "refund",
                "source": refund["id"],
                "payout": None,
                "created": now,
            }
        )
        feed.append("charge.refunded", "charge", charge_id, charge)
        return f"{refund['id']} refunded {amount} of {charge_id}"

    def investigate(payload: dict[str, Any]) -> str:
        payout_id = require_str(payload, "payoutId")
        if payout_id not in payouts:
            raise CommandRejectedError(f"no payout {payout_id}")
        return f"investigation opened for {payout_id}"

    return source_app(
        "payments",
        [
            by_order_ref_route("charges", charges_by_order_ref),
            batch_route("charges", charges.get),
            batch_route("payouts", payouts.get),
            list_route(
                "payouts",
                payouts.values,
                # Newest created first, then by id.
                sort_key=lambda payout: (-payout["created"], payout["id"]),
                filters=_PAYOUT_FILTERS,
            ),
            Route("/balance-transactions/by-payout", transactions_by_payout, methods=["POST"]),
        ],
        feed=feed,
        commands={"refund.create": refund, "payout.investigate": investigate},
        token=token,
    )
