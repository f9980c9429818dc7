"""One canonical order from the claims of every system that knows it.

``OrderEvidence`` is what the loaders fetched (or could not fetch); ``OrderTruth`` turns it into
served facts with provenance, and lists where systems disagree.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Sequence, Set
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import TypeVar, cast

from cachetools import LRUCache

from omnigraph.core.errors import UpstreamUnavailable
from omnigraph.core.provenance import Claim, Fact
from omnigraph.core.sources import SourceKind
from omnigraph.orders.authority import AuthorityRules, decide
from omnigraph.sources.records import (
    Charge,
    ErpLine,
    FulfilmentLine,
    FulfilmentOrder,
    OrderTotals,
    SalesOrder,
    Sourced,
    StorefrontOrder,
)

__all__ = [
    "LINE_QUANTITIES",
    "PICKUP_HOLD",
    "LineQuantities",
    "OrderEvidence",
    "OrderState",
    "OrderTruth",
    "OrderTruths",
    "channel_state",
    "states_consistent",
    "storefront_state",
    "truths_of",
    "wms_state",
]


@dataclass(slots=True)
class OrderEvidence:
    """Everything the systems said about one order, and which systems could not be asked."""

    storefront: Sourced[StorefrontOrder]
    sales_orders: list[Sourced[SalesOrder]] = field(default_factory=list)
    fulfilment_orders: list[Sourced[FulfilmentOrder]] = field(default_factory=list)
    charges: list[Sourced[Charge]] = field(default_factory=list)
    unavailable: dict[SourceKind, UpstreamUnavailable] = field(default_factory=dict)

    def only(self, kinds: Set[SourceKind]) -> OrderEvidence:
        """What the systems of ``kinds`` said (the storefront's order always stands)."""
        return OrderEvidence(
            storefront=self.storefront,
            sales_orders=self.sales_orders if SourceKind.ERP in kinds else [],
            fulfilment_orders=self.fulfilment_orders if SourceKind.WMS in kinds else [],
            charges=self.charges if SourceKind.PAYMENTS in kinds else [],
            unavailable={k: e for k, e in self.unavailable.items() if k in kinds},
        )


@dataclass(frozen=True, slots=True)
class LineQuantities:
    """One order line's execution as the graph serves it: for one SKU, the sum over every
    fulfilment order of the order (a split order has several, from one WMS or more).

    Not a ``FulfilmentLine``, though the counts match: that is one WMS's record of one line of
    one fulfilment order, read (and validated) from the wire, with the units it holds as
    ``quantity``; this is the served total, whose ``allocated`` sums those ``quantity``s, and it
    belongs to no single source (its provenance is each fulfilment order's own claims)."""

    allocated: int = 0
    picked: int = 0
    packed: int = 0
    shipped: int = 0
    short: int = 0
    damaged: int = 0
    returned: int = 0
    cancelled: int = 0
    backordered: int = 0


LINE_QUANTITIES = tuple(f.name for f in fields(LineQuantities))
# The counts a fulfilment line and the served line share by name (``allocated`` is ``quantity``).
_COUNTED = tuple(name for name in LINE_QUANTITIES if name != "allocated")
# The counts a line's provenance lists (as it always has: every one but ``backordered``).
_PROVENANCE_COUNTS = tuple(name for name in _COUNTED if name != "backordered")


ViewT = TypeVar("ViewT")


class OrderTruth:
    """Served facts for one order under the authority rules."""

    def __init__(self, evidence: OrderEvidence, rules: AuthorityRules, now: datetime) -> None:
        self.evidence = evidence
        self.rules = rules
        self.now = now
        # the first instant at which a decision made so far would come out otherwise (a claim
        # judged sync lag until its field's grace period ends); None: none would
        self.valid_until: datetime | None = None
        self._line_quantities: dict[str, LineQuantities] = {}
        # each SKU's price decided once (its line's field and the provenance both ask)
        self._unit_prices: dict[str, Fact | None] = {}
        # what the resolvers build from this truth (provenance entries...), kept beside it
        self._views: dict[str, object] = {}

    def stands(self, now: datetime) -> bool:
        """Whether this truth is still the one its evidence gives at ``now``: no decision made
        so far would change with the time that passed. A truth that stands moves on to ``now``,
        so a decision made later is made for that time."""
        if now < self.now or (self.valid_until is not None and now >= self.valid_until):
            return False
        self.now = now
        return True

    def view(self, name: str, make: Callable[[], ViewT]) -> ViewT:
        """What ``make()`` builds from this truth, built once and kept with it (a kept truth
        serves later requests: they share it, and nobody changes it)."""
        if name not in self._views:
            self._views[name] = make()
        return cast(ViewT, self._views[name])

    @property
    def order(self) -> StorefrontOrder:
        return self.evidence.storefront.record

    def _sf(self, value: str) -> Claim:
        order = self.order
        return Claim(
            self.evidence.storefront.source,
            SourceKind.STOREFRONT,
            order.id,
            order.updated_at,
            value,
        )

    def _decide(
        self, name: str, claims: list[Claim], agrees: Callable[[str, str], bool] | None = None
    ) -> Fact | None:
        rule = self.rules.for_field(name)
        fact = decide(name, claims, rule, now=self.now, agrees=agrees)
        if fact is not None and fact.lagging:
            # lag within the grace period becomes a disagreement when the period ends
            ends = fact.served.as_of + rule.grace
            if self.valid_until is None or ends < self.valid_until:
                self.valid_until = ends
        return fact

    @cached_property
    def state(self) -> Fact:
        """The canonical core state under the default rules (tested as this table in
        ``tests/orders/test_truth.py``):

        | WMS (all fulfilment orders of the order) | storefront    | state                  |
        | ---------------------------------------- | ------------- | ---------------------- |
        | no record yet                            | cancelled     | CANCELLED              |
        | no record yet                            | anything else | its coarse state       |
        | released / picking                       | any           | RELEASED               |
        | picked                                   | any           | PICKED                 |
        | packed / ready_for_pickup                | any           | PACKED                 |
        | some shipped (or later), some not        | any           | PARTIALLY_SHIPPED      |
        | shipped                                  | any           | SHIPPED                |
        | delivered / picked_up                    | any           | DELIVERED              |
        | partially_returned                       | any           | PARTIALLY_RETURNED     |
        | returned                                 | any           | RETURNED               |
        | every one cancelled                      | any           | CANCELLED              |

        Cancelled fulfilment orders beside live ones are ignored; several live ones take the
        least advanced state. The authority rules decide (owner: WMS, fallback: storefront), so
        a rules change can make another system the owner."""
        claims = [self._sf(storefront_state(self.order).value)]
        fulfilment = [s.record for s in self.evidence.fulfilment_orders]
        physical = wms_state(fulfilment)
        if physical is not None:
            latest = max(self.evidence.fulfilment_orders, key=lambda s: s.record.updated_at)
            claims.append(
                Claim(
                    latest.source,
                    SourceKind.WMS,
                    ",".join(f.id for f in fulfilment),
                    latest.record.updated_at,
                    physical.value,
                )
            )
        fact = self._decide("state", claims, states_consistent)
        assert fact is not None  # the storefront claim is always there
        return fact

    @cached_property
    def erp_orders(self) -> list[tuple[str, list[SalesOrder]]]:
        """Each ERP's sales orders for this order: an ERP may split one storefront order into
        several (by warehouse, by shipment, by legal entity), and together they are its word."""
        grouped: dict[str, list[SalesOrder]] = {}
        for s in self.evidence.sales_orders:
            grouped.setdefault(s.source, []).append(s.record)
        return [
            (source, sorted(records, key=lambda r: r.id)) for source, records in grouped.items()
        ]

    def erp_totals(self, source: str) -> OrderTotals:
        """The totals of all ``source``'s sales orders for this order, added up."""
        records = dict(self.erp_orders)[source]

        def added(name: str) -> Decimal:
            return sum((getattr(r.totals, name) for r in records), Decimal(0))

        return OrderTotals(
            subtotal=added("subtotal"),
            discount=added("discount"),
            shipping=added("shipping"),
            tax=added("tax"),
            total=added("total"),
        )

    @staticmethod
    def _erp_line_claim(
        source: str, where: Sequence[tuple[SalesOrder, ErpLine]], value: str
    ) -> Claim:
        """One ERP's claim about a line from the sales order lines that carry it, each named."""
        return Claim(
            source,
            SourceKind.ERP,
            ",".join(f"{record.id}#{line.line_no}" for record, line in where),
            max(record.updated_at for record, _ in where),
            value,
        )

    @staticmethod
    def _erp(source: str, records: Sequence[SalesOrder], value: str) -> Claim:
        """One ERP's claim from all its sales orders: every record named, as of the newest."""
        return Claim(
            source,
            SourceKind.ERP,
            ",".join(r.id for r in records),
            max(r.updated_at for r in records),
            value,
        )

    @cached_property
    def total(self) -> Fact:
        claims = [self._sf(str(self.order.totals.total))]
        claims += [
            self._erp(source, records, str(sum((r.totals.total for r in records), Decimal(0))))
            for source, records in self.erp_orders
        ]
        fact = self._decide("totals.total", claims, _same_amount)
        assert fact is not None
        return fact

    @cached_property
    def cancellation(self) -> Fact:
        """Whether the order is cancelled: the storefront takes the request; the ERP and the
        WMS say whether they acted on it (a WMS that shipped did not)."""
        order = self.order
        cancelled = order.status == "cancelled"
        claims = [
            Claim(
                self.evidence.storefront.source,
                SourceKind.STOREFRONT,
                order.id,
                order.cancelled_at or order.updated_at,
                "CANCELLED" if cancelled else "ACTIVE",
            )
        ]
        claims += [
            self._erp(
                source,
                records,
                "CANCELLED" if all(r.status == "cancelled" for r in records) else "ACTIVE",
            )
            for source, records in self.erp_orders
        ]
        fulfilment = self.evidence.fulfilment_orders
        if fulfilment:
            latest = max(fulfilment, key=lambda f: f.record.updated_at)
            all_cancelled = all(f.record.status == "cancelled" for f in fulfilment)
            claims.append(
                Claim(
                    latest.source,
                    SourceKind.WMS,
                    ",".join(f.record.id for f in fulfilment),
                    latest.record.updated_at,
                    "CANCELLED" if all_cancelled else "ACTIVE",
                )
            )
        fact = self._decide("cancellation", claims)
        assert fact is not None
        return fact

    @property
    def served_totals(self) -> OrderTotals:
        """The totals the served total comes from: the owning ERP's (its sales orders for the
        order added up), or the storefront order's while it is the one believed."""
        served = self.total.served
        if served.source_kind is SourceKind.ERP:
            return self.erp_totals(served.source)
        return self.order.totals

    @cached_property
    def currency(self) -> Fact:
        claims = [self._sf(self.order.currency)]
        for source, records in self.erp_orders:
            claims += [
                self._erp(source, [r for r in records if r.currency == currency], currency)
                for currency in sorted({r.currency for r in records})
            ]
        fact = self._decide("currency", claims)
        assert fact is not None
        return fact

    @cached_property
    def financial_status(self) -> Fact | None:
        claims = []
        if self.order.financial_status:
            claims.append(self._sf(self.order.financial_status))
        for source, records in self.erp_orders:
            claims += [
                self._erp(source, [r for r in records if r.financial_status == status], status)
                for status in sorted({r.financial_status for r in records})
            ]
        # the storefront and the ERP share one vocabulary (the contract); "not paid yet" is
        # worded by each as it stands in its books, so those words agree with one another
        return self._decide("financialStatus", claims, financial_statuses_agree)

    def unit_price(self, sku: str) -> Fact | None:
        """The price of a unit of ``sku``. A SKU may sit on several lines at several prices (a
        second unit on promotion): an ERP that states the same prices for it agrees, and its
        claim is made at the price of the storefront's first line for the SKU."""
        if sku not in self._unit_prices:
            self._unit_prices[sku] = self._decide_unit_price(sku)
        return self._unit_prices[sku]

    def _decide_unit_price(self, sku: str) -> Fact | None:
        stated = list(dict.fromkeys(x.unit_price for x in self.order.lines if x.sku == sku))
        claims = [self._sf(str(stated[0]))] if stated else []
        for source, records in self.erp_orders:
            prices: dict[Decimal, list[tuple[SalesOrder, ErpLine]]] = {}
            for record, line in _erp_lines(records, sku):
                prices.setdefault(line.unit_price, []).append((record, line))
            if len(stated) > 1 and set(prices) == set(stated):
                prices = {stated[0]: [where for found in prices.values() for where in found]}
            # one claim per price its records state
            claims += [self._erp_line_claim(source, where, str(p)) for p, where in prices.items()]
        return self._decide("lines.unitPrice", claims, _same_amount)

    def ordered_quantity(self, sku: str) -> Fact | None:
        """Units asked for: the storefront captured them (on however many lines); the ERP's copy
        must say the same."""
        lines = [line for line in self.order.lines if line.sku == sku]
        claims = [self._sf(str(sum(line.quantity for line in lines)))] if lines else []
        for source, records in self.erp_orders:
            where = _erp_lines(records, sku)
            if where:  # a line split across sales orders: together they are the ERP's count
                count = str(sum(line.quantity for _, line in where))
                claims.append(self._erp_line_claim(source, where, count))
        return self._decide("lines.quantity", claims)

    def line_quantities(self, sku: str) -> LineQuantities:
        known = self._line_quantities.get(sku)
        if known is None:
            known = self._line_quantities[sku] = self._sum_line_quantities(sku)
        return known

    def _sum_line_quantities(self, sku: str) -> LineQuantities:
        lines: list[FulfilmentLine] = [
            line
            for s in self.evidence.fulfilment_orders
            for line in s.record.lines
            if line.sku == sku
        ]
        counted = {name: sum(getattr(x, name) for x in lines) for name in _COUNTED}
        return LineQuantities(allocated=sum(x.quantity for x in lines), **counted)

    def line_facts(self) -> list[Fact]:
        facts = []
        for sku in dict.fromkeys(line.sku for line in self.order.lines):  # each SKU once
            for name, fact in (
                ("quantity", self.ordered_quantity(sku)),
                ("unitPrice", self.unit_price(sku)),
            ):
                if fact is not None:
                    facts.append(fact.renamed(f"lines[{sku}].{name}"))
        return facts

    def _single(self, name: str, claim: Claim) -> Fact:
        fact = self._decide(name, [claim])
        assert fact is not None
        return fact

    def served_facts(self) -> list[Fact]:
        """A fact for every value the graph serves about this order: its provenance (made once;
        the list is shared, not to be changed)."""
        return self.view("served_facts", self._make_served_facts)

    def _make_served_facts(self) -> list[Fact]:
        order = self.order
        facts = [
            self._single("channel", self._sf(order.channel)),
            self._single("placedAt", self._sf(order.placed_at.isoformat())),
            self._single("fulfilmentMethod", self._sf(order.fulfilment_method)),
        ]
        if order.customer is not None:
            facts.append(self._single("customer", self._sf(order.customer.id)))
        facts += self.contested_facts()
        for s in self.evidence.sales_orders:
            erp = Claim(s.source, SourceKind.ERP, s.record.id, s.record.updated_at, s.record.terms)
            facts.append(self._single("terms", erp))
            for memo in s.record.credit_memos:
                claim = Claim(s.source, SourceKind.ERP, memo.id, memo.issued_at, str(memo.amount))
                facts.append(self._single("creditMemos", claim))
        for f in self.evidence.fulfilment_orders:
            for line in f.record.lines:
                for name in _PROVENANCE_COUNTS:
                    claim = Claim(
                        f.source,
                        SourceKind.WMS,
                        f.record.id,
                        f.record.updated_at,
                        str(getattr(line, name)),
                    )
                    facts.append(self._single(f"lines[{line.sku}].{name}", claim))
            for shipment in f.record.shipments:
                claim = Claim(
                    f.source, SourceKind.WMS, shipment.id, shipment.shipped_at, shipment.carrier
                )
                facts.append(self._single("shipments", claim))
        for c in self.evidence.charges:
            claim = Claim(
                c.source, SourceKind.PAYMENTS, c.record.id, c.record.created_at, c.record.status
            )
            facts.append(self._single("payments", claim))
        return facts

    def contested_facts(self) -> list[Fact]:
        """Every fact that more than one system has a say in."""
        facts = [self.state, self.cancellation, self.total, self.currency]
        if self.financial_status is not None:
            facts.append(self.financial_status)
        return facts + self.line_facts()

    def disagreements(self) -> list[Fact]:
        return [fact for fact in self.contested_facts() if fact.disputed]


class OrderTruths:
    """Each order's truths kept while what the systems say about it is unchanged.

    Deciding an order's truth (every field's claims ranked by the authority rules, every value
    served with its provenance) is most of what a request for orders costs; the same claims
    under the same rules decide the same way. So the truths made from one order's evidence are
    kept with it and taken again when a later request brings equal evidence (compared record by
    record, so any change a system makes, announced or not, decides afresh), from the same
    systems, under the same rules, before any decision made on them would change with time
    (``OrderTruth.stands``). Evidence with a system that could not be asked is never kept.
    ``max_entries`` orders at most, least recently used first out; 0 keeps none."""

    def __init__(self, *, max_entries: int) -> None:
        self._kept: LRUCache[tuple[str, str], _KeptTruths] | None = (
            LRUCache(maxsize=max_entries) if max_entries > 0 else None
        )
        self.reused = 0

    def truths(
        self,
        evidence: OrderEvidence,
        kinds: frozenset[SourceKind],
        kind_sets: Collection[frozenset[SourceKind]],
        rules: AuthorityRules,
        now: datetime,
    ) -> dict[frozenset[SourceKind], OrderTruth]:
        """The truth of ``evidence`` (from the systems of ``kinds``) as each set of systems in
        ``kind_sets`` (each within ``kinds``) sees it."""
        kept_orders = self._kept
        if kept_orders is None or evidence.unavailable:
            return truths_of(evidence, kind_sets, rules, now)
        order = evidence.storefront
        key = (order.source, order.record.id)
        kept = kept_orders.get(key)
        if (
            kept is None
            or kept.kinds != kinds
            or kept.rules is not rules
            or kept.evidence != evidence
        ):
            kept = kept_orders[key] = _KeptTruths(evidence, kinds, rules)
        made = {}
        for kind_set in kind_sets:
            truth = kept.truths.get(kind_set)
            if truth is not None and truth.stands(now):
                self.reused += 1
            else:
                truth = kept.truths[kind_set] = OrderTruth(evidence.only(kind_set), rules, now)
            made[kind_set] = truth
        return made

    def clear(self) -> None:
        if self._kept is not None:
            self._kept.clear()


@dataclass(slots=True)
class _KeptTruths:
    evidence: OrderEvidence
    kinds: frozenset[SourceKind]
    rules: AuthorityRules
    truths: dict[frozenset[SourceKind], OrderTruth] = field(default_factory=dict)


def truths_of(
    evidence: OrderEvidence,
    kind_sets: Collection[frozenset[SourceKind]],
    rules: AuthorityRules,
    now: datetime,
) -> dict[frozenset[SourceKind], OrderTruth]:
    """The truth of ``evidence`` as each set of systems in ``kind_sets`` sees it, decided now."""
    return {kind_set: OrderTruth(evidence.only(kind_set), rules, now) for kind_set in kind_sets}


def _same_amount(a: str, b: str) -> bool:
    try:
        return Decimal(a) == Decimal(b)
    except InvalidOperation:
        return a == b


class OrderState(enum.StrEnum):
    PLACED = "PLACED"
    RELEASED = "RELEASED"
    PICKED = "PICKED"
    PACKED = "PACKED"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    PARTIALLY_RETURNED = "PARTIALLY_RETURNED"
    RETURNED = "RETURNED"


_WMS = {
    "released": OrderState.RELEASED,
    "picking": OrderState.RELEASED,
    "picked": OrderState.PICKED,
    "packed": OrderState.PACKED,
    "ready_for_pickup": OrderState.PACKED,
    "partially_shipped": OrderState.PARTIALLY_SHIPPED,
    "shipped": OrderState.SHIPPED,
    "delivered": OrderState.DELIVERED,
    "picked_up": OrderState.DELIVERED,
    "partially_returned": OrderState.PARTIALLY_RETURNED,
    "returned": OrderState.RETURNED,
    "cancelled": OrderState.CANCELLED,
}


_PROGRESS = list(OrderState)


_LEFT_BUILDING = {
    OrderState.SHIPPED,
    OrderState.DELIVERED,
    OrderState.PARTIALLY_RETURNED,
    OrderState.RETURNED,
}


_STOREFRONT = {
    "unfulfilled": OrderState.PLACED,
    "partial": OrderState.PARTIALLY_SHIPPED,
    "fulfilled": OrderState.SHIPPED,
    "ready_for_pickup": OrderState.PACKED,
    "picked_up": OrderState.DELIVERED,
}


# What each storefront claim is consistent with: it hears about physical progress only at
# milestones (fulfilled, ready, picked up), so everything between two milestones agrees with it.
_CONSISTENT = {
    OrderState.PLACED: {
        OrderState.PLACED,
        OrderState.RELEASED,
        OrderState.PICKED,
        OrderState.PACKED,
    },
    OrderState.PARTIALLY_SHIPPED: {OrderState.PARTIALLY_SHIPPED},
    OrderState.SHIPPED: _LEFT_BUILDING,
    OrderState.PACKED: {OrderState.PACKED},
    OrderState.DELIVERED: {
        OrderState.DELIVERED,
        OrderState.PARTIALLY_RETURNED,
        OrderState.RETURNED,
    },
    OrderState.CANCELLED: {OrderState.CANCELLED},
}


def wms_state(fulfilment_orders: Sequence[FulfilmentOrder]) -> OrderState | None:
    """One state for all of an order's fulfilment orders (a split order ships partially)."""
    states = [_WMS[f.status] for f in fulfilment_orders]
    if not states:
        return None
    live = [s for s in states if s is not OrderState.CANCELLED]
    if not live:
        return OrderState.CANCELLED
    if any(s in _LEFT_BUILDING for s in live) and not all(s in _LEFT_BUILDING for s in live):
        return OrderState.PARTIALLY_SHIPPED
    return min(live, key=_PROGRESS.index)


def storefront_state(order: StorefrontOrder) -> OrderState:
    if order.status == "cancelled":
        return OrderState.CANCELLED
    return _STOREFRONT[order.fulfilment_status]


def states_consistent(served: str, other: str) -> bool:
    """Whether a storefront-level claim ``other`` is consistent with the served ``served``."""
    if served == other:
        return True
    try:
        return OrderState(served) in _CONSISTENT.get(OrderState(other), set())
    except ValueError:
        return False


PICKUP_HOLD = timedelta(days=3)


def channel_state(
    order: StorefrontOrder,
    fulfilment_orders: Sequence[FulfilmentOrder],
    sales_orders: Sequence[SalesOrder],
    now: datetime,
) -> str | None:
    """The branch state of channels whose behaviour diverges from the core lifecycle.

    Store pickup: AWAITING_RELEASE -> AWAITING_PICK -> READY_FOR_PICKUP -> PICKED_UP, or
    MISSED_PICKUP once the store's hold (``pickupHoldUntil``, else 3 days) has passed, or
    CANCELLED. Wholesale: SCHEDULED (ship date ahead, not released) -> AWAITING_RELEASE ->
    IN_FULFILMENT -> COMPLIANCE_HOLD (held by the WMS) -> ASN_SENT (advance ship notice out) ->
    SHIPPED, or CANCELLED. Other channels have no branch: ``None``.
    """
    statuses = {f.status for f in fulfilment_orders}
    if order.fulfilment_method == "pickup":
        if "picked_up" in statuses:
            return "PICKED_UP"
        if order.status == "cancelled" or (statuses and statuses <= {"cancelled"}):
            return "CANCELLED"
        ready = [f for f in fulfilment_orders if f.status == "ready_for_pickup"]
        if ready:
            hold_until = min(f.pickup_hold_until or f.updated_at + PICKUP_HOLD for f in ready)
            return "MISSED_PICKUP" if now > hold_until else "READY_FOR_PICKUP"
        return "AWAITING_PICK" if statuses else "AWAITING_RELEASE"
    if order.fulfilment_method == "wholesale":
        if order.status == "cancelled" or (statuses and statuses <= {"cancelled"}):
            return "CANCELLED"
        if any(f.compliance_hold is not None for f in fulfilment_orders):
            return "COMPLIANCE_HOLD"
        if statuses & {"shipped", "delivered", "partially_returned", "returned"}:
            return "SHIPPED"
        if any(f.asn_sent_at is not None for f in fulfilment_orders):
            return "ASN_SENT"
        if statuses:
            return "IN_FULFILMENT"
        ship_dates = [s.requested_ship_date for s in sales_orders if s.requested_ship_date]
        if ship_dates and min(ship_dates) > now.date():
            return "SCHEDULED"
        return "AWAITING_RELEASE"
    return None


# What each WMS status tells the storefront (its fulfilmentStatus vocabulary); None: the units
# are still in the building, which the storefront has no word for beyond "unfulfilled".
_TOLD_STOREFRONT: dict[str, str | None] = {
    "released": None,
    "picking": None,
    "picked": None,
    "packed": None,
    "ready_for_pickup": "ready_for_pickup",
    "partially_shipped": "partial",
    "shipped": "fulfilled",
    "delivered": "delivered",  # closes the order
    "picked_up": "picked_up",  # closes the order
    "partially_returned": "fulfilled",
    "returned": "fulfilled",
}


def storefront_fulfilment(fulfilment_orders: Sequence[FulfilmentOrder]) -> tuple[str | None, str]:
    """What to tell the storefront so it agrees with the warehouse: the fulfilment status in
    its vocabulary (``delivered`` and ``picked_up`` also close the order), or ``None`` with the
    reason no such status exists (the units are still in the building, or every fulfilment
    order was cancelled)."""
    live = [f.status for f in fulfilment_orders if f.status != "cancelled"]
    if not fulfilment_orders:
        return None, "the WMS has no fulfilment order for it yet"
    if not live:
        return None, (
            "the WMS cancelled every fulfilment order: cancel the order in the storefront, or"
            " have the WMS release it again; no fulfilment status makes them agree"
        )
    told = [_TOLD_STOREFRONT.get(status) for status in live]
    left = [t for t in told if t not in (None, "ready_for_pickup")]
    if not left:
        if all(t == "ready_for_pickup" for t in told):
            return "ready_for_pickup", "the order waits at the store"
        return None, (
            f"the WMS is still working on it ({', '.join(sorted(set(live)))}): the storefront"
            " has nothing to catch up with until the units leave"
        )
    if len(left) < len(told) or "partial" in left:
        return "partial", "part of the order has left the building"
    for closing in ("delivered", "picked_up"):
        if all(t == closing for t in left):
            return closing, f"every unit was {closing.replace('_', ' ')}"
    return "fulfilled", "every unit has left the building"


# the ways to say "nothing has been paid yet": a storefront's pending or authorized order is
# the ERP's invoiced one (terms) as much as its pending one
_UNPAID = frozenset({"pending", "authorized", "invoiced"})


def financial_statuses_agree(served: str, other: str) -> bool:
    """Whether two systems' financial statuses say the same about the money."""
    return served == other or (served in _UNPAID and other in _UNPAID)


def _erp_lines(records: Sequence[SalesOrder], sku: str) -> list[tuple[SalesOrder, ErpLine]]:
    """The lines of ``sku`` across an ERP's sales orders, with the record each sits on."""
    return [(record, line) for record in records for line in record.lines if line.sku == sku]
