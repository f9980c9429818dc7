"""The canonical state follows the WMS; the storefront's word is checked for consistency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from omnigraph.core.errors import UpstreamUnavailable
from omnigraph.core.sources import SourceKind
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.truth import (
    LineQuantities,
    OrderEvidence,
    OrderState,
    OrderTruth,
    channel_state,
    states_consistent,
    storefront_fulfilment,
    wms_state,
)
from omnigraph.sources.records import (
    Charge,
    FulfilmentOrder,
    OrderTotals,
    SalesOrder,
    Sourced,
    StorefrontOrder,
)

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def fulfilment(status: str, ref: str = "WO-1") -> FulfilmentOrder:
    return FulfilmentOrder.model_validate(
        {
            "id": ref,
            "orderRef": "SF-1",
            "locationId": "dc-north",
            "status": status,
            "lines": [],
            "updatedAt": NOW.isoformat(),
        }
    )


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], None),
        (["picking"], OrderState.RELEASED),
        (["ready_for_pickup"], OrderState.PACKED),
        (["picked_up"], OrderState.DELIVERED),
        (["shipped", "picking"], OrderState.PARTIALLY_SHIPPED),
        (["shipped", "cancelled"], OrderState.SHIPPED),
        (["cancelled", "cancelled"], OrderState.CANCELLED),
        (["delivered", "shipped"], OrderState.SHIPPED),
    ],
)
def test_split_fulfilment_gives_one_state(statuses: list[str], expected: OrderState | None) -> None:
    orders = [fulfilment(s, f"WO-{i}") for i, s in enumerate(statuses)]
    assert wms_state(orders) == expected


LEFT = "every unit has left the building"
PART = "part of the order has left the building"
BUSY = "the storefront has nothing to catch up with until the units leave"
NOTHING = (
    "the WMS cancelled every fulfilment order: cancel the order in the storefront, or have the"
    " WMS release it again; no fulfilment status makes them agree"
)


@pytest.mark.parametrize(
    ("statuses", "told", "reason"),
    [
        (["shipped"], "fulfilled", LEFT),
        (["shipped", "delivered"], "fulfilled", LEFT),
        (["delivered", "delivered"], "delivered", "every unit was delivered"),  # closes it
        (["picked_up"], "picked_up", "every unit was picked up"),  # never told "fulfilled"
        (["ready_for_pickup"], "ready_for_pickup", "the order waits at the store"),
        (["shipped", "picking"], "partial", PART),
        (["partially_shipped"], "partial", PART),
        (["shipped", "ready_for_pickup"], "partial", PART),
        (["shipped", "cancelled"], "fulfilled", LEFT),
        (["returned"], "fulfilled", LEFT),
        (["picking"], None, f"the WMS is still working on it (picking): {BUSY}"),
        (
            ["packed", "ready_for_pickup", "packed"],
            None,
            f"the WMS is still working on it (packed, ready_for_pickup): {BUSY}",
        ),
        (["cancelled"], None, NOTHING),  # no fulfilment status makes them agree
        ([], None, "the WMS has no fulfilment order for it yet"),
    ],
)
def test_the_storefront_is_told_what_the_wms_reports_in_its_words(
    statuses: list[str], told: str | None, reason: str
) -> None:
    """The status a disagreement's fix would set, and the reason an agent reads with it."""
    orders = [fulfilment(s, f"WO-{i}") for i, s in enumerate(statuses)]
    assert storefront_fulfilment(orders) == (told, reason)


def test_storefront_unfulfilled_agrees_with_picking_but_not_with_shipped() -> None:
    assert states_consistent("PICKED", "PLACED")
    assert not states_consistent("SHIPPED", "PLACED")
    assert not states_consistent("SHIPPED", "CANCELLED")
    assert states_consistent("RETURNED", "SHIPPED")


def storefront_order(
    status: str = "open", fulfilment_status: str = "unfulfilled", method: str = "ship"
) -> StorefrontOrder:
    return StorefrontOrder.model_validate(
        {
            "id": "SF-1",
            "channel": "web",
            "fulfilmentMethod": method,
            "currency": "GBP",
            "status": status,
            "fulfilmentStatus": fulfilment_status,
            "placedAt": NOW.isoformat(),
            "updatedAt": NOW.isoformat(),
            "lines": [],
            "totals": {"subtotal": "0", "total": "0"},
        }
    )


def wms_order(status: str, **fields: object) -> FulfilmentOrder:
    return FulfilmentOrder.model_validate(
        {
            "id": "WO-1",
            "orderRef": "SF-1",
            "locationId": "store-london",
            "status": status,
            "lines": [],
            "updatedAt": NOW.isoformat(),
            **fields,
        }
    )


@pytest.mark.parametrize(
    ("storefront", "wms", "expected"),
    [
        (("open", "unfulfilled"), [], OrderState.PLACED),
        (("cancelled", "unfulfilled"), [], OrderState.CANCELLED),
        (("open", "unfulfilled"), ["picking"], OrderState.RELEASED),
        (("open", "unfulfilled"), ["picked"], OrderState.PICKED),
        (("open", "ready_for_pickup"), ["ready_for_pickup"], OrderState.PACKED),
        (("open", "partial"), ["shipped", "packed"], OrderState.PARTIALLY_SHIPPED),
        (("cancelled", "unfulfilled"), ["shipped"], OrderState.SHIPPED),  # physical truth wins
        (("closed", "picked_up"), ["picked_up"], OrderState.DELIVERED),
        (("closed", "fulfilled"), ["partially_returned"], OrderState.PARTIALLY_RETURNED),
        (("closed", "fulfilled"), ["returned"], OrderState.RETURNED),
        (("open", "unfulfilled"), ["cancelled"], OrderState.CANCELLED),
    ],
)
def test_the_served_state_follows_the_documented_table(
    storefront: tuple[str, str], wms: list[str], expected: OrderState
) -> None:
    evidence = OrderEvidence(
        storefront=Sourced("shop", storefront_order(*storefront)),
        fulfilment_orders=[Sourced("wms", wms_order(s)) for s in wms],
    )
    truth = OrderTruth(evidence, AuthorityRules.load(), NOW)
    assert truth.state.served.value == expected


LATER = NOW + timedelta(days=5)


@pytest.mark.parametrize(
    ("method", "status", "wms", "erp_ship_date", "expected"),
    [
        ("ship", "open", [], None, None),
        ("pickup", "open", [], None, "AWAITING_RELEASE"),
        ("pickup", "open", [("picking", {})], None, "AWAITING_PICK"),
        (
            "pickup",
            "open",
            [("ready_for_pickup", {"pickupHoldUntil": (LATER + timedelta(days=1)).isoformat()})],
            None,
            "READY_FOR_PICKUP",
        ),
        (
            "pickup",
            "open",
            [("ready_for_pickup", {"pickupHoldUntil": (LATER - timedelta(days=1)).isoformat()})],
            None,
            "MISSED_PICKUP",
        ),
        ("pickup", "open", [("ready_for_pickup", {})], None, "MISSED_PICKUP"),  # 3-day default hold
        ("pickup", "closed", [("picked_up", {})], None, "PICKED_UP"),
        ("pickup", "cancelled", [], None, "CANCELLED"),
        ("wholesale", "open", [], (LATER + timedelta(days=3)).date().isoformat(), "SCHEDULED"),
        (
            "wholesale",
            "open",
            [],
            (LATER - timedelta(days=3)).date().isoformat(),
            "AWAITING_RELEASE",
        ),
        ("wholesale", "open", [("picked", {})], None, "IN_FULFILMENT"),
        (
            "wholesale",
            "open",
            [("packed", {"complianceHold": {"reason": "routing guide", "since": NOW.isoformat()}})],
            None,
            "COMPLIANCE_HOLD",
        ),
        ("wholesale", "open", [("packed", {"asnSentAt": NOW.isoformat()})], None, "ASN_SENT"),
        ("wholesale", "closed", [("shipped", {"asnSentAt": NOW.isoformat()})], None, "SHIPPED"),
    ],
)
def test_channel_branch_table(
    method: str,
    status: str,
    wms: list[tuple[str, dict[str, object]]],
    erp_ship_date: str | None,
    expected: str | None,
) -> None:
    order = storefront_order(status=status, method=method)
    sales = [wholesale_sales_order(erp_ship_date)]
    fulfilment = [wms_order(s, **fields) for s, fields in wms]
    assert channel_state(order, fulfilment, sales, LATER) == expected


AT = datetime(2026, 11, 20, 9, tzinfo=UTC)


def storefront(
    total: str, lines: list[tuple[str, int, str]], *, fulfilment_status: str = "unfulfilled"
) -> Sourced[StorefrontOrder]:
    order = StorefrontOrder.model_validate(
        {
            "id": "SF-7",
            "channel": "web",
            "fulfilmentMethod": "ship",
            "currency": "GBP",
            "status": "open",
            "fulfilmentStatus": fulfilment_status,
            "placedAt": AT.isoformat(),
            "updatedAt": AT.isoformat(),
            "lines": [
                {"id": f"L{i}", "sku": sku, "quantity": qty, "unitPrice": price}
                for i, (sku, qty, price) in enumerate(lines)
            ],
            "totals": {"subtotal": total, "total": total},
        }
    )
    return Sourced("web-store", order)


def erp(
    so_id: str, total: str, shipping: str, lines: list[tuple[str, int, str]]
) -> Sourced[SalesOrder]:
    record = SalesOrder.model_validate(
        {
            "id": so_id,
            "orderRef": "SF-7",
            "currency": "GBP",
            "terms": "prepaid",
            "status": "open",
            "financialStatus": "paid",
            "lines": [
                {"lineNo": i + 1, "sku": sku, "quantity": qty, "unitPrice": price}
                for i, (sku, qty, price) in enumerate(lines)
            ],
            "totals": {"subtotal": total, "shipping": shipping, "total": total},
            "updatedAt": (AT + timedelta(minutes=len(so_id))).isoformat(),
        }
    )
    return Sourced("erp", record)


def test_several_sales_orders_are_one_erp_claim_naming_each_record() -> None:
    """An ERP that splits one order into sales orders states its total, line prices and
    quantities across all of them: added up, each record named in the provenance."""
    order = storefront("3448.82", [("SKU-1", 3, "1000.00"), ("SKU-2", 1, "448.82")])
    split = [
        erp("SO-1", "2000.00", "0", [("SKU-1", 2, "1000.00")]),
        erp("SO-22", "1448.82", "4.95", [("SKU-1", 1, "1000.00"), ("SKU-2", 1, "448.82")]),
    ]
    truth = OrderTruth(OrderEvidence(order, sales_orders=split), AuthorityRules.load(), AT)
    assert (truth.total.served.value, truth.total.served.record_ref) == ("3448.82", "SO-1,SO-22")
    assert not truth.total.disputed
    assert truth.erp_totals("erp").shipping == Decimal("4.95")
    quantity = truth.ordered_quantity("SKU-1")
    assert quantity is not None
    assert not quantity.disputed
    erp_claim = next(c for c in quantity.claims if c.source_kind is SourceKind.ERP)
    assert (erp_claim.value, erp_claim.record_ref) == ("3", "SO-1#1,SO-22#1")
    price = truth.unit_price("SKU-1")
    assert price is not None
    assert not price.disputed
    assert price.served.record_ref == "SO-1#1,SO-22#1"
    assert truth.disagreements() == []


def test_a_split_order_that_does_not_add_up_is_one_disagreement() -> None:
    order = storefront("3448.82", [("SKU-1", 3, "1000.00"), ("SKU-2", 1, "448.82")])
    split = [
        erp("SO-1", "2000.00", "0", [("SKU-1", 2, "1000.00")]),
        erp("SO-22", "1196.05", "0", [("SKU-1", 1, "1000.00"), ("SKU-2", 1, "196.05")]),
    ]
    later = AT + timedelta(days=1)  # past the grace a lagging system is allowed
    truth = OrderTruth(OrderEvidence(order, sales_orders=split), AuthorityRules.load(), later)
    assert truth.total.served.value == "3196.05"
    assert truth.total.disputed


@pytest.mark.parametrize(
    ("storefront_says", "erp_says", "disputed"),
    [
        ("paid", "paid", False),
        ("pending", "invoiced", False),  # both: nothing paid yet
        ("paid", "refunded", True),
        ("paid", "partially_refunded", True),
        ("authorized", "paid", True),
    ],
)
def test_financial_status_is_compared_like_other_owned_fields(
    storefront_says: str, erp_says: str, disputed: bool
) -> None:
    order = storefront("10.00", [("SKU-1", 1, "10.00")])
    order = Sourced(
        order.source, order.record.model_copy(update={"financial_status": storefront_says})
    )
    sales = erp("SO-1", "10.00", "0", [("SKU-1", 1, "10.00")])
    sales = Sourced(sales.source, sales.record.model_copy(update={"financial_status": erp_says}))
    later = AT + timedelta(days=1)
    truth = OrderTruth(OrderEvidence(order, sales_orders=[sales]), AuthorityRules.load(), later)
    fact = truth.financial_status
    assert fact is not None
    assert fact.served.value == erp_says  # the ERP owns it
    assert fact.disputed is disputed


def test_a_sku_on_two_lines_at_two_prices_agrees_with_an_erp_that_states_both() -> None:
    """A second unit on promotion: the storefront lists the SKU twice, at two prices; an ERP
    that copies both lines (in one sales order or across two) agrees on price and quantity."""
    order = storefront("25.00", [("SKU-1", 2, "10.00"), ("SKU-1", 1, "5.00")])
    later = AT + timedelta(days=1)  # past every grace
    rules = AuthorityRules.load()
    for sales in (
        [erp("SO-1", "25.00", "0", [("SKU-1", 2, "10.00"), ("SKU-1", 1, "5.00")])],
        [
            erp("SO-1", "5.00", "0", [("SKU-1", 1, "5.00")]),
            erp("SO-22", "20.00", "0", [("SKU-1", 2, "10.00")]),
        ],
    ):
        truth = OrderTruth(OrderEvidence(order, sales_orders=sales), rules, later)
        assert truth.disagreements() == []
        quantity = truth.ordered_quantity("SKU-1")
        assert quantity is not None
        assert quantity.served.value == "3"
        assert [f.field for f in truth.line_facts()] == [
            "lines[SKU-1].quantity",
            "lines[SKU-1].unitPrice",
        ]
    # the ERP priced the promotion unit in full: its total disagrees
    full = [erp("SO-1", "30.00", "0", [("SKU-1", 3, "10.00")])]
    truth = OrderTruth(OrderEvidence(order, sales_orders=full), rules, later)
    assert {f.field for f in truth.disagreements()} == {"totals.total"}


@pytest.mark.parametrize(
    ("waited", "expected"),
    [
        (timedelta(days=2, hours=23, minutes=59), "READY_FOR_PICKUP"),
        (timedelta(days=3), "READY_FOR_PICKUP"),  # the last moment of the hold
        (timedelta(days=3, seconds=1), "MISSED_PICKUP"),
        (timedelta(days=4), "MISSED_PICKUP"),
    ],
)
def test_a_store_that_names_no_hold_keeps_a_pickup_three_days(
    waited: timedelta, expected: str
) -> None:
    """The default hold, as the customer and the store see it in ``Order.channelState``: a
    parcel ready for pickup (at NOW) with no ``pickupHoldUntil`` waits exactly three days."""
    ready = [wms_order("ready_for_pickup")]  # its updatedAt: NOW, the moment it became ready
    order = storefront_order(method="pickup")
    assert channel_state(order, ready, [], NOW + waited) == expected


def whole_order() -> OrderEvidence:
    """One order as all four systems saw it, each record stamped at its own moment."""
    order = StorefrontOrder.model_validate(
        {
            "id": "SF-9",
            "channel": "web",
            "customer": {"id": "CUS-7", "name": "Ada"},
            "fulfilmentMethod": "ship",
            "currency": "GBP",
            "status": "open",
            "fulfilmentStatus": "partial",
            "placedAt": NOW.isoformat(),
            "updatedAt": (NOW + timedelta(hours=1)).isoformat(),
            "lines": [{"id": "1", "sku": "SKU-A", "quantity": 3, "unitPrice": "10.00"}],
            "totals": {"subtotal": "30.00", "total": "30.00"},
        }
    )
    sales = SalesOrder.model_validate(
        {
            "id": "SO-9",
            "orderRef": "SF-9",
            "currency": "GBP",
            "terms": "NET30",
            "status": "open",
            "financialStatus": "invoiced",
            "lines": [],
            "totals": {"subtotal": "30.00", "total": "30.00"},
            "creditMemos": [
                {"id": "CM-1", "amount": "5.00", "issuedAt": (NOW + timedelta(hours=2)).isoformat()}
            ],
            "updatedAt": (NOW + timedelta(hours=3)).isoformat(),
        }
    )

    def wms(ref: str, hours: int, line: dict[str, int], shipments: list[dict[str, Any]]) -> Any:
        return FulfilmentOrder.model_validate(
            {
                "id": ref,
                "orderRef": "SF-9",
                "locationId": "dc-north",
                "status": "partially_shipped",
                "lines": [{"sku": "SKU-A", **line}, {"sku": "SKU-Z", "quantity": 9, "picked": 9}],
                "shipments": shipments,
                "updatedAt": (NOW + timedelta(hours=hours)).isoformat(),
            }
        )

    shipment = {
        "id": "SH-1",
        "carrier": "DPD",
        "shippedAt": (NOW + timedelta(hours=4)).isoformat(),
        "lines": [{"sku": "SKU-A", "quantity": 1}],
    }
    first = wms(
        "WO-1",
        5,
        {"quantity": 2, "picked": 2, "packed": 2, "shipped": 1, "short": 0, "damaged": 1},
        [shipment],
    )
    second = wms("WO-2", 6, {"quantity": 1, "short": 1, "cancelled": 1, "backordered": 1}, [])
    charge = Charge.model_validate(
        {
            "id": "ch_9",
            "amount": 3000,
            "currency": "gbp",
            "captured": True,
            "status": "succeeded",
            "created": int((NOW + timedelta(hours=7)).timestamp()),
        }
    )
    return OrderEvidence(
        storefront=Sourced("shop", order),
        sales_orders=[Sourced("erp1", sales)],
        fulfilment_orders=[Sourced("wms1", first), Sourced("wms2", second)],
        charges=[Sourced("psp", charge)],
    )


def test_every_served_value_names_its_system_record_and_moment() -> None:
    """``Order.provenance``: for each value served beyond the contested ones, who said it, in
    which record, as of when, and whether that system owns the field (authority.toml)."""
    truth = OrderTruth(whole_order(), AuthorityRules.load(), NOW + timedelta(days=1))
    contested = {fact.field for fact in truth.contested_facts()}
    served = [
        (f.field, c.source, c.source_kind, c.record_ref, c.as_of, c.value, f.authoritative)
        for f in truth.served_facts()
        if f.field not in contested
        for c in (f.served,)
    ]
    shop, erp, wms, psp = (
        SourceKind.STOREFRONT,
        SourceKind.ERP,
        SourceKind.WMS,
        SourceKind.PAYMENTS,
    )
    hour = [NOW + timedelta(hours=n) for n in range(8)]

    def lines(source: str, ref: str, at: datetime, **counts: int) -> list[tuple[Any, ...]]:
        names = ("picked", "packed", "shipped", "short", "damaged", "returned", "cancelled")
        return [
            (f"lines[SKU-{sku}].{n}", source, wms, ref, at, str(c.get(n, 0)), True)
            for sku, c in (("A", counts), ("Z", {"picked": 9}))
            for n in names
        ]

    assert served == [
        ("channel", "shop", shop, "SF-9", hour[1], "web", True),
        ("placedAt", "shop", shop, "SF-9", hour[1], NOW.isoformat(), True),
        ("fulfilmentMethod", "shop", shop, "SF-9", hour[1], "ship", True),
        ("customer", "shop", shop, "SF-9", hour[1], "CUS-7", True),
        ("terms", "erp1", erp, "SO-9", hour[3], "NET30", True),
        ("creditMemos", "erp1", erp, "CM-1", hour[2], "5.00", True),
        *lines("wms1", "WO-1", hour[5], picked=2, packed=2, shipped=1, damaged=1),
        ("shipments", "wms1", wms, "SH-1", hour[4], "DPD", True),
        *lines("wms2", "WO-2", hour[6], short=1, cancelled=1),
        ("payments", "psp", psp, "ch_9", hour[7], "succeeded", True),
    ]


def test_a_lines_execution_adds_up_every_fulfilment_order_of_its_sku() -> None:
    truth = OrderTruth(whole_order(), AuthorityRules.load(), NOW)
    assert truth.line_quantities("SKU-A") == LineQuantities(
        allocated=3, picked=2, packed=2, shipped=1, short=1, damaged=1, cancelled=1, backordered=1
    )
    assert truth.line_quantities("SKU-Z") == LineQuantities(allocated=18, picked=18)
    assert truth.line_quantities("SKU-NONE") == LineQuantities()


def test_only_the_asked_systems_evidence_is_kept() -> None:
    evidence = whole_order()
    evidence.unavailable = {
        SourceKind.ERP: UpstreamUnavailable("erp1", "HTTP 503"),
        SourceKind.WMS: UpstreamUnavailable("wms1", "HTTP 503"),
    }
    erp = evidence.only({SourceKind.ERP})
    assert erp.storefront is evidence.storefront
    assert (erp.sales_orders, erp.fulfilment_orders, erp.charges) == (evidence.sales_orders, [], [])
    assert list(erp.unavailable) == [SourceKind.ERP]
    wms_and_money = evidence.only({SourceKind.WMS, SourceKind.PAYMENTS})
    assert wms_and_money.sales_orders == []
    assert wms_and_money.fulfilment_orders == evidence.fulfilment_orders
    assert wms_and_money.charges == evidence.charges
    assert list(wms_and_money.unavailable) == [SourceKind.WMS]


def wholesale_sales_order(ship_date: str | None) -> SalesOrder:
    return SalesOrder.model_validate(
        {
            "id": "SO-1",
            "orderRef": "SF-1",
            "currency": "GBP",
            "terms": "NET30",
            "status": "open",
            "financialStatus": "invoiced",
            "lines": [],
            "totals": {"subtotal": "0", "total": "0"},
            "requestedShipDate": ship_date,
            "updatedAt": NOW.isoformat(),
        }
    )


@pytest.mark.parametrize(
    ("method", "status", "wms", "expected"),
    [
        # every fulfilment order cancelled in the WMS, whatever the storefront still says
        ("pickup", "open", ["cancelled"], "CANCELLED"),
        ("pickup", "open", ["cancelled", "cancelled"], "CANCELLED"),
        ("wholesale", "open", ["cancelled"], "CANCELLED"),
        # one cancelled beside one still live: the live one decides
        ("pickup", "open", ["cancelled", "picking"], "AWAITING_PICK"),
        ("wholesale", "open", ["cancelled", "picked"], "IN_FULFILMENT"),
        # cancelled in the storefront before the WMS heard of it
        ("wholesale", "cancelled", [], "CANCELLED"),
        # every status past the dock is shipped, for a wholesale customer
        ("wholesale", "closed", ["delivered"], "SHIPPED"),
        ("wholesale", "closed", ["partially_returned"], "SHIPPED"),
        ("wholesale", "closed", ["returned"], "SHIPPED"),
    ],
)
def test_channel_branches_of_cancelled_and_finished_fulfilment(
    method: str, status: str, wms: list[str], expected: str
) -> None:
    order = storefront_order(status=status, method=method)
    fulfilment = [wms_order(s).model_copy(update={"id": f"WO-{n}"}) for n, s in enumerate(wms)]
    assert channel_state(order, fulfilment, [], LATER) == expected


def test_a_wholesale_order_due_to_ship_today_awaits_release_not_scheduled() -> None:
    """SCHEDULED is for a ship date still ahead; on the day itself the order waits for the
    warehouse to release it."""
    order = storefront_order(method="wholesale")
    today = [wholesale_sales_order(LATER.date().isoformat())]
    tomorrow = [wholesale_sales_order((LATER + timedelta(days=1)).date().isoformat())]
    assert channel_state(order, [], today, LATER) == "AWAITING_RELEASE"
    assert channel_state(order, [], tomorrow, LATER) == "SCHEDULED"


def test_any_two_states_can_be_compared_whichever_system_owns_state() -> None:
    """Rules may make the storefront the owner of ``state``; then the WMS's states, which the
    storefront never claims, are compared too: each agrees with itself and with no other
    storefront milestone, and a value that is no state agrees with nothing."""
    assert states_consistent("RELEASED", "RELEASED")
    assert states_consistent("PARTIALLY_RETURNED", "PARTIALLY_RETURNED")
    assert not states_consistent("PLACED", "RELEASED")
    assert not states_consistent("PACKED", "PICKED")
    assert not states_consistent("ON_THE_MOON", "PLACED")
    assert not states_consistent("PLACED", "ON_THE_MOON")


def named_erp(so_id: str, lines: list[tuple[str, int, str]], **totals: str) -> Sourced[SalesOrder]:
    """A sales order of the ERP configured as ``erp-eu``, with the totals given."""
    record = erp(so_id, totals.get("total", "0"), "0", lines).record
    figures = {"subtotal": "0", "total": "0", **totals}
    return Sourced("erp-eu", record.model_copy(update={"totals": OrderTotals(**figures)}))


def past_grace(order: Sourced[StorefrontOrder], *sales: Sourced[SalesOrder]) -> OrderTruth:
    evidence = OrderEvidence(order, sales_orders=list(sales))
    return OrderTruth(evidence, AuthorityRules.load(), AT + timedelta(days=1))


def test_a_line_price_the_erp_states_otherwise_shows_both_claims_each_named() -> None:
    truth = past_grace(
        storefront("20.00", [("SKU-1", 2, "10.00")]),
        named_erp("SO-1", [("SKU-1", 2, "9.50")], total="19.00"),
    )
    price = truth.unit_price("SKU-1")
    assert price is not None
    assert price.disputed
    assert [(c.source, c.record_ref, c.value) for c in price.claims] == [
        ("erp-eu", "SO-1#1", "9.50"),
        ("web-store", "SF-7", "10.00"),
    ]
    quantity = truth.ordered_quantity("SKU-1")
    assert quantity is not None
    assert [(c.source, c.record_ref, c.value) for c in quantity.claims] == [
        ("web-store", "SF-7", "2"),
        ("erp-eu", "SO-1#1", "2"),
    ]
    assert (truth.total.served.source, truth.total.served.value) == ("erp-eu", "19.00")


def test_a_price_written_with_other_decimals_is_the_same_price() -> None:
    truth = past_grace(
        storefront("20.00", [("SKU-1", 2, "10.00")]),
        named_erp("SO-1", [("SKU-1", 2, "10.0")], total="20.0"),
    )
    price = truth.unit_price("SKU-1")
    assert price is not None
    assert not price.disputed
    assert truth.disagreements() == []


def test_a_sku_only_the_erp_lists_is_the_erps_word_alone() -> None:
    truth = past_grace(
        storefront("20.00", [("SKU-1", 2, "10.00")]),
        named_erp("SO-1", [("SKU-1", 2, "10.00"), ("SKU-9", 1, "4.00")], total="24.00"),
    )
    price = truth.unit_price("SKU-9")
    quantity = truth.ordered_quantity("SKU-9")
    assert price is not None
    assert quantity is not None
    assert [(c.source, c.value) for c in price.claims] == [("erp-eu", "4.00")]
    assert [(c.source, c.value) for c in quantity.claims] == [("erp-eu", "1")]


def test_an_erp_pricing_one_of_two_storefront_prices_differently_disagrees() -> None:
    """The storefront sells SKU-1 at 10.00 and, on promotion, 8.00; an ERP stating 10.00 and
    9.00 does not agree with it (only the same set of prices does)."""
    truth = past_grace(
        storefront("18.00", [("SKU-1", 1, "10.00"), ("SKU-1", 1, "8.00")]),
        named_erp("SO-1", [("SKU-1", 1, "10.00"), ("SKU-1", 1, "9.00")], total="19.00"),
    )
    price = truth.unit_price("SKU-1")
    assert price is not None
    assert price.disputed
    assert sorted(c.value for c in price.claims if c.source == "erp-eu") == ["10.00", "9.00"]


def test_the_served_totals_are_the_erps_every_figure_added_up() -> None:
    truth = past_grace(
        storefront("33.00", [("SKU-1", 3, "10.00")]),
        named_erp(
            "SO-1",
            [("SKU-1", 2, "10.00")],
            subtotal="20.00",
            discount="2.00",
            tax="4.00",
            total="22.00",
        ),
        named_erp(
            "SO-2",
            [("SKU-1", 1, "10.00")],
            subtotal="10.00",
            discount="1.00",
            tax="2.00",
            total="11.00",
        ),
    )
    assert truth.served_totals == OrderTotals(
        subtotal=Decimal("30.00"),
        discount=Decimal("3.00"),
        shipping=Decimal("0"),
        tax=Decimal("6.00"),
        total=Decimal("33.00"),
    )


def test_a_financial_status_the_erp_books_otherwise_is_a_disagreement() -> None:
    order = storefront("20.00", [("SKU-1", 2, "10.00")])
    refunded = Sourced(
        order.source, order.record.model_copy(update={"financial_status": "refunded"})
    )
    truth = past_grace(refunded, named_erp("SO-1", [("SKU-1", 2, "10.00")], total="20.00"))
    assert [f.field for f in truth.disagreements()] == ["financialStatus"]
