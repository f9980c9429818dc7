"""What a chunk of transactions is matched against: every charge's order from the storefront,
and from the ERP and the WMS only the orders refunds point at."""

from __future__ import annotations

from omnigraph.app import demo_sources_config
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.payouts.counterparts import fetch_counterparts
from omnigraph.sources.parsing import parse_record
from omnigraph.sources.records import BalanceTransaction
from omnigraph.sources.registry import SourceRegistry
from tests.conftest import make_settings


async def test_the_erp_and_the_wms_are_asked_only_about_refunded_orders(
    own_demo: DemoSystems, world: DemoWorld, clean_database: str
) -> None:
    registry = SourceRegistry(
        demo_sources_config(own_demo.urls), make_settings(clean_database, cache_ttl_seconds=0)
    )
    try:
        payments = registry.payments[0]
        transactions = [
            parse_record(payments.name, BalanceTransaction, raw)
            for raw in world.balance_transactions
        ]
        found = await fetch_counterparts(registry, payments, transactions)
        calls = {name: client.upstream.calls for name, client in registry.clients.items()}
    finally:
        await registry.aclose()
    refunded = {found.charges[charge].order_ref for charge in found.refund_charges.values()}
    charged = {charge.order_ref for charge in found.charges.values()}
    assert refunded
    assert refunded < charged
    assert set(found.sales_orders) == set(found.fulfilments) == refunded
    assert set(found.orders) <= charged
    assert len(found.orders) > len(refunded)
    # one batched call each, however many orders
    assert calls["erp"] == calls["wms"] == 1


async def test_the_money_each_order_recorded_is_what_the_whole_order_states(
    own_demo: DemoSystems, world: DemoWorld, clean_database: str
) -> None:
    """Reconciliation reads only the money of each storefront order: the same transactions, by
    the same ids, as the whole order carries."""
    registry = SourceRegistry(
        demo_sources_config(own_demo.urls), make_settings(clean_database, cache_ttl_seconds=0)
    )
    try:
        storefront = registry.storefronts[0]
        refs = [str(order["id"]) for order in world.storefront_orders[:50]] + ["SF-NONE"]
        whole = await storefront.orders_by_id(refs)
        money = await storefront.order_payments_by_id(refs)
    finally:
        await registry.aclose()
    assert set(money) == set(whole)
    assert "SF-NONE" not in money
    assert {ref: m.transactions for ref, m in money.items()} == {
        ref: order.transactions for ref, order in whole.items()
    }
    assert any(m.transactions for m in money.values())
