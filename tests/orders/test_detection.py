"""Detection over seeded businesses: every planted disagreement is found and raised as the right
exception (recall 100%), and nothing else is (no false positives), for two seeds."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.app import demo_sources_config
from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
from omnigraph.db.models import ExceptionRow, OrderChangeRow, SourceCursorRow
from omnigraph.demo import DemoSystems, DemoWorld, build_world
from omnigraph.exceptions.catalogue import ExceptionCatalogue, PayloadNotApplicable
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.detector import CHANGES_FEED, DisagreementDetector, cases
from omnigraph.orders.truth import OrderEvidence, OrderTruth
from omnigraph.sources.records import Sourced
from omnigraph.sources.registry import SourceRegistry
from tests.conftest import ANCHOR, make_settings
from tests.helpers import PLANTED_EXCEPTION, feed_events_about
from tests.orders.test_truth import AT, erp, storefront, wms_order

ORDERS = 2500
PLANTED_FIELDS = {
    "late_sync": {"state"},
    "cancelled_but_shipped": {"state", "cancellation"},  # the WMS shipped: it did not cancel
    "total_mismatch": {"totals.total"},
    "price_mismatch": {"lines.unitPrice"},
}


async def forget_disagreements(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            delete(ExceptionRow).where(ExceptionRow.dedupe_key.like("disagreement:%"))
        )


@pytest.fixture(autouse=True)
async def leave_no_disagreements(clean_database: str) -> AsyncIterator[None]:
    """Other modules share the session's database and its demo world: leave them no
    exceptions about their orders."""
    yield
    engine = create_engine(clean_database)
    try:
        await upgrade_database(engine)
        await forget_disagreements(create_session_factory(engine))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def detecting(
    world: DemoWorld, database_url: str, **options: Any
) -> AsyncIterator[DisagreementDetector]:
    """A detector over ``world``'s demo systems, on the test database with no disagreement left
    in it from before; ``options`` are the detector's (``page_size``)."""
    engine = create_engine(database_url)
    try:
        await upgrade_database(engine)
        sessions = create_session_factory(engine)
        await forget_disagreements(sessions)
        async with DemoSystems(world) as demo:
            registry = SourceRegistry(demo_sources_config(demo.urls), make_settings(database_url))
            try:
                yield DisagreementDetector(
                    sessions, registry, AuthorityRules.load(), ExceptionCatalogue.load(), **options
                )
            finally:
                await registry.aclose()
    finally:
        await engine.dispose()


def family(field: str) -> str:
    return "lines." + field.rsplit(".", 1)[1] if field.startswith("lines[") else field


@pytest.mark.parametrize("seed", [7, 11])
async def test_detection_recall_and_precision_over_a_seeded_business(
    seed: int, clean_database: str
) -> None:
    world = build_world(seed=seed, orders=ORDERS, anchor=ANCHOR)
    expected: dict[str, set[str]] = {}
    expected_kinds: dict[str, set[str]] = {}
    for planted in world.planted:
        if planted.kind in PLANTED_FIELDS and planted.order_ref:
            expected.setdefault(planted.order_ref, set()).update(PLANTED_FIELDS[planted.kind])
            expected_kinds.setdefault(planted.order_ref, set()).add(PLANTED_EXCEPTION[planted.kind])
    assert {p.kind for p in world.planted} >= set(PLANTED_FIELDS)

    async with detecting(world, clean_database, page_size=250) as detector:
        now = datetime.now(UTC)
        report = await detector.scan(now=now)
        again = await detector.scan(now=now)
        async with detector.sessions() as session:
            raised = list(
                await session.scalars(
                    select(ExceptionRow).where(ExceptionRow.dedupe_key.like("disagreement:%"))
                )
            )

    found = {ref: {family(f) for f in fields} for ref, fields in report.disputed_orders.items()}
    assert found == expected  # recall 100%, and no order flagged that was not planted
    raised_kinds: dict[str, set[str]] = {}
    for row in raised:
        raised_kinds.setdefault(row.order_ref or "", set()).add(row.kind)
    assert raised_kinds == expected_kinds
    assert report.orders == ORDERS
    # one call per source per page of 250 orders, whatever the page holds
    pages = -(-ORDERS // 250)
    assert report.upstream_calls == {"web-store": pages, "erp": pages, "wms": pages, "psp": 0}
    # a second pass finds the same and raises nothing new
    assert sum(again.raised.values()) == 0
    assert again.already_known == sum(report.raised.values())


async def test_a_disagreement_that_comes_back_after_its_resolution_is_a_new_exception(
    clean_database: str,
) -> None:
    """Resolved, then seen again in records that changed after the resolution: a new
    occurrence. Seen again in the same records (the fix has not reached them yet): nothing."""
    world = build_world(seed=7, orders=300, anchor=ANCHOR)
    async with detecting(world, clean_database) as detector:
        sessions = detector.sessions
        now = datetime.now(UTC)
        first = await detector.scan(now=now)
        async with sessions() as session, session.begin():
            row = await session.scalar(
                select(ExceptionRow)
                .where(ExceptionRow.dedupe_key.like("disagreement:%"))
                .order_by(ExceptionRow.dedupe_key)
                .limit(1)
            )
            assert row is not None
            key = row.dedupe_key
            row.status, row.resolved_at = "RESOLVED", now  # after every record's change
        unchanged = await detector.scan(now=now)
        async with sessions() as session, session.begin():
            again = await session.scalar(select(ExceptionRow).where(ExceptionRow.id == row.id))
            assert again is not None
            again.resolved_at = ANCHOR - timedelta(days=400)  # before the records changed
        came_back = await detector.scan(now=now)
        async with sessions() as session:
            keys = sorted(
                await session.scalars(
                    select(ExceptionRow.dedupe_key).where(ExceptionRow.dedupe_key.startswith(key))
                )
            )
    assert sum(first.raised.values()) > 0
    assert sum(unchanged.raised.values()) == 0
    assert sum(came_back.raised.values()) == 1
    assert keys == [key, f"{key}#2"]


def test_a_line_price_case_and_the_total_it_moves_are_one_exception() -> None:
    order = storefront("30.00", [("SKU-1", 2, "10.00"), ("SKU-2", 1, "10.00")])
    later = AT + timedelta(days=1)
    repriced = [erp("SO-1", "32.00", "0", [("SKU-1", 2, "11.00"), ("SKU-2", 1, "10.00")])]
    truth = OrderTruth(OrderEvidence(order, sales_orders=repriced), AuthorityRules.load(), later)
    assert {f.field for f in truth.disagreements()} == {"totals.total", "lines[SKU-1].unitPrice"}
    (only,) = cases(truth)
    fact, raised = only
    assert fact.field == "lines[SKU-1].unitPrice"
    assert raised.details["lineNo"] == 1
    catalogue = ExceptionCatalogue.load()
    offered = catalogue.rule(raised.kind).applicable(raised.details)
    assert set(offered) == {"CONFIRM_ERP_PRICE", "ADJUST_ERP_PRICE", "RESYNC_ERP_RECORD"}


@pytest.mark.parametrize(
    ("erp_total", "offered"),
    [
        (
            "34.95",
            {"CREDIT_THE_DIFFERENCE", "RESYNC_ERP_RECORD"},
        ),  # shipping the site did not charge
        ("25.00", {"RESYNC_ERP_RECORD"}),  # a discount the ERP gave: nothing to credit
    ],
)
def test_a_total_only_case_offers_what_can_change_it(erp_total: str, offered: set[str]) -> None:
    order = storefront("30.00", [("SKU-1", 3, "10.00")])
    later = AT + timedelta(days=1)
    shipping = str(Decimal(erp_total) - Decimal("30.00"))
    sales = [erp("SO-1", erp_total, shipping, [("SKU-1", 3, "10.00")])]
    truth = OrderTruth(OrderEvidence(order, sales_orders=sales), AuthorityRules.load(), later)
    ((fact, raised),) = cases(truth)
    assert fact.field == "totals.total"
    rule = ExceptionCatalogue.load().rule(raised.kind)
    assert set(rule.applicable(raised.details)) == offered
    if "CREDIT_THE_DIFFERENCE" in offered:
        payload = rule.resolutions["CREDIT_THE_DIFFERENCE"].render(raised.details)
        assert payload["amount"] == "4.95"
        assert payload["salesOrderId"] == "SO-1"


@pytest.mark.parametrize(
    ("storefront_says", "wms_says", "told"),
    [
        ("unfulfilled", ["picked_up"], "picked_up"),
        ("unfulfilled", ["delivered"], "delivered"),
        ("unfulfilled", ["shipped", "packed"], "partial"),
        ("fulfilled", ["picking"], None),
        ("fulfilled", ["cancelled"], None),
    ],
)
def test_a_state_case_tells_the_storefront_the_wms_state_or_says_why_it_cannot(
    storefront_says: str, wms_says: list[str], told: str | None
) -> None:
    order = storefront("10.00", [("SKU-1", 1, "10.00")], fulfilment_status=storefront_says)
    wms = [
        Sourced("wms", wms_order(status, id=f"FO-{i}", orderRef="SF-7"))
        for i, status in enumerate(wms_says)
    ]
    later = AT + timedelta(days=1)
    truth = OrderTruth(OrderEvidence(order, fulfilment_orders=wms), AuthorityRules.load(), later)
    ((_, raised),) = [(f, r) for f, r in cases(truth) if f.field == "state"]
    rule = ExceptionCatalogue.load().rule(raised.kind)
    if told is None:
        assert "SYNC_FROM_WMS" not in rule.applicable(raised.details)
        with pytest.raises(PayloadNotApplicable, match="WMS"):
            rule.resolutions["SYNC_FROM_WMS"].render(raised.details)
    else:
        payload = rule.resolutions["SYNC_FROM_WMS"].render(raised.details)
        assert payload == {"orderId": "SF-7", "fulfilmentStatus": told}


def test_a_price_case_names_its_sku_whatever_characters_it_holds() -> None:
    order = storefront("20.00", [("SHIRT[M]-1", 2, "10.00")])
    sales = [erp("SO-1", "22.00", "0", [("SHIRT[M]-1", 2, "11.00")])]
    later = AT + timedelta(days=1)
    truth = OrderTruth(OrderEvidence(order, sales_orders=sales), AuthorityRules.load(), later)
    ((fact, raised),) = cases(truth)
    assert fact.field == "lines[SHIRT[M]-1].unitPrice"
    assert (raised.details["sku"], raised.details["lineNo"]) == ("SHIRT[M]-1", 1)
    offered = ExceptionCatalogue.load().rule(raised.kind).applicable(raised.details)
    assert {"CONFIRM_ERP_PRICE", "ADJUST_ERP_PRICE"} <= set(offered)


async def test_a_change_on_a_feed_is_checked_seconds_later_without_a_full_scan(
    clean_database: str,
) -> None:
    """The detector follows the change feeds: an ERP repricing a line of a clean order raises
    its PRICE_DISAGREEMENT from the next read of the feeds, which checks that order alone."""
    world = build_world(seed=11, orders=120, anchor=ANCHOR)
    planted = {p.order_ref for p in world.planted if p.order_ref}
    async with detecting(world, clean_database) as detector:
        async with detector.sessions() as session, session.begin():
            await session.execute(
                delete(SourceCursorRow).where(SourceCursorRow.feed == CHANGES_FEED)
            )
        now = datetime.now(UTC)
        await detector.follow_changes(now=now)  # the feeds' history, read once
        quiet = await detector.follow_changes(now=now)
        erp = detector.registry.erps[0]
        clean = next(o["id"] for o in world.storefront_orders if o["id"] not in planted)
        (sales_order,) = (await erp.sales_orders_by_order_ref([clean]))[clean][:1]
        line = sales_order.lines[0]
        receipt = await erp.client.command(
            "price.adjust",
            {
                "salesOrderId": sales_order.id,
                "lineNo": line.line_no,
                "unitPrice": str(line.unit_price + 7),
            },
            idempotency_key=f"test-follow-{sales_order.id}",
        )
        assert receipt.accepted, receipt
        later = now + timedelta(hours=2)  # past the price's grace
        followed = await detector.follow_changes(now=later)
        async with detector.sessions() as session:
            kinds = list(
                await session.scalars(
                    select(ExceptionRow.kind).where(
                        ExceptionRow.order_ref == clean,
                        # other modules' exceptions share the database (and order refs)
                        ExceptionRow.dedupe_key.like("disagreement:%"),
                    )
                )
            )
    assert quiet.orders == 0  # nothing changed: nothing checked
    assert followed.orders == 1
    assert kinds == ["PRICE_DISAGREEMENT"]


async def test_the_feeds_events_about_an_order_are_kept_once_for_its_timeline(
    clean_database: str,
) -> None:
    """Following the feeds keeps each storefront, ERP and WMS event about an order (for its
    timeline), the same ones the systems' feeds hold, once however often they are read."""
    world = build_world(seed=11, orders=60, anchor=ANCHOR)
    order = world.storefront_orders[0]["id"]
    no_cursor = delete(SourceCursorRow).where(SourceCursorRow.feed == CHANGES_FEED)
    async with detecting(world, clean_database) as detector:
        async with detector.sessions() as session, session.begin():
            await session.execute(no_cursor)
            await session.execute(delete(OrderChangeRow))
        now = datetime.now(UTC)
        await detector.follow_changes(now=now)
        # the feeds read again from their start (a lost cursor): nothing is kept twice
        async with detector.sessions() as session, session.begin():
            await session.execute(no_cursor)
        await detector.follow_changes(now=now)
        expected = {
            (system, e["id"], e["type"], datetime.fromisoformat(e["occurredAt"]))
            for system, e in await feed_events_about(detector.registry, order)
            if e["recordType"] != "inventory_movement"
        }
        async with detector.sessions() as session:
            kept = [
                (r.source, r.event_id, r.event_type, r.occurred_at)
                for r in await session.scalars(
                    select(OrderChangeRow).where(OrderChangeRow.order_ref == order)
                )
            ]
    assert len(kept) == len(set(kept))
    assert set(kept) == expected
    assert {source for source, *_ in kept} >= {"web-store", "erp", "wms"}
