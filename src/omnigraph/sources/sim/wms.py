"""The demo WMS: physical truth (fulfilment orders, locations, stock), per wms.yaml."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse
from starlette.routing import Route

from omnigraph.sources.sim.contract import (
    ChangeFeed,
    CommandRejectedError,
    batch_route,
    by_order_ref_route,
    list_route,
    read_object,
    require_positive_int,
    require_str,
    source_app,
    string_list,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from omnigraph.sources.sim.contract import CommandHandler, JsonRecord
    from omnigraph.sources.sim.world import DemoWorld

__all__ = ["create_wms_app"]

# Once goods have left (or the order is void) the floor can no longer change the order.
_SETTLED = frozenset(
    {"shipped", "delivered", "picked_up", "partially_returned", "returned", "cancelled"}
)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def create_wms_app(world: DemoWorld, *, token: str | None = None) -> Starlette:
    """The WMS over its own copy of the world's fulfilment orders, locations and stock."""
    fulfilments = {order["id"]: order for order in copy.deepcopy(world.wms_fulfilment_orders)}
    locations = copy.deepcopy(world.wms_locations)
    stock = copy.deepcopy(world.wms_stock)
    as_of = world.anchor.isoformat()
    feed = ChangeFeed("wms", world.events["wms"])
    shipment_numbers = [
        int(shipment["id"].removeprefix("SH-"))
        for order in fulfilments.values()
        for shipment in order["shipments"]
    ]
    next_shipment = [max(shipment_numbers, default=800000) + 1]

    def by_order_ref(refs: Sequence[str]) -> list[JsonRecord]:
        wanted = set(refs)
        return [order for order in fulfilments.values() if order["orderRef"] in wanted]

    async def stock_query(request: Request) -> Response:
        body = await read_object(request)
        skus = set(string_list(body, "skus") or [])
        location_ids = string_list(body, "locationIds", required=False)
        wanted = None if location_ids is None else set(location_ids)
        rows = [
            row
            for row in stock
            if row["sku"] in skus and (wanted is None or row["locationId"] in wanted)
        ]
        return JSONResponse({"data": rows, "asOf": as_of})

    def floor_command(
        apply: Callable[[JsonRecord, JsonRecord, int], str],
    ) -> CommandHandler:
        """A command on one line of an unsettled fulfilment order, for at most what is left."""

        def handle(payload: dict[str, Any]) -> str:
            order_id = require_str(payload, "fulfilmentOrderId")
            sku = require_str(payload, "sku")
            quantity = require_positive_int(payload, "quantity")
            order = fulfilments.get(order_id)
            if order is None:
                raise CommandRejectedError(f"no fulfilment order {order_id}")
            line = next((line for line in order["lines"] if line["sku"] == sku), None)
            if line is None:
                raise CommandRejectedError(f"{order_id} has no line for {sku}")
            if order["status"] in _SETTLED:
                raise CommandRejectedError(f"{order_id} is {order['status']}")
            left = line["quantity"] - line["shipped"] - line["short"]
            if quantity > left:
                raise CommandRejectedError(f"{order_id} has {left} of {sku} left, not {quantity}")
            before = copy.deepcopy(order)
            detail = apply(order, line, quantity)
            if order != before:
                order["updatedAt"] = _now()
                changed = order["status"] != before["status"]
                event = (
                    f"fulfilment_order.{order['status']}" if changed else "fulfilment_order.updated"
                )
                feed.append(event, "fulfilment_order", order["id"], order)
            return detail

        return handle

    def ship_partial(order: JsonRecord, line: JsonRecord, quantity: int) -> str:
        number = next_shipment[0]
        next_shipment[0] += 1
        shipment_id = f"SH-{number}"
        now = _now()
        order["shipments"].append(
            {
                "id": shipment_id,
                "carrier": "DPD",
                "trackingNumber": f"{number:014d}",
                "shippedAt": now,
                "deliveredAt": None,
                "lines": [{"sku": line["sku"], "quantity": quantity}],
            }
        )
        line["shipped"] += quantity
        line["picked"] = max(line["picked"], line["shipped"])
        line["packed"] = max(line["packed"], line["shipped"])
        complete = all(li["shipped"] + li["short"] >= li["quantity"] for li in order["lines"])
        order["status"] = "shipped" if complete else "partially_shipped"
        return f"{shipment_id} shipped {quantity} x {line['sku']}"

    def backorder(order: JsonRecord, line: JsonRecord, quantity: int) -> str:
        line["short"] += quantity
        return f"{quantity} x {line['sku']} on {order['id']} backordered"

    def substitute(order: JsonRecord, line: JsonRecord, quantity: int) -> str:
        return f"substitution of {quantity} x {line['sku']} on {order['id']} queued for review"

    def cancel_line(order: JsonRecord, line: JsonRecord, quantity: int) -> str:
        line["quantity"] -= quantity
        if all(li["quantity"] == 0 for li in order["lines"]):
            order["status"] = "cancelled"
        return f"{quantity} x {line['sku']} cancelled on {order['id']}"

    return source_app(
        "wms",
        [
            batch_route("fulfilment-orders", fulfilments.get),
            by_order_ref_route("fulfilment-orders", by_order_ref),
            list_route("locations", lambda: locations, sort_key=lambda loc: (loc["id"],)),
            Route("/stock/query", stock_query, methods=["POST"]),
        ],
        feed=feed,
        commands={
            "fulfilment.ship_partial": floor_command(ship_partial),
            "fulfilment.backorder": floor_command(backorder),
            "fulfilment.substitute": floor_command(substitute),
            "fulfilment.cancel_line": floor_command(cancel_line),
        },
        token=token,
    )
