"""The disagreement detector: reads every order's claims in batches, lists where systems
disagree, and raises the disagreements that matter operationally as exceptions.

Which disagreements become which exception kind:

| disagreement | exception | owner (catalogue) |
| --- | --- | --- |
| state: storefront cancelled, WMS shipped (or later) | LATE_CANCELLATION | storefront |
| state: WMS shipped, storefront unfulfilled past grace | STATE_DISAGREEMENT | storefront |
| any other state disagreement | STATE_DISAGREEMENT | storefront |
| totals: ERP total differs from the storefront's | PRICE_DISAGREEMENT | ERP |
| a line's unit price differs between ERP and storefront | PRICE_DISAGREEMENT | ERP |

Grace periods come from the authority rules, so sync lag raises nothing. One page of orders
costs one call per source, whatever its size. Every disagreement found, operational or only
shown, is kept as a current disagreement (:mod:`omnigraph.orders.disagreements`) until a check
finds the systems agreeing again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.provenance import Fact
from omnigraph.core.sources import SourceKind
from omnigraph.db.feed_positions import feed_position, move_feed_position
from omnigraph.exceptions.catalogue import ExceptionCatalogue, ExceptionKind
from omnigraph.exceptions.intake import Reporter, take_in_occurrence
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.changes import keep_order_changes, order_change
from omnigraph.orders.disagreements import canonical_field, forget_unlisted, keep_checked
from omnigraph.orders.truth import OrderEvidence, OrderState, OrderTruth, storefront_fulfilment
from omnigraph.runtime.periodic import PeriodicTask, source_task
from omnigraph.sources.contract import OrderListFilter
from omnigraph.sources.records import Sourced, StorefrontOrder
from omnigraph.sources.registry import SourceRegistry

__all__ = ["DetectionReport", "DisagreementDetector", "cases", "exception_for"]

log = structlog.get_logger(__name__)
_LEFT_BUILDING = {
    OrderState.PARTIALLY_SHIPPED.value,
    OrderState.SHIPPED.value,
    OrderState.DELIVERED.value,
    OrderState.PARTIALLY_RETURNED.value,
    OrderState.RETURNED.value,
}


@dataclass(slots=True)
class DetectionReport:
    orders: int = 0
    disagreements: Counter[str] = field(default_factory=Counter)
    raised: Counter[str] = field(default_factory=Counter)
    already_known: int = 0
    upstream_calls: dict[str, int] = field(default_factory=dict)
    disputed_orders: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "disagreements": dict(self.disagreements),
            "raised": dict(self.raised),
            "alreadyKnown": self.already_known,
            "upstreamCalls": self.upstream_calls,
        }


@dataclass(frozen=True, slots=True)
class Raise:
    kind: ExceptionKind
    summary: str
    details: dict[str, Any]


CHANGES_FEED = "disagreements"


def _order_ref(event: dict[str, Any], record_type: str) -> str | None:
    """The storefront order a change-feed event is about, when it is about one."""
    if event.get("recordType") != record_type:
        return None
    if record_type == "order":
        ref = event.get("recordId")
    else:
        data = event.get("data")
        ref = data.get("orderRef") if isinstance(data, dict) else None
    return str(ref) if ref else None


def exception_for(truth: OrderTruth, fact: Fact) -> Raise | None:
    """The exception an operational disagreement raises, or ``None`` for one that is only shown."""
    order = truth.order
    base: dict[str, Any] = {"orderRef": order.id, "field": fact.field}
    fulfilment = truth.evidence.fulfilment_orders
    sales = truth.evidence.sales_orders
    if fact.field == "state":
        others = {c.value for c in fact.conflicting}
        served = fact.served.value
        if fulfilment:
            base["fulfilmentOrderId"] = fulfilment[0].record.id
        base["wmsState"] = served
        if "CANCELLED" in others and served in _LEFT_BUILDING:
            return Raise(
                ExceptionKind.LATE_CANCELLATION,
                f"{order.id} was cancelled in the storefront but the WMS says {served}",
                base,
            )
        # the storefront is told what the WMS reports, in its own words; where no word makes
        # them agree, the sync is not offered and the reason is kept for whoever asks
        status, reason = storefront_fulfilment([f.record for f in fulfilment])
        told = (
            {"fulfilmentStatus": status}
            if status
            else {"unavailable": {"fulfilmentStatus": reason}}
        )
        return Raise(
            ExceptionKind.STATE_DISAGREEMENT,
            f"{order.id}: the WMS says {served}, the storefront says {', '.join(sorted(others))}",
            {**base, **told},
        )
    if fact.field == "totals.total" and sales:
        storefront = next(
            (c.value for c in fact.claims if c.source_kind is SourceKind.STOREFRONT), None
        )
        details = {
            **base,
            "salesOrderId": sales[0].record.id,
            "salesOrderIds": [s.record.id for s in sales],
            "erpTotal": fact.served.value,
            "storefrontTotal": storefront,
        }
        excess = _excess(fact.served.value, storefront)
        if excess is not None:
            details["creditAmount"] = excess
        return Raise(
            ExceptionKind.PRICE_DISAGREEMENT,
            f"{order.id}: ERP total {fact.served.value}, storefront total {storefront}",
            details,
        )
    if canonical_field(fact.field) == "lines.unitPrice" and sales:
        sku = fact.field[len("lines[") : fact.field.rindex("]")]  # a SKU may hold "]"
        # the sales order that carries the line (an ERP may split an order across several)
        record, line = next(
            ((s.record, x) for s in sales for x in s.record.lines if x.sku == sku),
            (sales[0].record, None),
        )
        storefront = next(
            (c.value for c in fact.claims if c.source_kind is SourceKind.STOREFRONT), None
        )
        return Raise(
            ExceptionKind.PRICE_DISAGREEMENT,
            f"{order.id} {sku}: ERP unit price {fact.served.value}, storefront {storefront}",
            {
                **base,
                "salesOrderId": record.id,
                "sku": sku,
                "lineNo": line.line_no if line else None,
                "erpUnitPrice": fact.served.value,
                "storefrontUnitPrice": storefront,
            },
        )
    return None


def _excess(erp_total: str, storefront_total: str | None) -> str | None:
    """What the ERP's total is above the storefront's, when it is."""
    if storefront_total is None:
        return None
    excess = Decimal(erp_total) - Decimal(storefront_total)
    return str(excess) if excess > 0 else None


def cases(truth: OrderTruth) -> list[tuple[Fact, Raise]]:
    """The exceptions an order's disagreements raise: one per case, not one per symptom.

    A line price disagreement and the order-total disagreement it causes are one case: while a
    line's price is disputed, the total raises nothing of its own (its exception would only
    repeat the line's, and resolving the line settles it). A total disagreement with no line
    disagreement (shipping, discount or tax differ) is a case of its own.
    """
    found = [(fact, exception_for(truth, fact)) for fact in truth.disagreements()]
    lines_disputed = any(canonical_field(fact.field) == "lines.unitPrice" for fact, _ in found)
    return [
        (fact, raised)
        for fact, raised in found
        if raised is not None and not (fact.field == "totals.total" and lines_disputed)
    ]


@dataclass(eq=False)
class DisagreementDetector:
    """Scans every storefront's orders a page at a time and raises what the systems dispute."""

    sessions: async_sessionmaker[AsyncSession]
    registry: SourceRegistry
    rules: AuthorityRules
    catalogue: ExceptionCatalogue
    _: KW_ONLY
    page_size: int = 200

    def periodic(
        self, *, interval_seconds: float, clock: Callable[[], datetime], jitter: float = 0.0
    ) -> PeriodicTask:
        """The detector as a background task: a scan every ``interval_seconds`` (a source that
        does not answer defers the scan to the next interval)."""

        async def scan() -> None:
            report = await self.scan(now=clock())
            log.info("disagreements_scanned", **report.as_dict())

        return source_task("detector", scan, interval_seconds, jitter=jitter)

    def following(
        self, *, interval_seconds: float, clock: Callable[[], datetime], jitter: float = 0.0
    ) -> PeriodicTask:
        """The detector following the storefronts', ERPs' and WMSs' change feeds: the orders a
        change touched are checked seconds after it; the full scan stays the safety net."""

        async def follow() -> None:
            report = await self.follow_changes(now=clock())
            if report.orders:
                log.info("disagreements_followed", **report.as_dict())

        return source_task("detector_changes", follow, interval_seconds, jitter=jitter)

    async def follow_changes(self, *, now: datetime) -> DetectionReport:
        """Check the orders whose records changed on any feed since the last look.

        Each feed's cursor is kept (``source_cursors``, feed ``disagreements``) and moved only
        once the orders its events named were checked, so a crash reads them again; raising is
        idempotent, so reading twice raises nothing twice."""
        report = DetectionReport()
        refs: set[str] = set()
        read_to: dict[str, str | None] = {}
        feeds = [
            *((adapter.client, "order") for adapter in self.registry.storefronts),
            *((adapter.client, "sales_order") for adapter in self.registry.erps),
            *((adapter.client, "fulfilment_order") for adapter in self.registry.warehouses),
        ]
        for client, record_type in feeds:
            cursor = start = await self._feed_position(client.name)
            while True:
                events, cursor, more = await client.changes(cursor, self.page_size)
                about = [(e, ref) for e in events if (ref := _order_ref(e, record_type))]
                refs.update(ref for _, ref in about)
                # kept for the orders' timelines before the cursor moves past them
                await keep_order_changes(
                    self.sessions,
                    (
                        row
                        for e, ref in about
                        if (row := order_change(client.name, e, ref)) is not None
                    ),
                )
                if not more or not events:
                    break
            if cursor != start:
                read_to[client.name] = cursor
        wanted = sorted(refs)
        for storefront in self.registry.storefronts:
            for offset in range(0, len(wanted), self.page_size):
                found = await storefront.orders_by_id(wanted[offset : offset + self.page_size])
                orders = [Sourced(storefront.name, order) for order in found.values()]
                await self._check_page(orders, now, report, raise_exceptions=True)
        await self._move_feed_positions(read_to, now)
        return report

    async def _feed_position(self, source: str) -> str | None:
        row = await feed_position(self.sessions, source, CHANGES_FEED)
        return row.cursor if row else None

    async def _move_feed_positions(self, read_to: dict[str, str | None], now: datetime) -> None:
        if not read_to:
            return
        async with self.sessions() as session, session.begin():
            for source, cursor in read_to.items():
                await move_feed_position(session, source, CHANGES_FEED, cursor, now)

    async def scan(self, *, now: datetime, raise_exceptions: bool = True) -> DetectionReport:
        """Every order of every storefront, a page at a time. A dry run (``raise_exceptions``
        false) changes nothing: no exception raised, no current disagreement kept."""
        report = DetectionReport()
        calls_before = {name: c.upstream.calls for name, c in self.registry.clients.items()}
        for storefront in self.registry.storefronts:
            cursor: str | None = None
            listed: set[str] = set()
            while True:
                page = await storefront.list_orders(
                    limit=self.page_size, cursor=cursor, filter=OrderListFilter()
                )
                orders = [Sourced(storefront.name, order) for order in page.orders]
                listed.update(order.id for order in page.orders)
                await self._check_page(orders, now, report, raise_exceptions)
                if not page.next_cursor:
                    break
                cursor = page.next_cursor
            if raise_exceptions:
                await forget_unlisted(self.sessions, storefront.name, listed)
        report.upstream_calls = {
            name: c.upstream.calls - calls_before[name] for name, c in self.registry.clients.items()
        }
        return report

    async def _check_page(
        self,
        orders: Sequence[Sourced[StorefrontOrder]],
        now: datetime,
        report: DetectionReport,
        raise_exceptions: bool,
    ) -> None:
        """Check ``orders`` (all of one storefront) against every ERP and WMS."""
        refs = [o.record.id for o in orders]
        checked: dict[str, list[Fact]] = {}
        erp_answers, wms_answers = await asyncio.gather(
            asyncio.gather(*(erp.sales_orders_by_order_ref(refs) for erp in self.registry.erps)),
            asyncio.gather(
                *(wms.fulfilment_orders_by_order_ref(refs) for wms in self.registry.warehouses)
            ),
        )
        for order in orders:
            ref = order.record.id
            evidence = OrderEvidence(
                storefront=order,
                sales_orders=[
                    Sourced(erp.name, record)
                    for erp, answer in zip(self.registry.erps, erp_answers, strict=True)
                    for record in answer.get(ref, [])
                ],
                fulfilment_orders=[
                    Sourced(wms.name, record)
                    for wms, answer in zip(self.registry.warehouses, wms_answers, strict=True)
                    for record in answer.get(ref, [])
                ],
            )
            truth = OrderTruth(evidence, self.rules, now)
            disputed = checked[ref] = truth.disagreements()
            report.orders += 1
            if disputed:
                report.disputed_orders[ref] = [f.field for f in disputed]
            for fact in disputed:
                report.disagreements[canonical_field(fact.field)] += 1
            if not raise_exceptions:
                continue
            for fact, found in cases(truth):
                created = await self._raise(order, truth, fact, found, now)
                if created:
                    report.raised[found.kind.value] += 1
                else:
                    report.already_known += 1
        if raise_exceptions and orders:
            await keep_checked(self.sessions, orders[0].source, checked, now)

    async def _raise(
        self,
        order: Sourced[StorefrontOrder],
        truth: OrderTruth,
        fact: Fact,
        found: Raise,
        now: datetime,
    ) -> bool:
        owner_kind = self.catalogue.rule(found.kind).owner
        owner = next(
            (c.source for c in fact.claims if c.source_kind is owner_kind),
            order.source if owner_kind is SourceKind.STOREFRONT else None,
        )
        if owner is None:
            owner = next(c.name for c in self.registry.clients.values() if c.kind is owner_kind)
        report = Reporter("omnigraph:disagreement-detector", detected_at=now).about_order(
            found.kind,
            f"disagreement:{order.source}:{order.record.id}:{fact.field}",
            order.source,
            order.record.id,
            summary=found.summary,
            owner_source=owner,
            details=found.details,
        )
        # a disagreement resolved once and seen again in records changed since is a new case
        changed_at = max(claim.as_of for claim in fact.claims)
        _, created = await take_in_occurrence(
            self.sessions, self.catalogue, report, changed_at=changed_at
        )
        return created
