"""Seeded source worlds in shapes the contract allows and the demo systems never use.

``build_world(seed)`` is deterministic (one ``random.Random(seed)``) and written from the
contract alone (docs/sources/), not from omnigraph's demo systems: the point is to measure the
detector against systems its authors did not write. Each world holds what a storefront, an ERP,
a WMS and a payments provider would serve, the ground truth of the exceptions that must be
raised (``World.expected``) and of the reconciliation lines that must be flagged
(``World.expected_lines``), and counts of the planted disagreements and benign differences it
carries.

Shapes the demo never uses: order ids in other styles (numeric, ``gid://``, UUIDs...), SKUs and
location ids with slashes, colons and digits only, timestamps with ``Z`` and ``+01:00``-style
offsets and fractions, several ERP sales orders per order (a line even split across two), no
ERP sales order yet, split and partial shipments, pickups, currencies with 0 (JPY) and 3 (KWD)
decimals, a charge presented in one currency and settled in another, partial captures, split
tender, a movement redelivered under a new event id, an event id reused for another movement,
a gap in the feed's sequence, an exception report sent twice.
"""

from __future__ import annotations

import random
import string
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from omnigraph.orders.authority import AuthorityRules

from . import contract

ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EXPONENT = {"GBP": 2, "EUR": 2, "JPY": 0, "KWD": 3}
# The contract's Money is a decimal string with exactly two places, so a KWD amount (three
# decimals) can only be stated in whole steps of 10 fils, and a JPY amount as whole yen + ".00".
STEP = {"GBP": 1, "EUR": 1, "JPY": 1, "KWD": 10}
# the dispute fee and the return sweep's grace, as the reconciler is run in the test
DISPUTE_FEE = 1500
RETURN_GRACE = timedelta(days=2)
DRIFT_GRACE = timedelta(minutes=15)

Json = dict[str, Any]


def _grace(field_name: str) -> timedelta:
    return AuthorityRules.load().fields[field_name].grace


STATE_GRACE = _grace("state")
PRICE_GRACE = _grace("lines.unitPrice")
TOTALS_GRACE = _grace("totals")


# --- ground truth --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expected:
    """One exception that must be raised: its kind and what it is about."""

    kind: str
    key: str
    scenario: str


@dataclass
class World:
    seed: int
    now: datetime
    orders: list[Json] = field(default_factory=list)
    storefront_events: list[Json] = field(default_factory=list)
    sales_orders: list[Json] = field(default_factory=list)
    items: list[Json] = field(default_factory=list)
    erp_events: list[Json] = field(default_factory=list)
    fulfilment_orders: list[Json] = field(default_factory=list)
    locations: list[Json] = field(default_factory=list)
    stock: list[Json] = field(default_factory=list)
    wms_events: list[Json] = field(default_factory=list)
    charges: list[Json] = field(default_factory=list)
    refunds: list[Json] = field(default_factory=list)
    disputes: list[Json] = field(default_factory=list)
    payouts: list[Json] = field(default_factory=list)
    balance_transactions: list[Json] = field(default_factory=list)
    payments_events: list[Json] = field(default_factory=list)
    expected: list[Expected] = field(default_factory=list)
    # reconciliation line key ("txn:<id>" / "return:<rma>") -> the status it must have
    expected_lines: dict[str, str] = field(default_factory=dict)
    planted: Counter[str] = field(default_factory=Counter)
    benign: Counter[str] = field(default_factory=Counter)
    # feed behaviour the servers act out (at-least-once delivery across pages)
    feed_overlap: int = 0
    # the recipe each order followed, in order
    recipes: list[str] = field(default_factory=list)

    def expect(self, kind: str, key: str, scenario: str) -> None:
        self.expected.append(Expected(kind, key, scenario))
        self.planted[scenario] += 1


# --- formats -------------------------------------------------------------------------------

OFFSETS = {"Z": 0, "+00:00": 0, "+01:00": 60, "-05:00": -300, "+05:30": 330, "+09:00": 540}


class Stamps:
    """How one system writes timestamps: mostly its own style, now and then another."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.style = rng.choice(list(OFFSETS))
        self.timespec = rng.choice(["seconds", "milliseconds", "microseconds"])

    def iso(self, moment: datetime) -> str:
        style = self.style if self.rng.random() < 0.75 else self.rng.choice(list(OFFSETS))
        local = moment.astimezone(timezone(timedelta(minutes=OFFSETS[style])))
        text = local.isoformat(timespec=self.timespec)
        return text.removesuffix("+00:00") + "Z" if style == "Z" else text


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


def dec(minor: int, currency: str) -> str:
    """Minor units as the contract's decimal string (two places)."""
    value = Decimal(minor).scaleb(-EXPONENT[currency])
    stated = value.quantize(Decimal("0.01"))
    if stated != value:
        raise ValueError(f"{minor} minor units of {currency} need more than two places")
    return f"{stated:.2f}"


def to_grid(minor: Decimal | int, currency: str) -> int:
    """Round to the smallest amount the contract can state in ``currency``."""
    step = STEP[currency]
    return int((Decimal(minor) / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)) * step


def _alnum(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


ORDER_IDS: list[Callable[[int, random.Random], str]] = [
    lambda n, r: str(4_500_000_000_000 + n * 7919),
    lambda n, r: f"gid://shop/Order/{5_100_000_000 + n}",
    lambda n, r: _uuid(r),
    lambda n, r: f"web-2026-{n:06d}",
    lambda n, r: f"ORD_{_alnum(r, 10, string.ascii_uppercase + string.digits)}",
]
SALES_ORDER_IDS: list[Callable[[int, random.Random], str]] = [
    lambda n, r: f"{4_500_012_000 + n:010d}",
    lambda n, r: f"SO/2026/{n:05d}",
    lambda n, r: f"so_{_alnum(r, 12, string.ascii_lowercase + string.digits)}",
    lambda n, r: _uuid(r),
]
FULFILMENT_IDS: list[Callable[[int, random.Random], str]] = [
    lambda n, r: f"FO-{n:07d}",
    lambda n, r: f"shp_{_alnum(r, 14)}",
    lambda n, r: f"{80_000_000 + n}",
    lambda n, r: f"OUT/{n:06d}/A",
]
SKUS: list[Callable[[int, random.Random], str]] = [
    lambda n, r: f"{8_712_345_000_000 + n * 13}",  # EAN-13, digits only
    lambda n, r: f"TEE/{['BLK', 'WHT', 'RED'][n % 3]}/{n:03d}",
    lambda n, r: f"sku_{_alnum(r, 8, string.ascii_lowercase + string.digits)}",
    lambda n, r: f"A-{n}-{_alnum(r, 3, string.ascii_uppercase)}",
    lambda n, r: f"{1000 + n}.{n % 7}-XL",  # dots
    lambda n, r: f"SHIRT[{['S', 'M', 'L'][n % 3]}]-{n}",  # brackets
]
LOCATION_SETS = [
    (["WH01", "WH02"], ["ST-LDN-1", "ST-MAN-2"]),
    (["dc:east", "dc:west"], ["store:soho", "store:leeds"]),
    (["Lager 3", "lager-7"], ["shop/berlin", "shop/koeln"]),
]


class Ids:
    """The id styles of one world's systems."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.counts: Counter[str] = Counter()
        self.order_style = rng.choice(ORDER_IDS)
        self.sales_style = rng.choice(SALES_ORDER_IDS)
        self.fulfilment_style = rng.choice(FULFILMENT_IDS)
        self.charge_prefix = rng.choice(["ch_", "py_"])
        self.refund_prefix = "re_" if self.charge_prefix == "ch_" else "pyr_"
        self.event_style = rng.choice(["evt_", "uuid", "seq"])

    def next(self, what: str) -> int:
        self.counts[what] += 1
        return self.counts[what]

    def order(self) -> str:
        return self.order_style(self.next("order"), self.rng)

    def sales_order(self) -> str:
        return self.sales_style(self.next("sales_order"), self.rng)

    def fulfilment(self) -> str:
        return self.fulfilment_style(self.next("fulfilment"), self.rng)

    def stripe(self, prefix: str) -> str:
        return prefix + _alnum(self.rng, 24)

    def event(self, system: str) -> str:
        n = self.next(f"event:{system}")
        if self.event_style == "uuid":
            return _uuid(self.rng)
        if self.event_style == "seq":
            return f"{system}-{n}"
        return "evt_" + _alnum(self.rng, 20)


# --- the WMS floor: fulfilment orders, movements, stock -------------------------------------


@dataclass
class FoLine:
    sku: str
    quantity: int
    picked: int = 0
    packed: int = 0
    shipped: int = 0
    short: int = 0
    damaged: int = 0
    returned: int = 0
    cancelled: int = 0
    substituted: int = 0
    substitute_for: str | None = None


@dataclass
class Fo:
    id: str
    order_ref: str
    location: str
    lines: list[FoLine]
    released_at: datetime
    updated_at: datetime
    status: str = "released"
    shipments: list[Json] = field(default_factory=list)
    receipts: list[Json] = field(default_factory=list)
    pickup_hold_until: datetime | None = None
    compliance_hold: Json | None = None
    asn_sent_at: datetime | None = None

    def line(self, sku: str) -> FoLine:
        return next(x for x in self.lines if x.sku == sku)


@dataclass
class Move:
    movement: str
    sku: str
    location: str
    quantity: int
    at: datetime
    extra: Json
    published: bool = True


# --- orders --------------------------------------------------------------------------------


@dataclass
class Line:
    id: str
    sku: str
    title: str
    quantity: int
    price: int  # minor units


@dataclass
class Order:
    id: str
    name: str
    channel: str
    method: str
    currency: str
    customer: Json
    pickup_location: str | None
    placed_at: datetime
    lines: list[Line]
    discount: int
    shipping: int
    updated_at: datetime
    status: str = "open"
    fulfilment_status: str = "unfulfilled"
    financial_status: str = "paid"
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    returns: list[Json] = field(default_factory=list)
    transactions: list[Json] = field(default_factory=list)
    notifications: list[Json] = field(default_factory=list)

    @property
    def subtotal(self) -> int:
        return sum(line.quantity * line.price for line in self.lines)

    @property
    def total(self) -> int:
        return self.subtotal - self.discount + self.shipping


# recipes whose story needs days of history before now
LONG_HISTORY = frozenset(
    {
        "missed_pickup",
        "late_cancellation",
        "split_claimed_fulfilled",
        "late_sync",
        "pickup_behind",
        "charge_amount",
        "duplicate_charge",
        "currency_mismatch",
        "dispute_won",
        "returned_refunded",
        "return_in_grace",
        "refund_amount",
        "refund_without_return",
        "return_without_refund",
        "missing_credit_memo",
        "fx_refunded",
        "return_in_two_parcels",
        "refund_in_two_parts",
        "wms_cancelled",
        "refund_without_return_not_paid_out",
    }
)

# recipes: each order of a world follows one. Planted ones must raise exactly what they say;
# benign ones must raise nothing.
PLANTED_ORDER_RECIPES = (
    "late_sync",
    "storefront_ahead",
    "pickup_behind",
    "split_claimed_fulfilled",
    "late_cancellation",
    "line_price",
    "line_price_split_sales_orders",
    "total_only",
    "split_total",
    "short_pick",
    "damage",
    "missed_pickup",
    "charge_amount",
    "refund_amount",
    "refund_without_return",
    "return_without_refund",
    "duplicate_charge",
    "missing_credit_memo",
    "currency_mismatch",
    "wms_cancelled",
    "return_in_two_parcels",
)
BENIGN_RECIPES = (
    "erp_not_yet",
    "not_released",
    "in_warehouse",
    "shipped",
    "delivered",
    "two_shipments",
    "split_shipped",
    "split_partial",
    "partial_shipment",
    "pickup_ready",
    "picked_up",
    "cancelled",
    "cancelled_before_release",
    "line_cancelled",
    "split_one_cancelled",
    "returned_refunded",
    "return_in_grace",
    "cancel_refunded",
    "wholesale",
    "wholesale_on_hold",
    "lag_state",
    "lag_price",
    "lag_total",
    "erp_split",
    "erp_line_split",
    "unpaid_wording",
    "split_tender",
    "partial_capture",
    "fx_settled",
    "fx_refunded",
    "dispute_won",
    "repeated_sku_lines",
    "substituted",
    "refund_in_two_parts",
    "erp_shipping_alone",
)


class _Builder:
    def __init__(self, seed: int, orders: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.now = ANCHOR + timedelta(minutes=rng.randrange(0, 600))
        self.world = World(seed=seed, now=self.now)
        self.world.feed_overlap = rng.choice([0, 0, 2, 3])
        self.ids = Ids(rng)
        self.sf_time, self.erp_time, self.wms_time = Stamps(rng), Stamps(rng), Stamps(rng)
        self.count = orders
        self.benign_recipes = len(BENIGN_RECIPES)
        warehouses, stores = rng.choice(LOCATION_SETS)
        self.warehouses, self.stores = warehouses, stores
        sku_style = rng.choice(SKUS)
        self.skus = [sku_style(n, rng) for n in range(1, 13)]
        self.titles = {sku: f"Item {i}" for i, sku in enumerate(self.skus, 1)}
        self.settles_in_gbp = {c for c in ("JPY", "KWD") if rng.random() < 0.5}
        self.orders: list[Order] = []
        self.sales: list[Json] = []
        self.fos: list[Fo] = []
        self.moves: list[Move] = []
        self.reports: list[Json] = []
        self.charges: dict[str, Json] = {}
        self.txns: list[Json] = []
        self.stocked: set[tuple[str, str]] = set()

    # -- helpers ---------------------------------------------------------------------------

    def ago(self, low: timedelta, high: timedelta) -> datetime:
        seconds = self.rng.uniform(low.total_seconds(), high.total_seconds())
        return self.now - timedelta(seconds=round(seconds, 3))

    def between(self, start: datetime, end: datetime) -> datetime:
        span = (end - start).total_seconds()
        return start + timedelta(seconds=round(self.rng.uniform(0.05, 0.95) * span, 3))

    def steps(self, start: datetime, end: datetime, n: int) -> list[datetime]:
        span = (end - start).total_seconds()
        cuts = sorted(self.rng.uniform(0.02, 0.98) for _ in range(n))
        return [start + timedelta(seconds=round(c * span, 3)) for c in cuts]

    def price(self, currency: str) -> int:
        rng = self.rng
        if currency == "JPY":
            return rng.randrange(30, 2000) * 10
        if currency == "KWD":
            return rng.randrange(50, 3000) * 10  # 0.500 .. 29.990, in whole 10-fils steps
        return rng.randrange(199, 9999)

    def shipping(self, currency: str) -> int:
        options = {"JPY": [0, 500, 800], "KWD": [0, 1500, 2000], "GBP": [0, 395, 495]}
        return self.rng.choice(options.get(currency, [0, 495]))

    # -- orders ----------------------------------------------------------------------------

    def new_order(self, recipe: str) -> Order:
        rng = self.rng
        pickup = recipe in ("pickup_ready", "picked_up", "pickup_behind", "missed_pickup")
        wholesale = recipe in ("wholesale", "wholesale_on_hold")
        if recipe in ("fx_settled", "fx_refunded"):
            currency = rng.choice(sorted(self.settles_in_gbp) or ["JPY"])
            self.settles_in_gbp.add(currency)
        else:
            currency = rng.choice(["GBP", "GBP", "JPY", "KWD"])
        if pickup:
            channel, method = "store-pickup", "pickup"
        elif wholesale:
            channel, method = "wholesale", "wholesale"
        else:
            channel, method = rng.choice(["web", "web", "marketplace"]), "ship"
        n_lines = rng.randint(1, 4)
        if recipe in ("erp_split", "split_shipped", "split_partial", "split_one_cancelled"):
            n_lines = max(n_lines, 2)
        if recipe in ("split_total", "line_price_split_sales_orders", "split_claimed_fulfilled"):
            n_lines = max(n_lines, 2)
        skus = rng.sample(self.skus, n_lines)
        order_id = self.ids.order()
        placed = self.ago(timedelta(days=4), timedelta(days=20))
        if recipe in LONG_HISTORY:
            placed = self.ago(timedelta(days=13), timedelta(days=20))
        if recipe in ("erp_not_yet", "not_released", "unpaid_wording"):
            placed = self.ago(timedelta(minutes=3), timedelta(hours=5))
        lines = [
            Line(
                id=rng.choice([f"{order_id}-{i}", f"li_{_alnum(rng, 10)}", str(9_000 + i)]),
                sku=sku,
                title=self.titles[sku],
                quantity=rng.randint(1, 4) if not wholesale else rng.randint(12, 60),
                price=self.price(currency),
            )
            for i, sku in enumerate(skus, 1)
        ]
        if recipe in (
            "erp_line_split",
            "line_cancelled",
            "partial_shipment",
            "returned_refunded",
            "return_in_two_parcels",
            "refund_in_two_parts",
            "substituted",
        ):
            lines[0].quantity = max(lines[0].quantity, 2)
        subtotal = sum(x.quantity * x.price for x in lines)
        discount = to_grid(Decimal(subtotal) * rng.choice([0, 0, 0, Decimal("0.1")]), currency)
        order = Order(
            id=order_id,
            name=rng.choice([f"#{1000 + len(self.orders)}", f"W{len(self.orders):05d}"]),
            channel=channel,
            method=method,
            currency=currency,
            customer={
                "id": rng.choice([f"cus_{_alnum(rng, 8)}", str(rng.randrange(10**6, 10**7))]),
                "name": rng.choice(
                    ["Ada Byron", "Grace Hopper", "佐藤 健二", "نور الصباح", "Zoë Ørsted"]
                ),
                "email": rng.choice([None, "someone@example.com", "kunde@example.de"]),
            },
            pickup_location=rng.choice(self.stores) if pickup else None,
            placed_at=placed,
            lines=lines,
            discount=discount,
            shipping=0 if pickup or wholesale else self.shipping(currency),
            updated_at=placed,
            financial_status="invoiced" if wholesale else "paid",
        )
        if recipe in ("split_total", "erp_shipping_alone") and not order.shipping:
            order.shipping = {"JPY": 500, "KWD": 1500}.get(currency, 495)
        self.orders.append(order)
        return order

    def totals(self, lines: list[tuple[int, int]], discount: int, shipping: int, cur: str) -> Json:
        subtotal = sum(q * p for q, p in lines)
        total = subtotal - discount + shipping
        return {
            "subtotal": dec(subtotal, cur),
            "discount": dec(discount, cur),
            "shipping": dec(shipping, cur),
            "tax": dec(to_grid(Decimal(total) / 6, cur), cur),
            "total": dec(total, cur),
        }

    def storefront_record(self, order: Order) -> Json:
        cur = order.currency
        return {
            "id": order.id,
            "name": order.name,
            "channel": order.channel,
            "customer": order.customer,
            "fulfilmentMethod": order.method,
            "pickupLocationId": order.pickup_location,
            "currency": cur,
            "status": order.status,
            "fulfilmentStatus": order.fulfilment_status,
            "financialStatus": order.financial_status,
            "cancelRequestedAt": self.sf_time.iso(order.cancelled_at)
            if order.cancelled_at
            else None,
            "cancelledAt": self.sf_time.iso(order.cancelled_at) if order.cancelled_at else None,
            "cancelReason": order.cancel_reason,
            "placedAt": self.sf_time.iso(order.placed_at),
            "updatedAt": self.sf_time.iso(order.updated_at),
            "notifications": order.notifications,
            "returns": order.returns,
            "transactions": order.transactions,
            "lines": [
                {
                    "id": x.id,
                    "sku": x.sku,
                    "title": x.title,
                    "quantity": x.quantity,
                    "unitPrice": dec(x.price, cur),
                }
                for x in order.lines
            ],
            "totals": self.totals(
                [(x.quantity, x.price) for x in order.lines], order.discount, order.shipping, cur
            ),
        }

    # -- the ERP ---------------------------------------------------------------------------

    def erp(
        self,
        order: Order,
        *,
        parts: int = 1,
        split_line: bool = False,
        status: str = "released",
        financial: str | None = None,
        updated_at: datetime | None = None,
        price_of: dict[str, int] | None = None,
        extra_shipping: int = 0,
        shipping_everywhere: bool = False,
        price_in_part: int | None = None,
        shipping_alone: bool = False,
    ) -> list[Json]:
        """The ERP's sales orders for ``order``: ``parts`` of them (lines shared out, or one
        line's quantity split across two), discount and shipping allocated as the ERP likes,
        adding up to the storefront's totals unless told otherwise."""
        rng, cur = self.rng, order.currency
        groups: list[list[tuple[str, int, int]]] = [[] for _ in range(parts)]
        lines = [(x.sku, x.quantity, x.price) for x in order.lines]
        if split_line:
            sku, qty, price = lines[0]
            cut = rng.randint(1, qty - 1)
            groups[0].append((sku, cut, price))
            groups[-1].append((sku, qty - cut, price))
            lines = lines[1:]
        for i, line in enumerate(lines):
            groups[i % parts if i < parts else rng.randrange(parts)].append(line)
        if price_of:
            target = price_in_part if price_in_part is not None else 0
            for g, group in enumerate(groups):
                if g == target:
                    groups[g] = [(s, q, price_of.get(s, p)) for s, q, p in group]
        subtotals = [sum(q * p for _, q, p in g) for g in groups]
        discounts = [0] * parts
        largest = subtotals.index(max(subtotals))
        left = order.discount
        for g in range(parts):
            if g != largest and order.subtotal:
                share = Decimal(order.discount * subtotals[g]) / order.subtotal
                share *= Decimal(rng.uniform(0.3, 1.7))
                discounts[g] = min(left, subtotals[g], to_grid(share, cur))
                left -= discounts[g]
        discounts[largest] = left
        shipping = order.shipping + extra_shipping
        shippings = [0] * parts
        if shipping_everywhere:
            shippings = [shipping] * parts
        elif parts > 1 and rng.random() < 0.5 and shipping:
            first = to_grid(Decimal(shipping) * Decimal(rng.uniform(0.2, 0.8)), cur)
            shippings[0], shippings[-1] = first, shipping - first
        else:
            shippings[rng.randrange(parts)] = shipping
        if shipping_alone:  # a sales order of its own for the shipping charge, with no lines
            groups.append([])
            discounts.append(0)
            shippings = [0] * parts + [shipping]
        changed = updated_at or self.between(order.placed_at, min(self.now, order.updated_at))
        records = []
        for g, group in enumerate(groups):
            record = {
                "id": self.ids.sales_order(),
                "orderRef": order.id,
                "accountId": rng.choice(["ACC-0001", "D-1000123", "retail"]),
                "currency": cur,
                "terms": "NET30" if order.method == "wholesale" else "prepaid",
                "requestedShipDate": (
                    (order.placed_at + timedelta(days=3)).date().isoformat()
                    if order.method == "wholesale"
                    else None
                ),
                "status": status,
                "financialStatus": financial or order.financial_status,
                "lines": [
                    {
                        "lineNo": no,
                        "sku": sku,
                        "quantity": qty,
                        "unitPrice": dec(price, cur),
                        "discount": dec(0, cur),
                        "tax": dec(to_grid(Decimal(qty * price) / 6, cur), cur),
                        "priceConfirmedAt": None,
                    }
                    for no, (sku, qty, price) in enumerate(group, 1)
                ],
                "totals": self.totals(
                    [(q, p) for _, q, p in group], discounts[g], shippings[g], cur
                ),
                "creditMemos": [],
                "updatedAt": self.erp_time.iso(changed),
            }
            records.append(record)
        self.sales += records
        return records

    def credit_memo(
        self, records: list[Json], amount: int, cur: str, at: datetime, rma: str | None
    ) -> None:
        record = self.rng.choice(records)
        record["creditMemos"].append(
            {
                "id": f"CM-{self.ids.next('memo'):06d}",
                "amount": dec(amount, cur),
                "reason": "return" if rma else "cancellation",
                "issuedAt": self.erp_time.iso(at),
                "returnRef": rma,
            }
        )

    # -- the WMS ---------------------------------------------------------------------------

    def move(self, movement: str, sku: str, loc: str, qty: int, at: datetime, **extra: Any) -> None:
        if at > self.now:
            raise AssertionError(f"{movement} of {sku}@{loc} at {at}, after now {self.now}")
        if (sku, loc) not in self.stocked:
            self.stocked.add((sku, loc))
            opening = self.now - timedelta(days=30, seconds=self.rng.randrange(3600))
            self.moves.append(Move("receipt", sku, loc, 400, opening, {"expectedReceiptId": None}))
        self.moves.append(Move(movement, sku, loc, qty, at, extra))

    def release(self, order: Order, loc: str, items: list[tuple[str, int]], at: datetime) -> Fo:
        fo = Fo(
            id=self.ids.fulfilment(),
            order_ref=order.id,
            location=loc,
            lines=[FoLine(sku, qty) for sku, qty in items],
            released_at=at,
            updated_at=at,
        )
        for sku, qty in items:
            self.move("allocate", sku, loc, qty, at, fulfilmentOrderId=fo.id, orderRef=order.id)
        self.fos.append(fo)
        return fo

    def pick(self, fo: Fo, at: datetime, short: dict[str, int] | None = None) -> None:
        for line in fo.lines:
            good = line.quantity - line.picked - (short or {}).get(line.sku, 0) - line.damaged
            if good > 0:
                line.picked += good
                self.move("pick", line.sku, fo.location, good, at, fulfilmentOrderId=fo.id)
            line.short += (short or {}).get(line.sku, 0)
        fo.status, fo.updated_at = "picked", at

    def pack(self, fo: Fo, at: datetime) -> None:
        for line in fo.lines:
            line.packed = line.picked
        fo.status, fo.updated_at = "packed", at

    def ship(
        self, fo: Fo, at: datetime, units: dict[str, int] | None = None, *, store: bool = False
    ) -> Json:
        shipment_lines = []
        for line in fo.lines:
            want = line.picked - line.shipped if units is None else units.get(line.sku, 0)
            if want <= 0:
                continue
            line.packed = max(line.packed, line.shipped + want)
            line.shipped += want
            shipment_lines.append({"sku": line.sku, "quantity": want})
        shipment = {
            "id": self.rng.choice(["SH-", "trk_", "PKG"]) + str(self.ids.next("shipment") + 50_000),
            "carrier": "store-collection"
            if store
            else self.rng.choice(["DPD", "Royal Mail", "Yamato"]),
            "trackingNumber": None
            if store
            else _alnum(self.rng, 14, string.ascii_uppercase + string.digits),
            "shippedAt": self.wms_time.iso(at),
            "deliveredAt": None,
            "lines": shipment_lines,
            "_at": at,
        }
        for x in shipment_lines:
            self.move(
                "ship",
                x["sku"],
                fo.location,
                x["quantity"],
                at,
                fulfilmentOrderId=fo.id,
                shipmentId=shipment["id"],
            )
        fo.shipments.append(shipment)
        fo.updated_at = at
        fully = all(x.shipped >= x.quantity for x in fo.lines)
        fo.status = ("picked_up" if store else "shipped") if fully else "partially_shipped"
        return shipment

    def deliver(self, fo: Fo, at: datetime) -> None:
        for shipment in fo.shipments:
            shipment["deliveredAt"] = self.wms_time.iso(at)
        fo.status, fo.updated_at = "delivered", at

    def cancel_units(self, fo: Fo, sku: str, n: int, at: datetime) -> None:
        line = fo.line(sku)
        line.quantity -= n
        line.cancelled += n
        line.picked = min(line.picked, line.quantity)
        line.packed = min(line.packed, line.quantity)
        self.move(
            "deallocate", sku, fo.location, n, at, fulfilmentOrderId=fo.id, orderRef=fo.order_ref
        )
        fo.updated_at = at

    def cancel(self, fo: Fo, at: datetime) -> None:
        for line in fo.lines:
            open_units = line.quantity - line.shipped
            if open_units:
                self.cancel_units(fo, line.sku, open_units, at)
        fo.status, fo.updated_at = "cancelled", at

    def receive_return(self, fo: Fo, rma: str, items: dict[str, int], at: datetime) -> Json:
        receipt_lines = []
        for sku, qty in items.items():
            disposition = self.rng.choice(["restock", "restock_b", "inspect", "damaged"])
            fo.line(sku).returned += qty
            receipt_lines.append({"sku": sku, "quantity": qty, "disposition": disposition})
            self.move(
                "return_receipt",
                sku,
                fo.location,
                qty,
                at,
                orderRef=fo.order_ref,
                fulfilmentOrderId=fo.id,
                disposition=disposition,
            )
        receipt = {
            "id": f"RR-{self.ids.next('receipt'):06d}",
            "rmaRef": rma,
            "receivedAt": self.wms_time.iso(at),
            "lines": receipt_lines,
        }
        fo.receipts.append(receipt)
        every = all(x.returned >= x.shipped for x in fo.lines)
        fo.status, fo.updated_at = ("returned" if every else "partially_returned"), at
        return receipt

    def report(self, kind: str, fo: Fo, at: datetime, sku: str | None, qty: int | None) -> str:
        report_id = self.rng.choice(["EXR-", "exc_", "R"]) + f"{self.ids.next('report'):06d}"
        detail = {
            "SHORT_PICK": f"Picker found {qty} fewer of {sku} for {fo.id}",
            "DAMAGE": f"{qty} x {sku} found broken at packing for {fo.id}",
            "MISSED_PICKUP": f"{fo.id} was not collected by its hold",
        }[kind]
        self.reports.append(
            {
                "id": report_id,
                "kind": kind,
                "fulfilmentOrderId": fo.id,
                "orderRef": fo.order_ref,
                "locationId": fo.location,
                "sku": sku,
                "quantity": qty,
                "reportedAt": self.wms_time.iso(at),
                "detail": detail,
                "_at": at,
            }
        )
        return report_id

    def fo_record(self, fo: Fo) -> Json:
        return {
            "id": fo.id,
            "orderRef": fo.order_ref,
            "locationId": fo.location,
            "status": fo.status,
            "lines": [
                {
                    "sku": x.sku,
                    "quantity": x.quantity,
                    "picked": x.picked,
                    "packed": x.packed,
                    "shipped": x.shipped,
                    "short": x.short,
                    "damaged": x.damaged,
                    "returned": x.returned,
                    "cancelled": x.cancelled,
                    "backordered": 0,
                    "substituted": x.substituted,
                    "substituteFor": x.substitute_for,
                }
                for x in fo.lines
            ],
            "shipments": [{k: v for k, v in s.items() if k != "_at"} for s in fo.shipments],
            "returnReceipts": fo.receipts,
            "pickupHoldUntil": (
                self.wms_time.iso(fo.pickup_hold_until) if fo.pickup_hold_until else None
            ),
            "complianceHold": fo.compliance_hold,
            "asnSentAt": self.wms_time.iso(fo.asn_sent_at) if fo.asn_sent_at else None,
            "releasedAt": self.wms_time.iso(fo.released_at),
            "updatedAt": self.wms_time.iso(fo.updated_at),
        }

    # -- payments --------------------------------------------------------------------------

    def settlement(self, currency: str) -> str:
        return "GBP" if currency in self.settles_in_gbp else currency

    def rate(self, currency: str) -> Decimal:
        return {"JPY": Decimal("0.0052"), "KWD": Decimal("2.5731"), "EUR": Decimal("0.8563")}.get(
            currency, Decimal(1)
        )

    def settle_amount(self, minor: int, currency: str) -> tuple[int, str, float | None]:
        """``minor`` units of ``currency`` as the balance moved: in the settlement currency."""
        settle = self.settlement(currency)
        if settle == currency:
            return minor, currency, None
        rate = self.rate(currency)
        major = Decimal(minor).scaleb(-EXPONENT[currency]) * rate
        moved = int((major.scaleb(EXPONENT[settle])).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return moved, settle, float(rate)

    def fee(self, minor: int, currency: str) -> int:
        fixed = {"JPY": 30, "KWD": 100}.get(currency, 20)
        return int(Decimal(minor) * Decimal("0.014")) + fixed

    def txn(
        self,
        kind: str,
        amount: int,
        fee: int,
        currency: str,
        source: str | None,
        at: datetime,
        rate: float | None = None,
    ) -> Json:
        category = {"stripe_fee": "fee"}.get(kind, kind)
        record = {
            "id": self.ids.stripe("txn_"),
            "object": "balance_transaction",
            "amount": amount,
            "fee": fee,
            "net": amount - fee,
            "currency": currency.lower(),
            "exchange_rate": rate,
            "type": kind,
            "reporting_category": category,
            "source": source,
            "payout": None,
            "created": unix(at),
        }
        self.txns.append(record)
        return record

    def capture(
        self,
        order: Order,
        at: datetime,
        *,
        minor: int | None = None,
        charged: int | None = None,
        authorized_extra: int = 0,
        charge_currency: str | None = None,
        recorded: bool = True,
    ) -> Json:
        """The card is charged ``charged`` (default: what the storefront records, ``minor``)."""
        minor = order.total if minor is None else minor
        charged = minor if charged is None else charged
        currency = charge_currency or order.currency
        charge_id = self.ids.stripe(self.ids.charge_prefix)
        moved, settle, rate = self.settle_amount(charged, currency)
        txn = self.txn("charge", moved, self.fee(moved, settle), settle, charge_id, at, rate)
        charge = {
            "id": charge_id,
            "object": "charge",
            "amount": charged + authorized_extra,
            "amount_captured": charged,
            "amount_refunded": 0,
            "currency": currency.lower(),
            "captured": True,
            "status": "succeeded",
            "created": unix(at),
            "balance_transaction": txn["id"],
            "metadata": {"order_ref": order.id, "channel": order.channel},
            "refunds": [],
            "disputed": False,
            "disputes": [],
            "_txn": txn,
        }
        self.charges[charge_id] = charge
        if recorded:
            order.transactions.append(
                {
                    "id": f"TX-{self.ids.next('sf_tx'):06d}",
                    "kind": "capture",
                    "amount": dec(minor, order.currency),
                    "currency": order.currency,
                    "gatewayRef": charge_id,
                    "processedAt": self.sf_time.iso(at),
                    "returnId": None,
                }
            )
        return charge

    def refund(
        self,
        order: Order,
        charge: Json,
        minor: int,
        at: datetime,
        rma: str | None,
        *,
        recorded_minor: int | None = None,
    ) -> Json:
        refund_id = self.ids.stripe(self.ids.refund_prefix)
        currency = charge["currency"].upper()
        moved, settle, rate = self.settle_amount(minor, currency)
        txn = self.txn("refund", -moved, 0, settle, refund_id, at, rate)
        entry = {
            "id": refund_id,
            "object": "refund",
            "amount": minor,
            "created": unix(at),
            "status": "succeeded",
        }
        charge["refunds"].append(entry)
        charge["amount_refunded"] += minor
        self.world.refunds.append({**entry, "charge": charge["id"]})
        order.transactions.append(
            {
                "id": f"TX-{self.ids.next('sf_tx'):06d}",
                "kind": "refund",
                "amount": dec(minor if recorded_minor is None else recorded_minor, order.currency),
                "currency": order.currency,
                "gatewayRef": refund_id,
                "processedAt": self.sf_time.iso(at),
                "returnId": rma,
            }
        )
        return txn

    def open_return(self, order: Order, items: dict[str, int], at: datetime, status: str) -> str:
        rma = self.rng.choice(["RMA-", "ret_", "R/"]) + f"{self.ids.next('rma'):06d}"
        order.returns.append(
            {
                "id": rma,
                "status": status,
                "reason": self.rng.choice(["too small", "changed mind", "faulty"]),
                "openedAt": self.sf_time.iso(at),
                "lines": [{"sku": s, "quantity": q} for s, q in items.items()],
            }
        )
        return rma

    def refund_value(self, order: Order, items: dict[str, int]) -> int:
        prices = {x.sku: x.price for x in order.lines}
        return sum(prices[s] * q for s, q in items.items())


def _apply(recipe: str, b: _Builder) -> None:
    RECIPES[recipe](b, b.new_order(recipe))


# --- recipes -------------------------------------------------------------------------------


def _fulfil(
    b: _Builder,
    order: Order,
    *,
    until: str,
    end: datetime | None = None,
    loc: str | None = None,
    items: list[tuple[str, int]] | None = None,
) -> Fo:
    """One fulfilment order for ``order`` taken through the floor up to status ``until``,
    its last step at ``end`` (default: some time before now)."""
    end = end or b.between(order.placed_at, b.now - timedelta(hours=2))
    if end <= order.placed_at:
        raise AssertionError(f"{order.id}: fulfilled at {end}, before it was placed")
    loc = loc or (order.pickup_location or b.rng.choice(b.warehouses))
    stamps = [*b.steps(order.placed_at, end, 5), end]
    if items is None:  # one line per SKU on the floor, however the storefront listed them
        wanted: dict[str, int] = {}
        for x in order.lines:
            wanted[x.sku] = wanted.get(x.sku, 0) + x.quantity
        items = list(wanted.items())
    fo = b.release(order, loc, items, stamps[0])
    if until in ("released",):
        fo.updated_at = end
        return fo
    if until == "picking":
        first = fo.lines[0]
        first.picked = max(0, first.quantity - 1)
        if first.picked:
            b.move("pick", first.sku, loc, first.picked, end, fulfilmentOrderId=fo.id)
        fo.status, fo.updated_at = "picking", end
        return fo
    b.pick(fo, stamps[1] if until != "picked" else end)
    if until == "picked":
        return fo
    b.pack(fo, stamps[2] if until != "packed" else end)
    if until == "packed":
        return fo
    if until == "ready_for_pickup":
        fo.status, fo.updated_at = "ready_for_pickup", end
        fo.pickup_hold_until = end + timedelta(days=3)
        return fo
    if until == "picked_up":
        fo.status = "ready_for_pickup"
        fo.pickup_hold_until = stamps[3] + timedelta(days=3)
        b.ship(fo, end, store=True)
        return fo
    if until == "partially_shipped":
        first = fo.lines[0]
        b.ship(fo, end, {first.sku: first.picked - 1} | {x.sku: x.picked for x in fo.lines[1:]})
        return fo
    if until == "two_shipments":
        first = fo.lines[0]
        b.ship(fo, stamps[3], {first.sku: 1})
        b.ship(fo, end)
        return fo
    b.ship(fo, end if until == "shipped" else stamps[3])
    if until == "shipped":
        return fo
    b.deliver(fo, end)
    return fo


def _storefront_heard(b: _Builder, order: Order, status: str, after: datetime) -> None:
    """The storefront caught up with the warehouse some minutes after it moved."""
    order.fulfilment_status = status
    order.updated_at = min(b.now, after + timedelta(minutes=b.rng.randint(2, 40)))


def _paid(b: _Builder, order: Order, **kwargs: Any) -> Json:
    return b.capture(order, order.placed_at + timedelta(seconds=b.rng.randint(5, 300)), **kwargs)


def r_erp_not_yet(b: _Builder, order: Order) -> None:
    _paid(b, order)
    b.world.benign["order the ERP does not have yet"] += 1


def r_not_released(b: _Builder, order: Order) -> None:
    _paid(b, order)
    b.erp(order, status="open")
    b.world.benign["order not released to the WMS yet"] += 1


def r_in_warehouse(b: _Builder, order: Order) -> None:
    _paid(b, order)
    b.erp(order)
    _fulfil(b, order, until=b.rng.choice(["released", "picking", "picked", "packed"]))
    b.world.benign["order on the warehouse floor, storefront unfulfilled"] += 1


def r_shipped(b: _Builder, order: Order) -> None:
    _paid(b, order)
    fo = _fulfil(b, order, until="shipped")
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    b.erp(order, status=b.rng.choice(["released", "closed"]))
    b.world.benign["shipped"] += 1


def r_delivered(b: _Builder, order: Order) -> None:
    _paid(b, order)
    fo = _fulfil(b, order, until="delivered")
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    order.status = "closed"
    b.erp(order, status="closed")
    b.world.benign["delivered, storefront closed"] += 1


def r_two_shipments(b: _Builder, order: Order) -> None:
    _paid(b, order)
    fo = _fulfil(b, order, until="two_shipments")
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    b.erp(order)
    b.world.benign["one fulfilment order shipped in two shipments"] += 1


def _two_locations(
    b: _Builder, order: Order
) -> tuple[list[tuple[str, int]], list[tuple[str, int]], str, str]:
    lines = [(x.sku, x.quantity) for x in order.lines]
    cut = b.rng.randint(1, len(lines) - 1)
    first, second = b.rng.sample(b.warehouses, 2)
    return lines[:cut], lines[cut:], first, second


def r_split_shipped(b: _Builder, order: Order) -> None:
    _paid(b, order)
    one, two, first, second = _two_locations(b, order)
    a = _fulfil(b, order, until="shipped", loc=first, items=one)
    c = _fulfil(b, order, until=b.rng.choice(["shipped", "delivered"]), loc=second, items=two)
    _storefront_heard(b, order, "fulfilled", max(a.updated_at, c.updated_at))
    b.erp(order, parts=2 if b.rng.random() < 0.5 else 1)
    b.world.benign["split shipment from two warehouses, all shipped"] += 1


def r_split_partial(b: _Builder, order: Order) -> None:
    _paid(b, order)
    one, two, first, second = _two_locations(b, order)
    a = _fulfil(b, order, until="shipped", loc=first, items=one)
    c = _fulfil(b, order, until=b.rng.choice(["picked", "packed"]), loc=second, items=two)
    _storefront_heard(b, order, "partial", max(a.updated_at, c.updated_at))
    b.erp(order)
    b.world.benign["split shipment, one part still in the building, storefront partial"] += 1


def r_partial_shipment(b: _Builder, order: Order) -> None:
    _paid(b, order)
    fo = _fulfil(b, order, until="partially_shipped")
    _storefront_heard(b, order, "partial", fo.updated_at)
    b.erp(order)
    b.world.benign["partial shipment, storefront partial"] += 1


def r_pickup_ready(b: _Builder, order: Order) -> None:
    _paid(b, order)
    fo = _fulfil(
        b, order, until="ready_for_pickup", end=b.ago(timedelta(hours=3), timedelta(days=2))
    )
    _storefront_heard(b, order, "ready_for_pickup", fo.updated_at)
    b.erp(order)
    b.world.benign["pickup waiting at the store"] += 1


def r_picked_up(b: _Builder, order: Order) -> None:
    _paid(b, order)
    fo = _fulfil(b, order, until="picked_up")
    _storefront_heard(b, order, "picked_up", fo.updated_at)
    order.status = "closed"
    b.erp(order, status="closed")
    b.world.benign["pickup picked up"] += 1


def _cancel_storefront(b: _Builder, order: Order, at: datetime) -> None:
    order.status, order.cancelled_at = "cancelled", at
    order.cancel_reason = b.rng.choice(["customer", "fraud", "inventory"])
    order.updated_at = max(order.updated_at, at)


def r_cancelled(b: _Builder, order: Order) -> None:
    charge = _paid(b, order)
    fo = _fulfil(b, order, until=b.rng.choice(["released", "picked"]))
    at = b.between(fo.updated_at, b.now - timedelta(hours=1))
    b.cancel(fo, at + timedelta(minutes=3))
    _cancel_storefront(b, order, at)
    refund_at = at + timedelta(minutes=30)
    b.refund(order, charge, order.total, refund_at, None)
    order.financial_status = "refunded"
    records = b.erp(order, status="cancelled", financial="refunded", updated_at=refund_at)
    b.credit_memo(records, order.total, order.currency, refund_at, None)
    b.world.benign["cancelled everywhere, refunded"] += 1


def r_cancelled_before_release(b: _Builder, order: Order) -> None:
    at = b.between(order.placed_at, b.now)
    _cancel_storefront(b, order, at)
    order.financial_status = "voided"
    b.erp(order, status="cancelled", financial="voided", updated_at=at + timedelta(minutes=2))
    b.world.benign["cancelled before release, never charged"] += 1


def r_cancel_refunded(b: _Builder, order: Order) -> None:
    charge = _paid(b, order)
    at = b.between(order.placed_at, b.now - timedelta(days=1))
    _cancel_storefront(b, order, at)
    b.refund(order, charge, order.total, at + timedelta(minutes=5), None)
    order.financial_status = "refunded"
    records = b.erp(
        order,
        status="cancelled",
        financial="refunded",
        parts=b.rng.choice([1, 2]) if len(order.lines) > 1 else 1,
    )
    b.credit_memo(records, order.total, order.currency, at + timedelta(minutes=7), None)
    b.world.benign["cancellation refund with a credit memo that names no return"] += 1


def r_line_cancelled(b: _Builder, order: Order) -> None:
    _paid(b, order)
    fo = _fulfil(b, order, until="packed")
    first = fo.lines[0]
    b.cancel_units(fo, first.sku, 1, fo.updated_at + timedelta(minutes=5))
    b.ship(fo, fo.updated_at + timedelta(minutes=30))
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    b.erp(order)
    b.world.benign["a line partly cancelled by the WMS, the rest shipped"] += 1


def r_split_one_cancelled(b: _Builder, order: Order) -> None:
    _paid(b, order)
    one, two, first, second = _two_locations(b, order)
    a = _fulfil(b, order, until="shipped", loc=first, items=one)
    c = _fulfil(b, order, until="released", loc=second, items=two)
    b.cancel(c, c.updated_at + timedelta(minutes=20))
    _storefront_heard(b, order, "fulfilled", max(a.updated_at, c.updated_at))
    b.erp(order)
    b.world.benign["split fulfilment, one fulfilment order cancelled, the other shipped"] += 1


def _delivered_paid(
    b: _Builder, order: Order, *, days_ago: tuple[int, int] = (3, 5)
) -> tuple[Fo, Json]:
    charge = _paid(b, order)
    fo = _fulfil(
        b,
        order,
        until="delivered",
        end=b.ago(timedelta(days=days_ago[0]), timedelta(days=days_ago[1])),
    )
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    order.status = "closed"
    return fo, charge


def r_returned_refunded(b: _Builder, order: Order) -> None:
    _returned_refunded(b, order)
    b.world.benign["return received, refunded, credit memo"] += 1


def _returned_refunded(b: _Builder, order: Order) -> None:
    fo, charge = _delivered_paid(b, order, days_ago=(4, 7))
    items = {order.lines[0].sku: 1}
    opened = fo.updated_at + timedelta(hours=20)
    rma = b.open_return(order, items, opened, "received")
    b.receive_return(fo, rma, items, opened + timedelta(days=1))
    refund_at = opened + timedelta(days=1, hours=3)
    value = b.refund_value(order, items)
    b.refund(order, charge, value, refund_at, rma)
    order.financial_status = "partially_refunded"
    records = b.erp(
        order, status="closed", parts=b.rng.choice([1, 2]) if len(order.lines) > 1 else 1
    )
    b.credit_memo(records, value, order.currency, refund_at, rma)
    for record in records:
        record["financialStatus"] = "partially_refunded"


def r_return_in_grace(b: _Builder, order: Order) -> None:
    fo, _ = _delivered_paid(b, order)
    items = {order.lines[0].sku: 1}
    received = b.ago(timedelta(hours=2), RETURN_GRACE - timedelta(hours=3))
    rma = b.open_return(order, items, received - timedelta(days=1), "received")
    b.receive_return(fo, rma, items, received)
    b.erp(order, status="closed")
    b.world.benign["return received inside the refund grace, not refunded yet"] += 1


def r_wholesale(b: _Builder, order: Order) -> None:
    fo = _fulfil(b, order, until=b.rng.choice(["packed", "shipped"]))
    fo.asn_sent_at = fo.updated_at - timedelta(minutes=30)
    if fo.status == "shipped":
        _storefront_heard(b, order, "fulfilled", fo.updated_at)
    order.financial_status = b.rng.choice(["invoiced", "pending"])
    b.erp(order, financial="invoiced")
    b.world.benign["wholesale on NET30, invoiced (storefront pending or invoiced)"] += 1


def r_wholesale_on_hold(b: _Builder, order: Order) -> None:
    fo = _fulfil(b, order, until="picked")
    fo.compliance_hold = {
        "reason": "Carton labels lack the retailer's GS1-128 SSCC barcode",
        "since": b.wms_time.iso(fo.updated_at),
    }
    order.financial_status = "invoiced"
    b.erp(order, financial="invoiced")
    b.world.benign["wholesale on compliance hold"] += 1


def r_lag_state(b: _Builder, order: Order) -> None:
    _paid(b, order)
    shipped = b.ago(timedelta(minutes=5), STATE_GRACE * 0.8)
    order.updated_at = b.between(order.placed_at, shipped - timedelta(hours=1))
    _fulfil(b, order, until="shipped", end=shipped)
    b.erp(order, updated_at=b.between(order.placed_at, order.updated_at))
    b.world.benign["WMS shipped inside the grace, storefront not told yet"] += 1


def r_lag_price(b: _Builder, order: Order) -> None:
    _paid(b, order)
    sku = order.lines[0].sku
    repriced = b.ago(timedelta(minutes=5), PRICE_GRACE * 0.8)
    order.updated_at = b.between(order.placed_at, repriced)
    b.erp(
        order, price_of={sku: order.lines[0].price + 10 * STEP[order.currency]}, updated_at=repriced
    )
    b.world.benign["ERP repriced a line inside the grace"] += 1


def r_lag_total(b: _Builder, order: Order) -> None:
    _paid(b, order)
    changed = b.ago(timedelta(minutes=5), TOTALS_GRACE * 0.8)
    order.updated_at = b.between(order.placed_at, changed)
    b.erp(
        order,
        extra_shipping=b.shipping(order.currency) or 100 * STEP[order.currency],
        updated_at=changed,
    )
    b.world.benign["ERP changed the shipping inside the grace"] += 1


def r_erp_split(b: _Builder, order: Order) -> None:
    _paid(b, order)
    fo = _fulfil(b, order, until="shipped")
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    b.erp(order, parts=min(len(order.lines), b.rng.choice([2, 3])))
    b.world.benign["several ERP sales orders adding up (shipping and discount allocated)"] += 1


def r_erp_shipping_alone(b: _Builder, order: Order) -> None:
    _paid(b, order)
    fo = _fulfil(b, order, until="shipped")
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    b.erp(order, shipping_alone=True)
    b.world.benign["shipping on an ERP sales order of its own, with no lines"] += 1


def r_erp_line_split(b: _Builder, order: Order) -> None:
    _paid(b, order)
    b.erp(order, parts=2, split_line=True)
    b.world.benign["one line split across two ERP sales orders"] += 1


def r_unpaid_wording(b: _Builder, order: Order) -> None:
    order.financial_status = "authorized"
    charge_id = b.ids.stripe(b.ids.charge_prefix)
    b.charges[charge_id] = {
        "id": charge_id,
        "object": "charge",
        "amount": order.total,
        "amount_captured": 0,
        "amount_refunded": 0,
        "currency": order.currency.lower(),
        "captured": False,
        "status": "succeeded",
        "created": unix(order.placed_at),
        "balance_transaction": None,
        "metadata": {"order_ref": order.id},
        "refunds": [],
        "disputed": False,
        "disputes": [],
        "_txn": None,
    }
    b.erp(order, status="open", financial="pending")
    b.world.benign["authorized (storefront) vs pending (ERP), an uncaptured charge"] += 1


def r_split_tender(b: _Builder, order: Order) -> None:
    first = to_grid(Decimal(order.total) * Decimal("0.4"), order.currency)
    at = order.placed_at + timedelta(seconds=30)
    b.capture(order, at, minor=first)
    b.capture(order, at + timedelta(seconds=20), minor=order.total - first)
    fo = _fulfil(b, order, until="shipped")
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    b.erp(order)
    b.world.benign["paid by two charges (split tender)"] += 1


def r_partial_capture(b: _Builder, order: Order) -> None:
    _paid(b, order, authorized_extra=b.rng.randint(1, 20) * 100 * STEP[order.currency])
    fo = _fulfil(b, order, until="shipped")
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    b.erp(order)
    b.world.benign["partial capture: authorized more than captured"] += 1


def r_fx_settled(b: _Builder, order: Order) -> None:
    _paid(b, order)
    fo = _fulfil(b, order, until="shipped")
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    b.erp(order)
    b.world.benign[f"{order.currency} charge settled in GBP (exchange_rate)"] += 1


def r_fx_refunded(b: _Builder, order: Order) -> None:
    _returned_refunded(b, order)
    b.world.benign[f"refund of a {order.currency} charge settled in GBP"] += 1


def r_dispute_won(b: _Builder, order: Order) -> None:
    fo, charge = _delivered_paid(b, order)
    b.erp(order, status="closed")
    opened = fo.updated_at + timedelta(days=1)
    dispute_id = b.ids.stripe(b.rng.choice(["dp_", "du_"]))
    amount = charge["amount_captured"]
    won = b.rng.random() < 0.5
    dispute = {
        "id": dispute_id,
        "amount": amount,
        "status": "won" if won else "needs_response",
        "created": unix(opened),
    }
    charge["disputed"], charge["disputes"] = True, [dispute]
    b.world.disputes.append({**dispute, "object": "dispute", "charge": charge["id"]})
    moved, settle, rate = b.settle_amount(amount, charge["currency"].upper())
    b.txn("dispute", -moved, DISPUTE_FEE, settle, dispute_id, opened, rate)
    if won:
        b.txn(
            "dispute_reversal",
            moved,
            -DISPUTE_FEE,
            settle,
            dispute_id,
            opened + timedelta(hours=20),
            rate,
        )
    b.world.benign["disputed charge (won or open)"] += 1


def r_repeated_sku_lines(b: _Builder, order: Order) -> None:
    """The same SKU on two storefront lines at two prices (a second unit on promotion); the
    ERP copies both lines."""
    first = order.lines[0]
    promo = to_grid(Decimal(first.price) / 2, order.currency) or first.price
    order.lines.append(Line(f"{first.id}-b", first.sku, first.title, 1, promo))
    _paid(b, order)
    fo = _fulfil(b, order, until="shipped")
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    b.erp(order)
    b.world.benign["the same SKU on two storefront lines at two prices"] += 1


def r_substituted(b: _Builder, order: Order) -> None:
    """The floor picked another SKU in place of one unit; the rest as ordered."""
    _paid(b, order)
    end = b.between(order.placed_at, b.now - timedelta(hours=2))
    loc = b.rng.choice(b.warehouses)
    fo = b.release(
        order,
        loc,
        [(x.sku, x.quantity) for x in order.lines],
        order.placed_at + (end - order.placed_at) / 4,
    )
    first = fo.lines[0]
    other = next(sku for sku in b.skus if all(sku != x.sku for x in fo.lines))
    at = order.placed_at + (end - order.placed_at) / 2
    first.quantity -= 1
    first.substituted += 1
    b.move("deallocate", first.sku, loc, 1, at, fulfilmentOrderId=fo.id, orderRef=order.id)
    fo.lines.append(FoLine(other, 1, substitute_for=first.sku))
    b.move("allocate", other, loc, 1, at, fulfilmentOrderId=fo.id, orderRef=order.id)
    b.pick(fo, at + timedelta(minutes=10))
    b.pack(fo, at + timedelta(minutes=20))
    b.ship(fo, end)
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    b.erp(order)
    b.world.benign["a unit substituted by another SKU, then shipped"] += 1


def r_refund_in_two_parts(b: _Builder, order: Order) -> None:
    """A return of two units refunded in two refunds, one credit memo for the return."""
    fo, charge = _delivered_paid(b, order, days_ago=(5, 8))
    line = order.lines[0]
    items = {line.sku: 2}
    opened = fo.updated_at + timedelta(hours=5)
    rma = b.open_return(order, items, opened, "received")
    b.receive_return(fo, rma, items, opened + timedelta(hours=20))
    for hours in (22, 26):
        b.refund(order, charge, line.price, opened + timedelta(hours=hours), rma)
    order.financial_status = "partially_refunded"
    records = b.erp(order, status="closed", financial="partially_refunded")
    b.credit_memo(records, 2 * line.price, order.currency, opened + timedelta(hours=27), rma)
    b.world.benign["one return refunded in two refunds"] += 1


# planted ------------------------------------------------------------------------------------


def r_wms_cancelled(b: _Builder, order: Order) -> None:
    """The WMS cancelled the order (no stock); the storefront still shows it open."""
    _paid(b, order)
    fo = _fulfil(b, order, until="released", end=b.ago(timedelta(days=1), timedelta(days=3)))
    order.updated_at = fo.released_at
    b.cancel(fo, fo.updated_at + timedelta(hours=2))
    b.erp(order)
    _state(b, order, "wms_cancelled")


def r_return_in_two_parcels(b: _Builder, order: Order) -> None:
    """A return the warehouse received in two parcels, weeks ago, and nobody refunded: one
    exception for the return."""
    fo, _ = _delivered_paid(b, order, days_ago=(8, 10))
    line = order.lines[0]
    received = b.ago(RETURN_GRACE + timedelta(days=2), RETURN_GRACE + timedelta(days=4))
    rma = b.open_return(order, {line.sku: 2}, received - timedelta(days=1), "received")
    b.receive_return(fo, rma, {line.sku: 1}, received)
    b.receive_return(fo, rma, {line.sku: 1}, received + timedelta(hours=20))
    b.erp(order, status="closed")
    b.world.expect("RETURN_WITHOUT_REFUND", rma, "return_in_two_parcels")
    b.world.expected_lines[f"return:{rma}"] = "RETURN_WITHOUT_REFUND"


def _state(b: _Builder, order: Order, scenario: str, kind: str = "STATE_DISAGREEMENT") -> None:
    b.world.expect(kind, f"{order.id}|state", scenario)


def r_late_sync(b: _Builder, order: Order) -> None:
    _paid(b, order)
    shipped = b.ago(STATE_GRACE * 3, timedelta(days=2))
    order.updated_at = b.between(order.placed_at, shipped - timedelta(minutes=30))
    _fulfil(b, order, until=b.rng.choice(["shipped", "delivered"]), end=shipped)
    b.erp(order)
    _state(b, order, "late_sync")


def r_storefront_ahead(b: _Builder, order: Order) -> None:
    _paid(b, order)
    fo = _fulfil(
        b,
        order,
        until=b.rng.choice(["picked", "packed"]),
        end=b.ago(timedelta(minutes=20), timedelta(minutes=50)),
    )
    order.fulfilment_status = "fulfilled"
    order.updated_at = fo.updated_at + timedelta(minutes=b.rng.randint(2, 15))
    b.erp(order)
    _state(b, order, "storefront_ahead")


def r_pickup_behind(b: _Builder, order: Order) -> None:
    _paid(b, order)
    collected = b.ago(STATE_GRACE * 3, timedelta(days=2))
    order.fulfilment_status = "ready_for_pickup"
    order.updated_at = collected - timedelta(hours=5)
    _fulfil(b, order, until="picked_up", end=collected)
    b.erp(order)
    _state(b, order, "pickup_behind")


def r_split_claimed_fulfilled(b: _Builder, order: Order) -> None:
    _paid(b, order)
    one, two, first, second = _two_locations(b, order)
    a = _fulfil(
        b,
        order,
        until="shipped",
        loc=first,
        items=one,
        end=b.ago(timedelta(days=2), timedelta(days=3)),
    )
    c = _fulfil(
        b,
        order,
        until="packed",
        loc=second,
        items=two,
        end=b.ago(timedelta(days=1), timedelta(days=2)),
    )
    order.fulfilment_status = "fulfilled"
    order.updated_at = max(a.updated_at, c.updated_at) + timedelta(hours=1)
    b.erp(order)
    _state(b, order, "split_claimed_fulfilled")


def r_late_cancellation(b: _Builder, order: Order) -> None:
    _paid(b, order)
    fo = _fulfil(
        b,
        order,
        until=b.rng.choice(["shipped", "delivered"]),
        end=b.ago(timedelta(days=1), timedelta(days=3)),
    )
    _cancel_storefront(b, order, fo.updated_at + timedelta(hours=b.rng.randint(1, 12)))
    b.erp(order, status=b.rng.choice(["released", "cancelled"]))
    _state(b, order, "late_cancellation", "LATE_CANCELLATION")


def r_line_price(b: _Builder, order: Order) -> None:
    _paid(b, order)
    line = b.rng.choice(order.lines)
    delta = b.rng.choice([-1, 1]) * b.rng.randint(1, 9) * 10 * STEP[order.currency]
    b.erp(
        order,
        price_of={line.sku: line.price + delta},
        updated_at=b.ago(PRICE_GRACE * 2, timedelta(days=2)),
    )
    b.world.expect("PRICE_DISAGREEMENT", f"{order.id}|lines[{line.sku}].unitPrice", "line_price")


def r_line_price_split_sales_orders(b: _Builder, order: Order) -> None:
    _paid(b, order)
    records = b.erp(order, parts=2, updated_at=b.ago(PRICE_GRACE * 2, timedelta(days=2)))
    # reprice a line of the second sales order (and its totals), as its ERP would
    record = records[1]
    line = record["lines"][-1]
    cur = order.currency
    old = to_grid(Decimal(line["unitPrice"]).scaleb(EXPONENT[cur]), cur)
    new = old + 20 * STEP[cur]
    line["unitPrice"] = dec(new, cur)
    moved = (new - old) * line["quantity"]
    for name in ("subtotal", "total"):
        record["totals"][name] = dec(
            to_grid(Decimal(record["totals"][name]).scaleb(EXPONENT[cur]), cur) + moved, cur
        )
    b.world.expect(
        "PRICE_DISAGREEMENT",
        f"{order.id}|lines[{line['sku']}].unitPrice",
        "line_price_split_sales_orders",
    )


def r_total_only(b: _Builder, order: Order) -> None:
    _paid(b, order)
    # the ERP waived the shipping the site charged, or charged shipping the site did not
    extra = (
        -order.shipping if order.shipping else {"JPY": 800, "KWD": 2000}.get(order.currency, 395)
    )
    b.erp(order, extra_shipping=extra, updated_at=b.ago(TOTALS_GRACE * 2, timedelta(days=2)))
    b.world.expect("PRICE_DISAGREEMENT", f"{order.id}|totals.total", "total_only")


def r_split_total(b: _Builder, order: Order) -> None:
    _paid(b, order)
    b.erp(
        order,
        parts=2,
        shipping_everywhere=True,
        updated_at=b.ago(TOTALS_GRACE * 2, timedelta(days=2)),
    )
    b.world.expect("PRICE_DISAGREEMENT", f"{order.id}|totals.total", "split_total")


def r_short_pick(b: _Builder, order: Order) -> None:
    _paid(b, order)
    b.erp(order)
    at = b.ago(timedelta(hours=3), timedelta(days=1))
    loc = b.rng.choice(b.warehouses)
    fo = b.release(order, loc, [(x.sku, x.quantity) for x in order.lines], at - timedelta(hours=2))
    line = fo.lines[0]
    b.pick(fo, at, short={line.sku: 1})
    fo.status = "picking"
    report = b.report("SHORT_PICK", fo, at + timedelta(minutes=1), line.sku, 1)
    b.world.expect("SHORT_PICK", report, "short_pick")


def r_damage(b: _Builder, order: Order) -> None:
    _paid(b, order)
    b.erp(order)
    at = b.ago(timedelta(hours=3), timedelta(days=1))
    loc = b.rng.choice(b.warehouses)
    fo = b.release(order, loc, [(x.sku, x.quantity) for x in order.lines], at - timedelta(hours=2))
    line = fo.lines[0]
    line.damaged = 1
    b.move("damage", line.sku, loc, 1, at, fulfilmentOrderId=fo.id)
    b.pick(fo, at + timedelta(minutes=2))
    report = b.report("DAMAGE", fo, at + timedelta(minutes=3), line.sku, 1)
    b.world.expect("DAMAGE", report, "damage")


def r_missed_pickup(b: _Builder, order: Order) -> None:
    _paid(b, order)
    ready = b.ago(timedelta(days=4), timedelta(days=6))
    fo = _fulfil(b, order, until="ready_for_pickup", end=ready)
    _storefront_heard(b, order, "ready_for_pickup", ready)
    b.erp(order)
    report = b.report("MISSED_PICKUP", fo, ready + timedelta(days=3, minutes=5), None, None)
    b.world.expect("MISSED_PICKUP", report, "missed_pickup")


def r_charge_amount(b: _Builder, order: Order) -> None:
    delta = b.rng.randint(1, 30) * 10 * STEP[order.currency]
    delta = delta if b.rng.random() < 0.5 or delta >= order.total else -delta
    charge = _paid(b, order, charged=order.total + delta)
    fo = _fulfil(b, order, until="shipped")
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    b.erp(order)
    b.world.expect("AMOUNT_MISMATCH", charge["id"], "charge_amount")
    b.world.expected_lines[f"txn:{charge['_txn']['id']}"] = "AMOUNT_MISMATCH"


def r_refund_amount(b: _Builder, order: Order) -> None:
    fo, charge = _delivered_paid(b, order, days_ago=(5, 8))
    items = {order.lines[0].sku: 1}
    opened = fo.updated_at + timedelta(hours=10)
    rma = b.open_return(order, items, opened, "received")
    b.receive_return(fo, rma, items, opened + timedelta(hours=20))
    value = b.refund_value(order, items)
    refund_at = opened + timedelta(days=1)
    txn = b.refund(
        order, charge, value, refund_at, rma, recorded_minor=value - 10 * STEP[order.currency]
    )
    order.financial_status = "partially_refunded"
    records = b.erp(order, status="closed", financial="partially_refunded")
    b.credit_memo(records, value, order.currency, refund_at, rma)
    b.world.expect("AMOUNT_MISMATCH", str(txn["source"]), "refund_amount")
    b.world.expected_lines[f"txn:{txn['id']}"] = "AMOUNT_MISMATCH"


def r_refund_without_return(b: _Builder, order: Order) -> None:
    fo, charge = _delivered_paid(b, order, days_ago=(5, 8))
    items = {order.lines[0].sku: 1}
    opened = fo.updated_at + timedelta(hours=5)
    rma = b.open_return(order, items, opened, "requested")
    value = b.refund_value(order, items)
    refund_at = opened + timedelta(hours=2)
    txn = b.refund(order, charge, value, refund_at, rma)
    order.financial_status = "partially_refunded"
    records = b.erp(order, status="closed", financial="partially_refunded")
    b.credit_memo(records, value, order.currency, refund_at, rma)
    b.world.expect("REFUND_WITHOUT_RETURN", str(txn["source"]), "refund_without_return")
    b.world.expected_lines[f"txn:{txn['id']}"] = "REFUND_WITHOUT_RETURN"


def r_return_without_refund(b: _Builder, order: Order) -> None:
    fo, _ = _delivered_paid(b, order, days_ago=(8, 10))
    items = {order.lines[0].sku: 1}
    received = b.ago(RETURN_GRACE + timedelta(days=1), RETURN_GRACE + timedelta(days=4))
    rma = b.open_return(order, items, received - timedelta(days=1), "received")
    b.receive_return(fo, rma, items, received)
    b.erp(order, status="closed")
    b.world.expect("RETURN_WITHOUT_REFUND", rma, "return_without_refund")
    b.world.expected_lines[f"return:{rma}"] = "RETURN_WITHOUT_REFUND"


def r_duplicate_charge(b: _Builder, order: Order) -> None:
    _paid(b, order)
    again = b.capture(order, order.placed_at + timedelta(minutes=9), recorded=False)
    fo = _fulfil(b, order, until="shipped")
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    b.erp(order)
    b.world.expected_lines[f"txn:{again['_txn']['id']}"] = "DUPLICATE"
    b.world.planted["duplicate_charge"] += 1


def r_missing_credit_memo(b: _Builder, order: Order) -> None:
    fo, charge = _delivered_paid(b, order, days_ago=(5, 8))
    items = {order.lines[0].sku: 1}
    opened = fo.updated_at + timedelta(hours=10)
    rma = b.open_return(order, items, opened, "received")
    b.receive_return(fo, rma, items, opened + timedelta(hours=20))
    txn = b.refund(order, charge, b.refund_value(order, items), opened + timedelta(days=1), rma)
    order.financial_status = "partially_refunded"
    b.erp(order, status="closed", financial="partially_refunded")
    b.world.expected_lines[f"txn:{txn['id']}"] = "MISSING_CREDIT_MEMO"
    b.world.planted["missing_credit_memo"] += 1


def r_currency_mismatch(b: _Builder, order: Order) -> None:
    other = "EUR" if order.currency != "EUR" else "GBP"
    if other != "GBP":
        b.settles_in_gbp.add(other)
    charge = _paid(b, order, charge_currency=other)
    fo = _fulfil(b, order, until="shipped")
    _storefront_heard(b, order, "fulfilled", fo.updated_at)
    b.erp(order)
    b.world.expected_lines[f"txn:{charge['_txn']['id']}"] = "CURRENCY_MISMATCH"
    b.world.planted["currency_mismatch"] += 1


# planted cases the service cannot find yet: money no payout has swept (the payments sync reads
# payout events only, so a charge or refund is matched when a payout sweeps it, days later)
PENDING_RECIPES = ("charge_amount_not_paid_out", "refund_without_return_not_paid_out")


def r_charge_amount_not_paid_out(b: _Builder, order: Order) -> None:
    """This morning's charge took more than the storefront captured; no payout swept it yet."""
    order.placed_at = b.ago(timedelta(hours=3), timedelta(hours=18))
    order.updated_at = order.placed_at
    charge = _paid(b, order, charged=order.total + 100 * STEP[order.currency])
    b.erp(order, status="open")
    b.world.expect("AMOUNT_MISMATCH", charge["id"], "charge_amount_not_paid_out")


def r_refund_without_return_not_paid_out(b: _Builder, order: Order) -> None:
    """A refund for a return the warehouse never received, issued hours ago."""
    _, charge = _delivered_paid(b, order, days_ago=(3, 5))
    items = {order.lines[0].sku: 1}
    opened = b.ago(timedelta(hours=8), timedelta(hours=20))
    rma = b.open_return(order, items, opened, "requested")
    value = b.refund_value(order, items)
    txn = b.refund(order, charge, value, opened + timedelta(hours=2), rma)
    order.financial_status = "partially_refunded"
    records = b.erp(order, status="closed", financial="partially_refunded")
    b.credit_memo(records, value, order.currency, opened + timedelta(hours=3), rma)
    b.world.expect(
        "REFUND_WITHOUT_RETURN", str(txn["source"]), "refund_without_return_not_paid_out"
    )


RECIPES: dict[str, Callable[[_Builder, Order], None]] = {
    name: globals()[f"r_{name}"]
    for name in (*PLANTED_ORDER_RECIPES, *BENIGN_RECIPES, *PENDING_RECIPES)
}


# --- the world's other records ---------------------------------------------------------------


def _background_stock(b: _Builder) -> None:
    """Movements that are not about orders: purchase orders, transfers, counts, damage."""
    rng = b.rng
    places = [*b.warehouses, *b.stores]
    for n, (sku, loc) in enumerate(sorted(b.stocked)[: 2 + len(b.stocked) // 3]):
        at = b.ago(timedelta(days=7), timedelta(days=25))
        kind = n % 6
        if kind == 0:
            po = f"PO-{b.ids.next('po'):06d}"
            b.move(
                "expected_receipt",
                sku,
                loc,
                60,
                at,
                expectedReceiptId=po,
                expectedAt=b.wms_time.iso(at + timedelta(days=5)),
            )
            b.move(
                "receipt",
                sku,
                loc,
                rng.randint(10, 60),
                at + timedelta(days=rng.randint(1, 6)),
                expectedReceiptId=po,
            )
        elif kind == 1:
            other = rng.choice([p for p in places if p != loc])
            transfer = f"TR-{b.ids.next('transfer'):06d}"
            qty = rng.randint(2, 20)
            b.move("transfer_out", sku, loc, qty, at, transferId=transfer, toLocationId=other)
            b.move(
                "expected_receipt",
                sku,
                other,
                qty,
                at,
                expectedReceiptId=transfer,
                expectedAt=b.wms_time.iso(at + timedelta(days=2)),
            )
            if rng.random() < 0.7:
                b.move(
                    "transfer_in",
                    sku,
                    other,
                    qty,
                    at + timedelta(days=1),
                    transferId=transfer,
                    fromLocationId=loc,
                    expectedReceiptId=transfer,
                )
        elif kind == 2:
            b.move(
                "adjustment",
                sku,
                loc,
                rng.choice([-3, -1, 2, 5]),
                at,
                reason=rng.choice(["shrinkage", "found in aisle 4"]),
            )
        elif kind == 3:
            b.move("cycle_count", sku, loc, 0, at, _count=rng.choice([0, -2, 3]))
        elif kind == 4:
            qty = rng.randint(1, 4)
            b.move("damage", sku, loc, qty, at, fulfilmentOrderId=None)
            b.move("damage_disposal", sku, loc, qty, at + timedelta(days=1))
        else:
            qty = rng.randint(1, 5)
            b.move("quality_hold", sku, loc, qty, at, reason="supplier recall check")
            b.move(
                "quality_release",
                sku,
                loc,
                qty,
                at + timedelta(days=2),
                reason="passed",
                returnInspection=False,
            )


_BUCKETS = ("onHand", "allocated", "damaged", "qualityHold", "incoming")


def _replay(b: _Builder) -> tuple[list[Json], dict[tuple[str, str], dict[str, int]]]:
    """Number the movements in time order, fill in what a movement's effect needs (a cycle
    count's signed change), and give the stock every published and unpublished one leaves."""
    stock: dict[tuple[str, str], dict[str, int]] = {}
    records: list[Json] = []
    style = b.rng.choice(["MOV-{:07d}", "mv_{:010d}", "{:012d}"])
    for n, move in enumerate(sorted(b.moves, key=lambda m: m.at), 1):
        row = stock.setdefault((move.sku, move.location), dict.fromkeys(_BUCKETS, 0))
        qty = move.quantity
        extra = dict(move.extra)
        if move.movement == "cycle_count":
            qty = extra.pop("_count")
            extra["countedQuantity"] = row["onHand"] + qty
        change = {
            "receipt": {"onHand": qty, "incoming": -qty if extra.get("expectedReceiptId") else 0},
            "expected_receipt": {"incoming": qty},
            "allocate": {"allocated": qty},
            "deallocate": {"allocated": -qty},
            "pick": {},
            "ship": {"onHand": -qty, "allocated": -qty},
            "adjustment": {"onHand": qty},
            "cycle_count": {"onHand": qty},
            "damage": {"damaged": qty},
            "damage_disposal": {"damaged": -qty, "onHand": -qty},
            "quality_hold": {"qualityHold": qty},
            "quality_release": {"qualityHold": -qty},
            "transfer_out": {"onHand": -qty},
            "transfer_in": {
                "onHand": qty,
                "incoming": -qty if extra.get("expectedReceiptId") else 0,
            },
            "return_receipt": {
                "onHand": qty,
                "qualityHold": qty if extra.get("disposition") == "inspect" else 0,
                "damaged": qty if extra.get("disposition") == "damaged" else 0,
            },
        }[move.movement]
        for bucket, delta in change.items():
            row[bucket] += delta
            if row[bucket] < 0:
                raise AssertionError(f"{move.sku}@{move.location} {bucket} below 0 at {move}")
        data = {
            "id": style.format(n),
            "movement": move.movement,
            "sku": move.sku,
            "locationId": move.location,
            "quantity": qty,
            "occurredAt": b.wms_time.iso(move.at),
        }
        for name in contract.movement_fields()[move.movement]:
            data[name] = extra.get(name)
        if "returnInspection" in extra:
            data["returnInspection"] = extra["returnInspection"]
        if move.published:
            records.append({"_at": move.at, "data": data})
    return records, stock


def _plant_drift(b: _Builder) -> None:
    """A movement the WMS booked but never put on its feed: its stock says so, the feed not."""
    keys = sorted(b.stocked)
    for sku, loc in b.rng.sample(keys, 2):
        at = b.ago(timedelta(hours=2), timedelta(days=3))
        b.moves.append(
            Move(
                "adjustment",
                sku,
                loc,
                -b.rng.randint(1, 3),
                at,
                {"reason": "shrinkage"},
                published=False,
            )
        )
        b.world.expect("INVENTORY_DRIFT", f"{sku}@{loc}", "drift")


def _wms_feed(b: _Builder, movements: list[Json]) -> list[Json]:
    """Every fulfilment order, movement and exception report as events, in sequence order,
    with the feed's hiccups: a movement redelivered under a new event id, an event id reused
    for another movement, a sequence number skipped, a report sent twice."""
    timeline: list[tuple[datetime, str, str, str, Json]] = []
    for fo in b.fos:
        record = b.fo_record(fo)
        timeline.append(
            (fo.updated_at, f"fulfilment_order.{fo.status}", "fulfilment_order", fo.id, record)
        )
    for m in movements:
        data = m["data"]
        timeline.append(
            (m["_at"], f"inventory.{data['movement']}", "inventory_movement", data["id"], data)
        )
    for report in b.reports:
        data = {k: v for k, v in report.items() if k != "_at"}
        timeline.append((report["_at"], "exception.reported", "exception_report", data["id"], data))
    timeline.sort(key=lambda t: t[0])
    events: list[Json] = []
    sequence = b.rng.randint(1, 5000)
    gap_at = b.rng.randrange(len(timeline))
    for n, (at, kind, record_type, record_id, data) in enumerate(timeline):
        sequence += 2 if n == gap_at else 1
        events.append(
            {
                "id": b.ids.event("wms"),
                "sequence": sequence,
                "type": kind,
                "recordType": record_type,
                "recordId": record_id,
                "occurredAt": b.wms_time.iso(at),
                "data": data,
            }
        )
    b.world.benign["a gap in the WMS feed's sequence"] += 1
    # at-least-once delivery: two movements again under new event ids and sequence numbers
    moved = [e for e in events if e["recordType"] == "inventory_movement"]
    for again in b.rng.sample(moved, 2):
        sequence += 1
        events.append({**again, "id": b.ids.event("wms"), "sequence": sequence})
        b.world.benign["a movement redelivered under a new event id"] += 1
    # an event id used again for another movement (a replay after a failover renumbered it)
    reused = b.rng.choice(events[: len(events) // 2])
    sku, loc = b.rng.choice(sorted(b.stocked))
    sequence += 1
    fresh = {
        "id": f"late-{b.ids.next('late')}",
        "movement": "adjustment",
        "sku": sku,
        "locationId": loc,
        "quantity": 4,
        "occurredAt": b.wms_time.iso(b.now - timedelta(minutes=30)),
        "reason": "found in returns cage",
    }
    b.late_adjustment = (sku, loc, 4)
    events.append(
        {
            "id": reused["id"],
            "sequence": sequence,
            "type": "inventory.adjustment",
            "recordType": "inventory_movement",
            "recordId": fresh["id"],
            "occurredAt": fresh["occurredAt"],
            "data": fresh,
        }
    )
    b.world.benign["an event id reused for another movement"] += 1
    # an exception report sent again, under a new event
    for report in [e for e in events if e["type"] == "exception.reported"][:1]:
        sequence += 1
        events.append({**report, "id": b.ids.event("wms"), "sequence": sequence})
        b.world.benign["an exception report sent twice"] += 1
    return events


def _payouts(b: _Builder) -> None:
    """Sweep the transactions older than a day into payouts per settlement currency; one
    payout pays out another amount than it swept (planted)."""
    rng = b.rng
    for kind in ("stripe_fee", "adjustment"):
        at = b.ago(timedelta(days=3), timedelta(days=10))
        amount = -rng.randint(100, 2000) if kind == "stripe_fee" else rng.choice([-250, 400])
        b.txn(kind, amount, 0, "GBP", None, at)
    cutoff = unix(b.now - timedelta(days=1))
    by_currency: dict[str, list[Json]] = {}
    for txn in b.txns:
        if txn["created"] <= cutoff:
            by_currency.setdefault(txn["currency"], []).append(txn)
    groups: list[tuple[str, list[Json]]] = []
    for currency, txns in sorted(by_currency.items()):
        txns.sort(key=lambda t: (t["created"], t["id"]))
        parts = min(len(txns), rng.randint(1, 3))
        cuts = sorted(rng.sample(range(1, len(txns)), parts - 1)) if parts > 1 else []
        swept = [txns[i:j] for i, j in zip([0, *cuts], [*cuts, len(txns)], strict=True)]
        while len(swept) > 1:  # a payout pays out a positive balance: merge the others
            bad = next((k for k, g in enumerate(swept) if sum(t["net"] for t in g) <= 0), None)
            if bad is None:
                break
            low = bad - 1 if bad else 0
            swept[low : low + 2] = [swept[low] + swept[low + 1]]
        groups += [(currency, g) for g in swept if sum(t["net"] for t in g) > 0]
    varied = rng.randrange(len(groups))
    for n, (currency, group) in enumerate(groups):
        net = sum(t["net"] for t in group)
        created = min(
            max(t["created"] for t in group) + 3600 * rng.randint(20, 30), unix(b.now) - 3600
        )
        arrival = created + 86400 * 2
        payout_id = b.ids.stripe("po_")
        amount = net
        if n == varied:
            amount = net - rng.randint(1, 500) * STEP.get(currency.upper(), 1)
            b.world.expect("PAYOUT_MISMATCH", payout_id, "payout_variance")
        status = "paid" if arrival <= unix(b.now) else rng.choice(["in_transit", "pending"])
        b.world.payouts.append(
            {
                "id": payout_id,
                "object": "payout",
                "amount": amount,
                "currency": currency,
                "arrival_date": arrival,
                "created": created,
                "status": status,
                "method": rng.choice(["standard", "instant"]),
                "metadata": {},
            }
        )
        for txn in group:
            txn["payout"] = payout_id
        at = datetime.fromtimestamp(created, UTC)
        own = b.txn("payout", -amount, 0, currency.upper(), payout_id, at)
        own["payout"] = payout_id


def _payments_feed(b: _Builder) -> list[Json]:
    timeline: list[tuple[int, str, str, str, Json]] = []
    for charge in b.charges.values():
        record = {k: v for k, v in charge.items() if not k.startswith("_")}
        timeline.append((charge["created"], "charge.succeeded", "charge", charge["id"], record))
        if charge["refunds"]:
            timeline.append(
                (
                    charge["refunds"][-1]["created"],
                    "charge.refunded",
                    "charge",
                    charge["id"],
                    record,
                )
            )
        if charge["disputes"]:
            timeline.append(
                (
                    charge["disputes"][-1]["created"],
                    "charge.dispute.created",
                    "charge",
                    charge["id"],
                    record,
                )
            )
    for payout in b.world.payouts:
        pending = {**payout, "status": "pending"}
        timeline.append((payout["created"], "payout.created", "payout", payout["id"], pending))
        if payout["status"] == "paid":
            timeline.append((payout["arrival_date"], "payout.paid", "payout", payout["id"], payout))
        elif payout["status"] != "pending":
            timeline.append(
                (payout["created"] + 60, "payout.updated", "payout", payout["id"], payout)
            )
    timeline.sort(key=lambda t: (t[0], t[3]))
    events = []
    for n, (at, kind, record_type, record_id, data) in enumerate(timeline, 1):
        events.append(
            {
                "id": b.ids.event("payments"),
                "sequence": n,
                "type": kind,
                "recordType": record_type,
                "recordId": record_id,
                "occurredAt": b.wms_time.iso(datetime.fromtimestamp(at, UTC)),
                "data": data,
            }
        )
    # a payout's last word delivered again under a new event id
    last = [e for e in events if e["recordType"] == "payout"][-1]
    events.append(
        {
            **last,
            "id": b.ids.event("payments"),
            "sequence": len(events) + 1,
            "type": "payout.updated",
        }
    )
    b.world.benign["a payout event redelivered under a new event id"] += 1
    return events


def _unknown_order_charge(b: _Builder) -> None:
    """A charge whose order the storefront does not have (planted: UNMATCHED line)."""
    ghost = Order(
        id=b.ids.order(),
        name="#0",
        channel="web",
        method="ship",
        currency="GBP",
        customer={},
        pickup_location=None,
        placed_at=b.ago(timedelta(days=5), timedelta(days=9)),
        lines=[Line("x", b.skus[0], "x", 1, 1999)],
        discount=0,
        shipping=0,
        updated_at=b.now,
    )
    charge = b.capture(ghost, ghost.placed_at, recorded=False)
    b.world.expected_lines[f"txn:{charge['_txn']['id']}"] = "UNMATCHED"
    b.world.planted["charge_for_unknown_order"] += 1


def _recipes(b: _Builder) -> list[str]:
    """Every planted recipe once, ``benign`` of the benign ones, the rest at random,
    shuffled."""
    rng = b.rng
    chosen = list(PLANTED_ORDER_RECIPES) + rng.sample(BENIGN_RECIPES, b.benign_recipes)
    common = [
        "shipped",
        "delivered",
        "in_warehouse",
        "erp_split",
        "split_shipped",
        "picked_up",
        "returned_refunded",
    ]
    while len(chosen) < b.count:
        chosen.append(rng.choice(common))
    rng.shuffle(chosen)
    return chosen


def build_world(
    seed: int, orders: int = 38, *, benign: int = 14, pending: bool = False, validate: bool = True
) -> World:
    """World ``seed``: ``orders`` orders following every planted recipe and ``benign`` of the
    benign ones (``len(BENIGN_RECIPES)`` for all), and the cases the service cannot find yet
    (``PENDING_RECIPES``) when ``pending``."""
    b = _Builder(seed, orders)
    b.benign_recipes = benign
    b.world.recipes = []
    for recipe in _recipes(b) + (list(PENDING_RECIPES) if pending else []):
        b.world.recipes.append(recipe)
        _apply(recipe, b)
    _unknown_order_charge(b)
    world = b.world
    world.locations = [
        {
            "id": loc,
            "name": f"{'Warehouse' if loc in b.warehouses else 'Store'} {loc}",
            "type": "warehouse" if loc in b.warehouses else "store",
            "cutoff": b.rng.choice(["15:00", "17:30"]),
            "timezone": b.rng.choice(["Europe/London", "Asia/Tokyo", "Asia/Kuwait"]),
        }
        for loc in [*b.warehouses, *b.stores]
    ]
    _background_stock(b)
    _plant_drift(b)
    movements, stock = _replay(b)
    world.wms_events = _wms_feed(b, movements)
    sku, loc, qty = b.late_adjustment
    stock[(sku, loc)]["onHand"] += qty
    as_of = b.wms_time.iso(b.now)
    world.stock = [
        {"sku": sku, "locationId": loc, **buckets, "asOf": as_of}
        for (sku, loc), buckets in sorted(stock.items())
    ]
    counted = b.rng.choice(world.stock)  # a stock row after a count: not a movement
    world.wms_events.append(
        {
            "id": b.ids.event("wms"),
            "sequence": world.wms_events[-1]["sequence"] + 1,
            "type": "stock.counted",
            "recordType": "stock",
            "recordId": f"{counted['sku']}@{counted['locationId']}",
            "occurredAt": as_of,
            "data": counted,
        }
    )
    world.fulfilment_orders = [b.fo_record(fo) for fo in b.fos]
    world.orders = [b.storefront_record(order) for order in b.orders]
    world.storefront_events = [
        {
            "id": b.ids.event("storefront"),
            "sequence": n,
            "type": {"cancelled": "order.cancelled", "closed": "order.closed"}.get(
                o["status"], "order.created"
            ),
            "recordType": "order",
            "recordId": o["id"],
            "occurredAt": o["updatedAt"],
            "data": o,
        }
        for n, o in enumerate(world.orders, 1)
    ]
    world.sales_orders = b.sales
    world.erp_events = [
        {
            "id": b.ids.event("erp"),
            "sequence": n,
            "type": "sales_order.created",
            "recordType": "sales_order",
            "recordId": s["id"],
            "occurredAt": s["updatedAt"],
            "data": s,
        }
        for n, s in enumerate(world.sales_orders, 1)
    ]
    world.items = [
        {
            "sku": sku,
            "name": b.titles[sku],
            "category": "apparel",
            "listPrice": dec(b.price("GBP"), "GBP"),
            "currency": "GBP",
        }
        for sku in b.skus
    ]
    _payouts(b)
    world.payments_events = _payments_feed(b)
    world.charges = [
        {k: v for k, v in c.items() if not k.startswith("_")} for c in b.charges.values()
    ]
    world.balance_transactions = sorted(b.txns, key=lambda t: t["id"])
    swept = {f"txn:{t['id']}" for t in b.txns if t["payout"]}
    unswept = [k for k in world.expected_lines if k.startswith("txn:") and k not in swept]
    if unswept:
        raise AssertionError(f"world {seed}: planted transactions no payout swept: {unswept}")
    if validate:
        validate_world(world)
    return world


def validate_world(world: World) -> dict[str, int]:
    """Check every record and event against the contract's schemas; count them."""
    checks = [
        ("storefront", "Order", world.orders),
        ("storefront", "Event", world.storefront_events),
        ("erp", "SalesOrder", world.sales_orders),
        ("erp", "Item", world.items),
        ("erp", "Event", world.erp_events),
        ("wms", "FulfilmentOrder", world.fulfilment_orders),
        ("wms", "Location", world.locations),
        ("wms", "Stock", world.stock),
        ("wms", "Event", world.wms_events),
        (
            "wms",
            "InventoryMovement",
            [e["data"] for e in world.wms_events if e["recordType"] == "inventory_movement"],
        ),
        (
            "wms",
            "ExceptionReport",
            [e["data"] for e in world.wms_events if e["recordType"] == "exception_report"],
        ),
        ("payments", "Charge", world.charges),
        ("payments", "StandaloneRefund", world.refunds),
        ("payments", "StandaloneDispute", world.disputes),
        ("payments", "Payout", world.payouts),
        ("payments", "BalanceTransaction", world.balance_transactions),
        ("payments", "Event", world.payments_events),
    ]
    return {
        f"{kind}.{schema}": contract.check_all(kind, schema, records)
        for kind, schema, records in checks
    }
