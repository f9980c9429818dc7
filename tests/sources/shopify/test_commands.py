"""The dispatcher's storefront commands against Shopify: done once with a mutation, found done
on a retry (no idempotency key on these mutations), or refused with the reason."""

from __future__ import annotations

from typing import Any

import pytest

from omnigraph.sources.contract import CommandReceipt
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter

from .conftest import Call, FakeShop

ORDER = "SF-5012345678902"
GID = "gid://shopify/Order/5012345678902"


class ShopOrder:
    """One order's state as the mutations change it."""

    def __init__(self) -> None:
        self.cancelled_at: str | None = None
        self.note = "Gift for Ada"
        self.tags = ["vip"]
        self.returns: list[dict[str, str]] = []

    def state(self, call: Call) -> dict[str, Any]:
        if call.variables["id"] != GID:
            return {"data": {"order": None}}
        return {
            "data": {
                "order": {
                    "id": GID,
                    "legacyResourceId": "5012345678902",
                    "updatedAt": "2026-11-21T09:00:00Z",
                    "cancelledAt": self.cancelled_at,
                    "note": self.note,
                    "tags": self.tags,
                }
            }
        }

    def cancel(self, call: Call) -> dict[str, Any]:
        self.cancelled_at = "2026-11-21T10:00:00Z"
        return {
            "data": {
                "orderCancel": {"job": {"id": "gid://shopify/Job/abc"}, "orderCancelUserErrors": []}
            }
        }

    def update(self, call: Call) -> dict[str, Any]:
        self.note = call.variables["input"]["note"]
        self.tags = call.variables["input"]["tags"]
        return {"data": {"orderUpdate": {"order": {"id": GID}, "userErrors": []}}}

    def returnable(self, call: Call) -> dict[str, Any]:
        return {
            "data": {
                "order": {
                    "id": GID,
                    "note": self.note,
                    "tags": self.tags,
                    "cancelledAt": self.cancelled_at,
                    "returns": {"nodes": self.returns},
                },
                "returnableFulfillments": {
                    "nodes": [
                        {
                            "returnableFulfillmentLineItems": {
                                "nodes": [
                                    {
                                        "quantity": 2,
                                        "fulfillmentLineItem": {
                                            "id": "gid://shopify/FulfillmentLineItem/1"
                                        },
                                    },
                                    {
                                        "quantity": 1,
                                        "fulfillmentLineItem": {
                                            "id": "gid://shopify/FulfillmentLineItem/2"
                                        },
                                    },
                                ]
                            }
                        }
                    ]
                },
            }
        }

    def create_return(self, call: Call) -> dict[str, Any]:
        self.returns.append({"name": "#1043-R1", "status": "OPEN"})
        return {
            "data": {
                "returnCreate": {
                    "return": {
                        "id": "gid://shopify/Return/77",
                        "name": "#1043-R1",
                        "status": "OPEN",
                    },
                    "userErrors": [],
                }
            }
        }


@pytest.fixture
def order(shop: FakeShop) -> ShopOrder:
    state = ShopOrder()
    shop.routes.update(
        OmnigraphOrderState=state.state,
        OmnigraphOrderCancel=state.cancel,
        OmnigraphOrderUpdate=state.update,
        OmnigraphReturnable=state.returnable,
        OmnigraphReturnCreate=state.create_return,
    )
    return state


async def sent_twice(
    adapter: ShopifyStorefrontAdapter, command_type: str, payload: dict[str, Any], key: str
) -> tuple[CommandReceipt, CommandReceipt]:
    """The receipts of a command and of its retry with the same idempotency key."""
    first = await adapter.client.command(command_type, payload, key)
    return first, await adapter.client.command(command_type, payload, key)


async def test_cancel_once_then_found_cancelled(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop, order: ShopOrder
) -> None:
    payload = {"orderId": ORDER, "reason": "customer"}
    first, again = await sent_twice(adapter, "order.cancel", payload, "k1")

    assert (first.accepted, first.replayed, first.command_id) == (
        True,
        False,
        "gid://shopify/Job/abc",
    )
    assert (again.accepted, again.replayed) == (True, True)
    (cancel,) = shop.of("OmnigraphOrderCancel")  # the mutation ran once
    assert cancel.variables == {
        "orderId": GID,
        "reason": "CUSTOMER",
        "staffNote": "omnigraph k1: customer",
    }


async def test_notify_writes_the_note_once_per_key(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop, order: ShopOrder
) -> None:
    payload = {"orderId": ORDER, "message": "Your parcel is delayed"}
    first, again = await sent_twice(adapter, "customer.notify", payload, "k2")

    assert first.accepted
    assert again.replayed
    assert len(shop.of("OmnigraphOrderUpdate")) == 1
    assert order.note.startswith("Gift for Ada\n[omnigraph ")
    assert order.note.endswith("] Your parcel is delayed")
    assert order.tags[:2] == ["vip", "omnigraph-notify"]


async def test_return_open_returns_every_fulfilled_line_once(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop, order: ShopOrder
) -> None:
    payload = {"orderId": ORDER, "reason": "damaged in transit"}
    first, again = await sent_twice(adapter, "return.open", payload, "k3")

    assert (first.accepted, first.detail, first.command_id) == (
        True,
        "return #1043-R1 opened",
        "gid://shopify/Return/77",
    )
    assert again.replayed
    (create,) = shop.of("OmnigraphReturnCreate")
    assert create.variables["input"] == {
        "orderId": GID,
        "returnLineItems": [
            {
                "fulfillmentLineItemId": "gid://shopify/FulfillmentLineItem/1",
                "quantity": 2,
                "returnReasonNote": "damaged in transit",
            },
            {
                "fulfillmentLineItemId": "gid://shopify/FulfillmentLineItem/2",
                "quantity": 1,
                "returnReasonNote": "damaged in transit",
            },
        ],
    }


async def test_resync_puts_the_order_on_the_feed(
    adapter: ShopifyStorefrontAdapter, order: ShopOrder
) -> None:
    receipt = await adapter.client.command("record.resync", {"recordId": ORDER}, "k4")
    assert receipt.accepted
    events, _, _ = await adapter.client.changes(None, 10)
    assert [(e["type"], e["recordId"]) for e in events] == [("order.updated", ORDER)]


@pytest.mark.parametrize(
    ("command", "payload", "reason"),
    [
        ("order.reinstate", {"orderId": ORDER}, "orderCancel is irreversible"),
        (
            "order.sync_fulfilment",
            {"orderId": ORDER, "fulfilmentStatus": "shipped"},
            "does not create fulfillments",
        ),
        ("order.explode", {"orderId": ORDER}, "unknown command type"),
        ("order.cancel", {"orderId": "WO-700001", "reason": "x"}, "not an order of this"),
    ],
)
async def test_commands_without_a_shopify_equivalent_are_refused_without_a_call(
    adapter: ShopifyStorefrontAdapter,
    shop: FakeShop,
    command: str,
    payload: dict[str, Any],
    reason: str,
) -> None:
    receipt = await adapter.client.command(command, payload, "k5")
    assert not receipt.accepted
    assert reason in receipt.detail
    assert shop.calls == []


async def test_a_refusal_by_shopify_is_a_rejected_receipt(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop, order: ShopOrder
) -> None:
    shop.routes["OmnigraphOrderCancel"] = lambda call: {
        "data": {
            "orderCancel": {
                "job": None,
                "orderCancelUserErrors": [
                    {
                        "field": ["orderId"],
                        "message": "Cannot cancel an order with fulfillments",
                        "code": "INVALID",
                    }
                ],
            }
        }
    }
    receipt = await adapter.client.command("order.cancel", {"orderId": ORDER, "reason": "x"}, "k6")
    assert not receipt.accepted
    assert receipt.detail == "Cannot cancel an order with fulfillments"
    unknown = await adapter.client.command(
        "order.cancel", {"orderId": "SF-5012345678999", "reason": "x"}, "k7"
    )
    assert not unknown.accepted
    assert "no order 5012345678999" in unknown.detail
