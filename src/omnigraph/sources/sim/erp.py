"""The demo ERP: commercial truth (sales orders, prices, credit memos), per erp.yaml."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from omnigraph.sources.sim.contract import (
    ChangeFeed,
    CommandRejectedError,
    batch_route,
    by_order_ref_route,
    require_positive_int,
    require_str,
    source_app,
)
from omnigraph.sources.sim.formats import money

if TYPE_CHECKING:
    from collections.abc import Sequence

    from starlette.applications import Starlette

    from omnigraph.sources.sim.contract import JsonRecord
    from omnigraph.sources.sim.world import DemoWorld

__all__ = ["create_erp_app"]

_AMOUNT = re.compile(r"[0-9]{1,9}(\.[0-9]{1,2})?")


def _amount(payload: dict[str, Any], name: str) -> Decimal:
    value = payload.get(name)
    if not isinstance(value, str) or not _AMOUNT.fullmatch(value) or Decimal(value) <= 0:
        raise CommandRejectedError(
            f'payload.{name} must be a positive decimal string such as "12.50"'
        )
    return Decimal(value)


def create_erp_app(world: DemoWorld, *, token: str | None = None) -> Starlette:
    """The ERP system over its own copy of the world's sales orders, items and change feed."""
    sales_orders = {order["id"]: order for order in copy.deepcopy(world.erp_sales_orders)}
    items = {item["sku"]: item for item in copy.deepcopy(world.erp_items)}
    feed = ChangeFeed("erp", world.events["erp"])
    memo_numbers = [
        int(memo["id"].removeprefix("CM-"))
        for order in sales_orders.values()
        for memo in order["creditMemos"]
    ]
    next_memo = [max(memo_numbers, default=0) + 1]

    def by_order_ref(refs: Sequence[str]) -> list[JsonRecord]:
        wanted = set(refs)
        return [order for order in sales_orders.values() if order["orderRef"] in wanted]

    def sales_order_of(payload: dict[str, Any]) -> JsonRecord:
        sales_order_id = require_str(payload, "salesOrderId")
        order = sales_orders.get(sales_order_id)
        if order is None:
            raise CommandRejectedError(f"no sales order {sales_order_id}")
        return order

    def issue_credit_memo(payload: dict[str, Any]) -> str:
        order = sales_order_of(payload)
        amount = _amount(payload, "amount")
        reason = require_str(payload, "reason")
        credited = sum((Decimal(memo["amount"]) for memo in order["creditMemos"]), Decimal(0))
        total = Decimal(order["totals"]["total"])
        if credited + amount > total:
            raise CommandRejectedError(
                f"{order['id']} has {money(total - credited)} left to credit, not {money(amount)}"
            )
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        memo = {"id": f"CM-{next_memo[0]:06d}", "amount": money(amount), "reason": reason}
        memo["issuedAt"] = now
        next_memo[0] += 1
        order["creditMemos"].append(memo)
        if order["terms"] == "prepaid":
            whole = credited + amount == total
            order["financialStatus"] = "refunded" if whole else "partially_refunded"
        order["updatedAt"] = now
        feed.append("credit_memo.issued", "sales_order", order["id"], order)
        return f"credit memo {memo['id']} for {memo['amount']} issued on {order['id']}"

    def confirm_price(payload: dict[str, Any]) -> str:
        order = sales_order_of(payload)
        line_no = require_positive_int(payload, "lineNo")
        price = _amount(payload, "unitPrice")
        line = next((line for line in order["lines"] if line["lineNo"] == line_no), None)
        if line is None:
            raise CommandRejectedError(f"{order['id']} has no line {line_no}")
        line["unitPrice"] = money(price)
        order["updatedAt"] = datetime.now(UTC).replace(microsecond=0).isoformat()
        feed.append("sales_order.updated", "sales_order", order["id"], order)
        return f"{order['id']} line {line_no} priced at {money(price)}"

    return source_app(
        "erp",
        [
            batch_route("sales-orders", sales_orders.get),
            by_order_ref_route("sales-orders", by_order_ref),
            batch_route("items", items.get),
        ],
        feed=feed,
        commands={"credit_memo.issue": issue_credit_memo, "price.confirm": confirm_price},
        token=token,
    )
