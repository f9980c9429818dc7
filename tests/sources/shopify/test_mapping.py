"""A rich Shopify order (a partial refund, a return, a fulfilled and an unfulfilled line) and a
cancelled guest pickup, mapped to the storefront contract's order field by field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from omnigraph.sources.records import StorefrontOrder
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.mapping import gateway_ref

from .conftest import TOKEN, FakeShop

RICH = "SF-5012345678901"
PICKUP = "SF-5012345678902"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def test_rich_order_maps_field_by_field(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop
) -> None:
    order = (await adapter.orders_by_id([RICH]))[RICH]

    assert isinstance(order, StorefrontOrder)
    assert order.id == RICH
    assert order.name == "#1042"
    assert order.channel == "web"
    assert order.customer is not None
    assert (order.customer.id, order.customer.name, order.customer.email) == (
        "7012345678",
        "Ada Byron",
        "ada@example.com",
    )
    assert order.fulfilment_method == "ship"
    assert order.pickup_location_id is None
    assert order.currency == "GBP"
    assert order.status == "open"
    assert order.fulfilment_status == "partial"  # one line shipped, the scarf not yet
    assert order.financial_status == "partially_refunded"
    assert order.cancel_requested_at is None
    assert order.cancelled_at is None
    assert order.cancel_reason is None
    assert order.placed_at == at("2026-11-18T09:14:58+00:00")  # processedAt
    assert order.updated_at == at("2026-11-21T16:40:11+00:00")

    assert [(x.id, x.sku, x.title, x.quantity, x.unit_price) for x in order.lines] == [
        (f"{RICH}-1", "SKU-0001", "Linen shirt - M", 2, Decimal("35.00")),
        (f"{RICH}-2", "SKU-0007", "Wool scarf", 1, Decimal("24.5")),
    ]
    totals = order.totals
    # subtotal before discounts (Shopify's subtotalPriceSet, 85.05, is after them)
    assert totals.subtotal == Decimal("94.50")
    assert totals.discount == Decimal("9.45")
    assert totals.shipping == Decimal("4.95")
    assert totals.tax == Decimal("15.00")
    assert totals.total == Decimal("90.00")
    assert totals.subtotal - totals.discount + totals.shipping == totals.total

    # the declined return never happened; the closed one is back at the warehouse
    assert [(r.id, r.status, r.reason, r.opened_at) for r in order.returns] == [
        ("#1042-R1", "received", "Too small", at("2026-11-20T10:02:00+00:00"))
    ]
    assert [(x.sku, x.quantity) for x in order.returns[0].lines] == [("SKU-0001", 1)]

    # the failed refund moved no money; the partial refund paid for the return
    assert [
        (t.id, t.kind, t.amount, t.currency, t.gateway_ref, t.processed_at, t.return_id)
        for t in order.transactions
    ] == [
        (
            "6100000001",
            "capture",
            Decimal("90.00"),
            "GBP",
            "ch_3QaZbX2eZvKYlo2C1",
            at("2026-11-18T09:15:00+00:00"),
            None,
        ),
        (
            "6100000003",
            "refund",
            Decimal("31.50"),
            "GBP",
            "re_3QdEfX2eZvKYlo2C0",
            at("2026-11-21T16:40:02+00:00"),
            "#1042-R1",
        ),
    ]

    # one query for the order, one for its returns, on the versioned endpoint with the token
    assert [c.operation for c in shop.calls] == ["OmnigraphOrdersByIds", "OmnigraphReturnsByIds"]
    assert shop.calls[0].variables["ids"] == ["gid://shopify/Order/5012345678901"]
    assert shop.calls[1].variables["ids"] == [
        "gid://shopify/Return/9100000001",
        "gid://shopify/Return/9100000002",
    ]
    request = shop.calls[0].request
    assert request.url == "https://omni-test.myshopify.com/admin/api/2026-10/graphql.json"
    assert request.headers["X-Shopify-Access-Token"] == TOKEN
    assert "Authorization" not in request.headers


async def test_cancelled_guest_pickup_order(adapter: ShopifyStorefrontAdapter) -> None:
    order = (await adapter.orders_by_id([PICKUP]))[PICKUP]

    assert order.status == "cancelled"
    assert order.cancelled_at == at("2026-11-19T13:30:00+00:00")
    assert order.cancel_reason == "customer"
    assert order.customer is None  # a guest checkout
    assert order.channel == "store-pickup"  # "pos" is not in channel_map; a pickup order
    assert order.fulfilment_method == "pickup"
    assert order.pickup_location_id == "store-london"  # location 61002 through location_map
    assert order.financial_status == "voided"
    assert order.fulfilment_status == "unfulfilled"
    # a line without a SKU is named after Shopify's line item
    assert [(x.sku, x.title) for x in order.lines] == [("shopify-line-13000000003", "Gift wrap")]
    # an authorization and its void moved no money
    assert order.transactions == []
    assert order.returns == []


async def test_unknown_and_foreign_ids_are_missing_without_asking_for_them(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop
) -> None:
    found = await adapter.orders_by_id([PICKUP, "SF-5012345678999", "WO-700001", "SF-12a"])

    assert list(found) == [PICKUP]
    # only ids that can be this shop's orders are asked for; the orders have no returns
    assert [c.operation for c in shop.calls] == ["OmnigraphOrdersByIds"]
    assert shop.calls[0].variables["ids"] == [
        "gid://shopify/Order/5012345678902",
        "gid://shopify/Order/5012345678999",
    ]


# -- the reconciliation key without authorizationCode (deprecated since 2026-01) -------------


def _sale(**fields: object) -> dict[str, object]:
    return {
        "id": "gid://shopify/OrderTransaction/6100000001",
        "kind": "SALE",
        "status": "SUCCESS",
        "processedAt": "2026-11-18T09:15:00Z",
        "createdAt": "2026-11-18T09:15:00Z",
        "amountSet": {"shopMoney": {"amount": "90.00", "currencyCode": "GBP"}},
        **fields,
    }


@pytest.mark.parametrize(
    ("receipt", "kind", "expected"),
    [
        ('{"id":"ch_3QaZ","object":"charge","payment_intent":"pi_3QaZ"}', "capture", "ch_3QaZ"),
        (
            '{"id":"pi_3QaZ","object":"payment_intent","latest_charge":"ch_3QaZ"}',
            "capture",
            "ch_3QaZ",
        ),
        (
            {"id": "pi_3QaZ", "charges": {"object": "list", "data": [{"id": "ch_3QaZ"}]}},
            "capture",
            "ch_3QaZ",
        ),
        (
            {"id": "pi_3QaZ", "latest_charge": {"id": "py_3QaZ", "object": "charge"}},
            "capture",
            "py_3QaZ",
        ),
        ('{"id":"re_3QdE","object":"refund","charge":"ch_3QaZ"}', "refund", "re_3QdE"),
        ('{"payment_id":"nVsti"}', "capture", "rZ8bLq2m"),  # another gateway: Shopify's id
        ("not json", "capture", "rZ8bLq2m"),
    ],
)
def test_the_processor_id_comes_from_the_receipt_not_authorization_code(
    receipt: object, kind: str, expected: str
) -> None:
    txn = _sale(receiptJson=receipt, paymentId="rZ8bLq2m")
    assert "authorizationCode" not in txn
    assert gateway_ref(txn, kind) == expected


def test_without_receipt_or_payment_id_the_transaction_names_itself() -> None:
    assert gateway_ref(_sale(receiptJson=None, paymentId=None), "capture") == (
        "gid://shopify/OrderTransaction/6100000001"
    )
