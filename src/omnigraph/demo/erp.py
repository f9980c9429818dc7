"""The demo ERP: commercial truth (sales orders, prices, credit memos), per erp.yaml."""

from __future__ import annotations

import copy
import operator
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from omnigraph.demo.contract import (
    CommandRejectedError,
    RefIndex,
    SourceAppFactory,
    SourceParts,
    batch_route,
    by_order_ref_route,
    require_positive_int,
    require_record,
    require_str,
    resync_command,
)
from omnigraph.demo.drafts import VAT_FRACTION
from omnigraph.demo.formats import NumberSeries, iso, money

if TYPE_CHECKING:
    from omnigraph.demo.contract import JsonRecord, SourceSystem
    from omnigraph.demo.world import DemoWorld

__all__ = ["create_erp_app"]

_AMOUNT = re.compile(r"[0-9]{1,9}(\.[0-9]{1,2})?")
# Nothing was paid, so there is nothing to credit.
_UNPAID = frozenset({"pending", "authorized", "voided"})


def _amount(payload: dict[str, Any], name: str) -> Decimal:
    value = payload.get(name)
    if not isinstance(value, str) or not _AMOUNT.fullmatch(value) or Decimal(value) <= 0:
        raise CommandRejectedError(
            f'payload.{name} must be a positive decimal string such as "12.50"'
        )
    return Decimal(value)


def _credited(order: JsonRecord) -> Decimal:
    return sum((Decimal(memo["amount"]) for memo in order["creditMemos"]), Decimal(0))


def _erp(world: DemoWorld, erp: SourceSystem) -> SourceParts:
    """The ERP system over its own copy of the world's sales orders, items and change feed."""
    now, feed = erp.now, erp.feed
    sales_orders = {order["id"]: order for order in copy.deepcopy(world.erp_sales_orders)}
    items = {item["sku"]: item for item in copy.deepcopy(world.erp_items)}
    memos = NumberSeries(
        "CM-", (memo["id"] for order in sales_orders.values() for memo in order["creditMemos"])
    )

    by_order_ref = RefIndex(sales_orders.values, operator.itemgetter("orderRef")).find

    def sales_order_of(payload: dict[str, Any]) -> JsonRecord:
        return require_record(payload, "salesOrderId", sales_orders, "sales order")

    def line_of(order: JsonRecord, payload: dict[str, Any]) -> JsonRecord:
        line_no = require_positive_int(payload, "lineNo")
        line: JsonRecord | None = next(
            (line for line in order["lines"] if line["lineNo"] == line_no), None
        )
        if line is None:
            raise CommandRejectedError(f"{order['id']} has no line {line_no}")
        return line

    def priced_line(payload: dict[str, Any]) -> tuple[JsonRecord, JsonRecord, Decimal]:
        """The sales order and line a price command names, and the unit price it says."""
        order = sales_order_of(payload)
        return order, line_of(order, payload), _amount(payload, "unitPrice")

    def changed(order: JsonRecord, event_type: str) -> None:
        order["updatedAt"] = iso(now())
        feed.append(event_type, "sales_order", order["id"], order)

    def issue_credit_memo(payload: dict[str, Any]) -> str:
        order = sales_order_of(payload)
        amount = _amount(payload, "amount")
        reason = require_str(payload, "reason")
        return_ref = payload.get("returnRef")
        if return_ref is not None and (not isinstance(return_ref, str) or not return_ref):
            raise CommandRejectedError("payload.returnRef must be a return id such as RMA-000001")
        if order["financialStatus"] in _UNPAID:
            raise CommandRejectedError(
                f"{order['id']} is {order['financialStatus']}: nothing was paid to credit"
            )
        credited = _credited(order)
        total = Decimal(order["totals"]["total"])
        if credited + amount > total:
            raise CommandRejectedError(
                f"{order['id']} has {money(total - credited)} left to credit, not {money(amount)}"
            )
        memo = {
            "id": memos.next(),
            "amount": money(amount),
            "reason": reason,
            "issuedAt": iso(now()),
            "returnRef": return_ref,
        }
        order["creditMemos"].append(memo)
        if order["terms"] == "prepaid":
            whole = credited + amount == total
            order["financialStatus"] = "refunded" if whole else "partially_refunded"
        changed(order, "credit_memo.issued")
        return f"credit memo {memo['id']} for {memo['amount']} issued on {order['id']}"

    def confirm_price(payload: dict[str, Any]) -> str:
        """The ERP's price stands: the line is marked confirmed at the price it already has."""
        order, line, price = priced_line(payload)
        if Decimal(line["unitPrice"]) != price:
            raise CommandRejectedError(
                f"{order['id']} line {line['lineNo']} is priced {line['unitPrice']}, not "
                f"{money(price)}; price.adjust changes a price"
            )
        line["priceConfirmedAt"] = iso(now())
        changed(order, "sales_order.updated")
        return f"{order['id']} line {line['lineNo']} price {line['unitPrice']} confirmed"

    def adjust_price(payload: dict[str, Any]) -> str:
        """Reprice a line (say, to what the customer saw) and recompute the order's totals."""
        order, line, price = priced_line(payload)
        if order["status"] == "cancelled":
            raise CommandRejectedError(f"{order['id']} is cancelled")
        if Decimal(line["unitPrice"]) == price:
            raise CommandRejectedError(
                f"{order['id']} line {line['lineNo']} is already priced {money(price)}"
            )
        gross = {li["lineNo"]: Decimal(li["unitPrice"]) * li["quantity"] for li in order["lines"]}
        gross[line["lineNo"]] = price * line["quantity"]
        totals = order["totals"]
        subtotal = sum(gross.values(), Decimal(0))
        total = subtotal - Decimal(totals["discount"]) + Decimal(totals["shipping"])
        if total < _credited(order):
            raise CommandRejectedError(
                f"{order['id']} has credited {money(_credited(order))}, more than a new total "
                f"of {money(total)}"
            )
        was = line["unitPrice"]
        line["unitPrice"] = money(price)
        line["tax"] = money((gross[line["lineNo"]] - Decimal(line["discount"])) / VAT_FRACTION)
        line["priceConfirmedAt"] = iso(now())
        totals.update(subtotal=money(subtotal), tax=money(total / VAT_FRACTION), total=money(total))
        changed(order, "sales_order.updated")
        return (
            f"{order['id']} line {line['lineNo']} repriced from {was} to {line['unitPrice']}; "
            f"total now {totals['total']}"
        )

    return SourceParts(
        routes=[
            batch_route("sales-orders", sales_orders.get),
            by_order_ref_route("sales-orders", by_order_ref),
            batch_route("items", items.get),
        ],
        commands={
            "credit_memo.issue": issue_credit_memo,
            "price.confirm": confirm_price,
            "price.adjust": adjust_price,
            "record.resync": resync_command(
                feed,
                "sales order or item",
                ("sales_order.updated", "sales_order", sales_orders),
                ("item.updated", "item", items),
            ),
        },
    )


create_erp_app = SourceAppFactory("erp", _erp)
