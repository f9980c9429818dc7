"""The current disagreements the detector keeps, against the live truth of every order: after a
scan, ``currentDisagreements`` lists exactly what ``Order.disagreements`` answers for each order
of the demo world; an order whose systems agree again leaves the list at the next scan; and a
caller only sees (or filters by) disagreements on fields its roles may trace."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette

from omnigraph.app import create_app, demo_sources_config
from omnigraph.demo import DemoSystems, DemoWorld, build_world
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.graph.permissions import is_money_field
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.detector import DisagreementDetector
from omnigraph.security.principal import Role
from tests.conftest import ANCHOR, issue_key, make_settings, services_of, serving

NOW = ANCHOR + timedelta(hours=12)
CLAIM = "source value asOf"
KEPT = f"""query($after: String) {{ currentDisagreements(first: 100, after: $after) {{
  edges {{ node {{ orderSource orderRef field firstSeenAt lastSeenAt
    authoritative {{ {CLAIM} }} others {{ {CLAIM} }} }} }}
  pageInfo {{ hasNextPage endCursor }} }} }}"""
LIVE = f"""query($after: String, $filter: OrderFilter) {{
  orders(first: 25, after: $after, filter: $filter) {{
  edges {{ node {{ externalRefs {{ source ref }}
    disagreements {{ field authoritative {{ {CLAIM} }} others {{ {CLAIM} }} }} }} }}
  pageInfo {{ hasNextPage endCursor }} }} }}"""
Case = tuple[str, str, str, tuple[str, str, str], frozenset[tuple[str, str, str]]]


def _claim(claim: dict[str, Any]) -> tuple[str, str, str]:
    return claim["source"], claim["value"], claim["asOf"]


def _case(source: str, ref: str, d: dict[str, Any]) -> Case:
    others = frozenset(_claim(c) for c in d["others"])
    return source, ref, d["field"], _claim(d["authoritative"]), others


@contextlib.asynccontextmanager
async def served(
    demo: DemoSystems, database_url: str, clock: list[datetime]
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient, DisagreementDetector]]:
    """The service in production mode over ``demo`` at the instant ``clock[0]``, and a
    detector over the same systems and database (driven by the test, not in the background)."""
    app = create_app(
        make_settings(database_url, mode="production"),
        sources=demo_sources_config(demo.urls),
        clock=lambda: clock[0],
    )
    async with serving(app) as client:
        services = services_of(app)
        detector = DisagreementDetector(
            services.sessions, services.registry, AuthorityRules.load(), ExceptionCatalogue.load()
        )
        yield app, client, detector


class Caller:
    def __init__(self, client: httpx.AsyncClient, secret: str) -> None:
        self.client, self.secret = client, secret

    async def ask(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.secret}"},
        )
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def kept(self) -> set[Case]:
        """Every current disagreement, page after page."""
        found: set[Case] = set()
        after = None
        while True:
            page = (await self.ask(KEPT, after=after))["currentDisagreements"]
            for edge in page["edges"]:
                node = edge["node"]
                found.add(_case(node["orderSource"], node["orderRef"], node))
            if not page["pageInfo"]["hasNextPage"]:
                return found
            after = page["pageInfo"]["endCursor"]

    async def live(self, **filter: Any) -> dict[tuple[str, str], set[Case]]:
        """Each order's live disagreements, for the orders ``filter`` lets through."""
        found: dict[tuple[str, str], set[Case]] = {}
        after = None
        while True:
            page = (await self.ask(LIVE, after=after, filter=filter or None))["orders"]
            for edge in page["edges"]:
                node = edge["node"]
                ref = node["externalRefs"][0]
                key = (ref["source"], ref["ref"])
                found[key] = {_case(*key, d) for d in node["disagreements"]}
            if not page["pageInfo"]["hasNextPage"]:
                return found
            after = page["pageInfo"]["endCursor"]


async def callers(app: Starlette, client: httpx.AsyncClient) -> dict[Role, Caller]:
    found = {}
    for role in (Role.STOREFRONT, Role.SUPPORT, Role.FINANCE):
        key = await issue_key(
            app,
            role,
            name=f"kept-{role.value}",
            channel="web" if role is Role.STOREFRONT else None,
        )
        found[role] = Caller(client, key.secret)
    return found


def _money(case: Case) -> bool:
    return is_money_field(case[2])


async def test_after_a_scan_the_kept_disagreements_are_every_orders_live_ones(
    demo: DemoSystems, world: DemoWorld, clean_database: str
) -> None:
    async with served(demo, clean_database, [NOW]) as (app, client, detector):
        await detector.scan(now=NOW)
        by_role = await callers(app, client)
        support, finance, storefront = (
            by_role[r] for r in (Role.SUPPORT, Role.FINANCE, Role.STOREFRONT)
        )
        live = await support.live()  # every order of the world, as the truth rules serve it
        kept = await support.kept()
        disputed = await support.live(hasDisagreement=True)
        store_kept = await storefront.kept()
        store_disputed = await storefront.live(hasDisagreement=True)
        store_agreeing = await storefront.live(hasDisagreement=False)
        finance_kept = await finance.kept()
        finance_disputed = await finance.live(hasDisagreement=True)

    assert len(live) == len(world.storefront_orders)
    expected = set().union(*live.values())
    assert kept == expected
    assert {(c[0], c[1]) for c in kept} == set(disputed)
    assert {c[2] for c in kept} >= {"state", "totals.total"}
    assert all(c[3] and c[4] for c in kept)  # each names the served claim and the others
    # finance and operations (support) see every disagreement, money included
    assert finance_kept == kept
    assert set(finance_disputed) == set(disputed)
    # a storefront key: only what it may trace, in the listing and in the filter alike
    readable = {c for c in kept if not _money(c)}
    assert store_kept == readable
    assert set(store_disputed) == {(c[0], c[1]) for c in readable}
    money_only = set(disputed) - set(store_disputed)
    assert money_only  # the world has orders whose only disagreement is about money
    assert all(all(_money(c) for c in live[key]) for key in money_only)
    assert money_only <= set(store_agreeing)


async def test_an_order_whose_systems_agree_again_leaves_the_list_at_the_next_scan(
    clean_database: str,
) -> None:
    """A clean order repriced at the ERP is kept from the next scan on (first seen then, last
    seen at each later scan); priced back, the next scan removes it, as the live truth says."""
    world = build_world(seed=11, orders=60, anchor=ANCHOR)
    planted = {p.order_ref for p in world.planted if p.order_ref}
    start = datetime.now(UTC)  # the demo ERP stamps a repricing with the wall clock
    clock = [start]
    async with (
        DemoSystems(world) as demo,
        served(demo, clean_database, clock) as (app, client, detector),
    ):
        support = (await callers(app, client))[Role.SUPPORT]
        await detector.scan(now=clock[0])
        before = await support.kept()
        clean = next(o["id"] for o in world.storefront_orders if o["id"] not in planted)
        erp = detector.registry.erps[0]
        (sales_order,) = (await erp.sales_orders_by_order_ref([clean]))[clean][:1]
        line = sales_order.lines[0]

        async def price(unit_price: Any, attempt: str) -> None:
            receipt = await erp.client.command(
                "price.adjust",
                {
                    "salesOrderId": sales_order.id,
                    "lineNo": line.line_no,
                    "unitPrice": str(unit_price),
                },
                idempotency_key=f"test-kept-{sales_order.id}-{attempt}",
            )
            assert receipt.accepted, receipt

        await price(line.unit_price + 7, "up")
        clock[0] = seen = start + timedelta(hours=2)  # past the price's grace
        await detector.scan(now=seen)
        repriced = await support.kept()
        clock[0] = again = seen + timedelta(hours=1)
        await detector.scan(now=again)
        answer = await support.ask(KEPT, after=None)
        kept_times = {
            e["node"]["field"]: (e["node"]["firstSeenAt"], e["node"]["lastSeenAt"])
            for e in answer["currentDisagreements"]["edges"]
            if e["node"]["orderRef"] == clean
        }
        live_repriced = (await support.live())[("web-store", clean)]
        await price(line.unit_price, "back")
        clock[0] = later = again + timedelta(hours=2)
        await detector.scan(now=later)
        after = await support.kept()
        live_after = (await support.live())[("web-store", clean)]

    assert not any(c[1] == clean for c in before)
    added = {c for c in repriced if c[1] == clean}
    assert added == live_repriced
    assert {c[2] for c in added} == {f"lines[{line.sku}].unitPrice", "totals.total"}
    assert set(kept_times.values()) == {(seen.isoformat(), again.isoformat())}
    assert live_after == set()
    assert after == before
