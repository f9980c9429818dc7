"""What will happen to each order, decided before anything is written.

A draft fixes an order's lines, prices and timeline (seconds after placement of every step it
reaches) so that it sits in its planned stage at the world's anchor; `lifecycle.OrderBook` then
writes the records the draft describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from omnigraph.demo.catalogue import LOCATIONS, RETAIL_ACCOUNTS
from omnigraph.demo.formats import money, round_money

if TYPE_CHECKING:
    import random

    from omnigraph.demo.catalogue import Catalogue, Customer, Item

__all__ = [
    "OPEN_FULFILMENT_STATUSES",
    "STAGES",
    "VAT_FRACTION",
    "ChargeFault",
    "ComplianceHold",
    "DraftLine",
    "DraftOrder",
    "Incident",
    "OrderPlan",
    "draft_order",
    "fulfilment_line",
]

STAGES = (
    "placed",
    "released",
    "picking",
    "picked",
    "packed",
    "partially_shipped",
    "shipped",
    "delivered",
    "ready_for_pickup",
    "picked_up",
    "cancelled",
    "partially_returned",
    "returned",
)
TERMINAL_STAGES = frozenset(
    {"delivered", "picked_up", "partially_returned", "returned", "cancelled"}
)
# Fulfilment orders still holding stock at their location.
OPEN_FULFILMENT_STATUSES = frozenset(
    {"released", "picking", "picked", "packed", "partially_shipped", "ready_for_pickup"}
)

# What the WMS counts on each fulfilment line, all 0 on a new one.
_LINE_COUNTS = (
    "picked",
    "packed",
    "shipped",
    "short",
    "damaged",
    "returned",
    "cancelled",
    "backordered",
    "substituted",
)


def fulfilment_line(
    sku: str, quantity: int, *, substitute_for: str | None = None, **counts: int
) -> dict[str, Any]:
    """A new fulfilment order line as the WMS serves it: every count 0 but ``counts``."""
    return {
        "sku": sku,
        "quantity": quantity,
        **dict.fromkeys(_LINE_COUNTS, 0),
        **counts,
        "substituteFor": substitute_for,
    }


# The last step each stage has reached.
_LAST_STEP = {
    "placed": "erp",
    "released": "release",
    "picking": "picking",
    "picked": "picked",
    "packed": "packed",
    "ready_for_pickup": "ready",
    "picked_up": "collected",
    "partially_shipped": "ship1",
    "shipped": "ship2",
    "delivered": "delivered",
    "partially_returned": "returned",
    "returned": "returned",
    "cancelled": "cancel",
}
# How long an in-flight order has sat in its stage when the world is observed (seconds).
_STAGE_AGE = {
    "placed": (600, 7200),
    "released": (600, 10800),
    "picking": (300, 3600),
    "picked": (600, 7200),
    "packed": (600, 14400),
    "ready_for_pickup": (3600, 172800),
    "partially_shipped": (10800, 259200),
    "shipped": (3600, 61200),
}
_HOUR = 3600
_DAY = 86400
_HORIZON = 45 * _DAY
VAT_FRACTION = Decimal(6)  # UK prices include 20% VAT: tax = gross / 6
_WHOLESALE_PRICE = Decimal("0.55")
_STORES = tuple(location["id"] for location in LOCATIONS if location["type"] == "store")


@dataclass(frozen=True)
class OrderPlan:
    """What the world plan asks of one order: the stage it reached and any planted fault."""

    stage: str
    channel: str
    planted: str | None = None


@dataclass(frozen=True)
class Incident:
    """An operational exception the warehouse will meet on this order (see incidents.py).

    `line` and `units` say which draft line came up short or damaged, and by how many units;
    both are None for a missed pickup, which concerns the whole order.
    """

    kind: str
    line: int | None = None
    units: int | None = None

    def line_and_units(self) -> tuple[int, int]:
        """Which draft line, and how many of its units, a short pick or damage concerns."""
        if self.line is None or self.units is None:
            raise ValueError(f"a {self.kind} incident concerns no single line")
        return self.line, self.units


@dataclass(frozen=True)
class ComplianceHold:
    """The WMS holds a trade order until the retailer's routing or labelling requirements are
    met (see wholesale.py): `reason` says which, `step` is the floor step that found it (the
    order's last) and `delay` how many seconds after it the hold was placed."""

    reason: str
    step: str
    delay: int


@dataclass(frozen=True)
class ChargeFault:
    """The processor charges this order differently from what the storefront captured (see
    money.py): `difference` more minor units (`capture_amount_mismatch`), or in euros at
    `exchange_rate` pounds per euro (`currency_mismatch`)."""

    kind: str
    difference: int = 0
    exchange_rate: float | None = None


@dataclass(frozen=True)
class DraftLine:
    item: Item
    quantity: int
    unit_price: Decimal

    @property
    def gross(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass
class DraftOrder:
    """Everything decided about one order before it is written: lines, prices and its timeline."""

    plan: OrderPlan
    customer: Customer
    account_id: str
    location_id: str
    lines: list[DraftLine]
    discount_rate: Decimal
    cancel_mode: str | None
    shipments: int
    steps: dict[str, int]
    sync_lag: int
    placed_at: datetime
    carrier: str
    total_variant: str = "shipping"
    price_line: int = 0
    incident: Incident | None = None
    # The wholesale branch (see wholesale.py); None for orders of other channels.
    requested_ship_date: date | None = None
    compliance_hold: ComplianceHold | None = None
    asn_delay: int | None = None
    # A planted money mismatch on the charge itself (see money.py); None for most orders.
    charge_fault: ChargeFault | None = None

    def at(self, step: str, extra_seconds: int = 0) -> datetime:
        """When `step` happened (optionally a few seconds after it)."""
        return self.placed_at + timedelta(seconds=self.steps[step] + extra_seconds)

    def lagged(self, step: str) -> datetime:
        """When the storefront and ERP heard about a warehouse step."""
        return self.at(step, self.sync_lag)

    def reached(self, step: str) -> bool:
        return step in self.steps

    @property
    def subtotal(self) -> Decimal:
        return sum((line.gross for line in self.lines), Decimal(0))

    @property
    def discount(self) -> Decimal:
        return round_money(self.subtotal * self.discount_rate)

    @property
    def shipping(self) -> Decimal:
        net = self.subtotal - self.discount
        if self.plan.channel == "web":
            return Decimal("0.00") if net >= 60 else Decimal("4.95")
        if self.plan.channel == "marketplace":
            return Decimal("3.99")
        if self.plan.channel == "wholesale":
            return Decimal("0.00") if net >= 500 else Decimal("25.00")
        return Decimal("0.00")

    @property
    def total(self) -> Decimal:
        return self.subtotal - self.discount + self.shipping

    def totals(
        self, shipping: Decimal | None = None, discount: Decimal | None = None
    ) -> dict[str, str]:
        """The totals block; ERP may be given a different shipping or discount when planted."""
        shipping = self.shipping if shipping is None else shipping
        discount = self.discount if discount is None else discount
        total = self.subtotal - discount + shipping
        return {
            "subtotal": money(self.subtotal),
            "discount": money(discount),
            "shipping": money(shipping),
            "tax": money(total / VAT_FRACTION),
            "total": money(total),
        }

    def line_discounts(self) -> list[Decimal]:
        """The order discount spread over lines by value; the last line takes the rounding."""
        shares = [round_money(line.gross * self.discount_rate) for line in self.lines]
        shares[-1] = self.discount - sum(shares[:-1], Decimal(0))
        return shares

    def line_net(self, index: int) -> Decimal:
        return self.lines[index].gross - self.line_discounts()[index]


def draft_order(
    rng: random.Random, plan: OrderPlan, catalogue: Catalogue, anchor: datetime
) -> DraftOrder:
    """Decide an order's contents and timeline so that it sits in `plan.stage` at `anchor`."""
    wholesale = plan.channel == "wholesale"
    if wholesale:
        account = rng.choice(catalogue.trade_accounts)
        customer, account_id = account.buyer, account.account_id
    else:
        customer, account_id = rng.choice(catalogue.customers), RETAIL_ACCOUNTS[plan.channel]
    needs_two_lines = plan.stage in {"partially_shipped", "partially_returned"}
    line_count = rng.choices((1, 2, 3, 4), weights=(50, 30, 15, 5))[0]
    if wholesale:
        line_count = rng.randint(2, 5)
    if needs_two_lines:
        line_count = max(line_count, 2)
    items = rng.sample(catalogue.items, line_count)
    lines = [
        DraftLine(
            item=item,
            quantity=rng.randint(6, 48) if wholesale else rng.choices((1, 2, 3), (75, 20, 5))[0],
            unit_price=round_money(item.list_price * _WHOLESALE_PRICE)
            if wholesale
            else item.list_price,
        )
        for item in items
    ]
    if plan.channel == "web":
        discount_rate = Decimal("0.10") if rng.random() < 0.2 else Decimal(0)
    elif wholesale:
        discount_rate = Decimal("0.05") if rng.random() < 0.3 else Decimal(0)
    else:
        discount_rate = Decimal(0)
    cancel_mode = None
    if plan.stage == "cancelled":
        modes = ("before_release", "after_release")
        cancel_mode = (
            rng.choice(modes)
            if wholesale
            else rng.choices(("uncaptured", *modes), weights=(3, 4, 3))[0]
        )
    shipments = 2 if plan.stage == "partially_shipped" else 1
    if plan.stage in {"shipped", "delivered", "returned"} and line_count > 1 and not plan.planted:
        shipments = 2 if rng.random() < 0.25 else 1
    if plan.channel == "store-pickup":
        location_id = rng.choice(_STORES)
        carrier = "store-collection"
    else:
        location_id = "dc-north"
        carrier = (
            "Palletways"
            if wholesale
            else rng.choices(("DPD", "Royal Mail", "Evri"), weights=(60, 25, 15))[0]
        )
    steps = _timeline(rng, plan, cancel_mode, shipments)
    sync_lag = rng.randint(60, 600)
    span = steps[_last_step(plan, shipments)] + sync_lag
    if plan.stage in TERMINAL_STAGES:
        placed_ago = rng.randint(span + _HOUR, max(span + 2 * _HOUR, _HORIZON))
    else:
        low, high = _STAGE_AGE[plan.stage]
        placed_ago = span + rng.randint(low, high)
    draft = DraftOrder(
        plan=plan,
        customer=customer,
        account_id=account_id,
        location_id=location_id,
        lines=lines,
        discount_rate=discount_rate,
        cancel_mode=cancel_mode,
        shipments=shipments,
        steps=steps,
        sync_lag=sync_lag,
        placed_at=anchor - timedelta(seconds=placed_ago),
        carrier=carrier,
    )
    if plan.planted == "total_mismatch":
        variants = ("discount", "rounding") if draft.discount else ("shipping",)
        draft.total_variant = rng.choice(variants)
    if plan.planted == "price_mismatch":
        draft.price_line = rng.randrange(line_count)
    return draft


def _last_step(plan: OrderPlan, shipments: int) -> str:
    last = _LAST_STEP[plan.stage]
    return "ship1" if last == "ship2" and shipments == 1 else last


def _timeline(
    rng: random.Random, plan: OrderPlan, cancel_mode: str | None, shipments: int
) -> dict[str, int]:
    """Seconds after placement of each step the order reaches, in story order."""
    steps = {"placed": 0, "charge": rng.randint(5, 40), "erp": rng.randint(60, 300)}
    if plan.channel == "wholesale":
        release = rng.randint(2 * _HOUR, 8 * _HOUR)
    elif plan.channel == "store-pickup":
        release = rng.randint(600, _HOUR)
    else:
        release = rng.randint(900, 3 * _HOUR)
    if plan.stage == "cancelled":
        if cancel_mode == "after_release":
            steps["release"] = release
            steps["cancel"] = release + rng.randint(900, 3 * _HOUR)
        else:
            steps["cancel"] = max(steps["erp"] + 60, int(release * rng.uniform(0.2, 0.8)))
        return steps
    if plan.stage == "placed":
        return steps
    steps["release"] = release
    steps["picking"] = release + rng.randint(1200, 5 * _HOUR)
    steps["picked"] = steps["picking"] + rng.randint(600, 2 * _HOUR)
    steps["packed"] = steps["picked"] + rng.randint(300, _HOUR)
    if plan.channel == "store-pickup":
        steps["ready"] = steps["packed"] + rng.randint(900, 5400)
        steps["collected"] = steps["ready"] + rng.randint(3 * _HOUR, 3 * _DAY)
    else:
        shipped_from = steps["packed"]
        if plan.planted == "cancelled_but_shipped":
            steps["cancel"] = steps["packed"] + rng.randint(600, 3000)
            shipped_from = steps["cancel"]
        steps["ship1"] = shipped_from + rng.randint(1800, 6 * _HOUR)
        last_ship = steps["ship1"]
        if shipments == 2:
            steps["ship2"] = last_ship = steps["ship1"] + rng.randint(4 * _HOUR, 30 * _HOUR)
        transit = (1, 4) if plan.channel == "wholesale" else (0.75, 2.5)
        steps["delivered"] = last_ship + int(rng.uniform(*transit) * _DAY)
        steps["returned"] = steps["delivered"] + rng.randint(3 * _DAY, 14 * _DAY)
    last = steps[_last_step(plan, shipments)]
    return {step: offset for step, offset in steps.items() if offset <= last}
