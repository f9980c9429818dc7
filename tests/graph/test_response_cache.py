"""The response cache: a trusted document's answer is served again, for a moment, only to the
same caller with the same variables, never with an error in it, and never after a change this
process heard of. Counted in upstream calls: a served answer asks no source anything."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from omnigraph.api.schema import build_schema
from omnigraph.app import EXAMPLES, OmnigraphGraphQL
from omnigraph.core.ids import encode_global_id
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.intake import take_in
from omnigraph.graph.overrides import graphql_schema
from omnigraph.graph.response_cache import ResponseCache
from omnigraph.inventory.live import AvailabilityBus
from omnigraph.runtime.services import Services
from omnigraph.security.document_manifest import read_operations
from omnigraph.security.document_store import OperationDocument, register_documents
from omnigraph.security.principal import Role
from tests.clocks import SecondsClock
from tests.conftest import Sources, issue_key, services_of
from tests.helpers import short_pick
from tests.security.conftest import serve
from tests.security.test_trusted_documents import persisted


def registered(name: str) -> OperationDocument:
    (document,) = read_operations(EXAMPLES / f"{name}.graphql", graphql_schema(build_schema()))
    return document


LOOKUP = registered("support-order-lookup")
PAGE = registered("reporting-orders-page")


class Caching:
    """A production service with the response cache on and every record cache off, so any
    executed request asks its sources."""

    def __init__(self, app: Starlette, client: httpx.AsyncClient, sources: Sources) -> None:
        self.app = app
        self.client = client
        self.sources = sources

    @property
    def services(self) -> Services:
        return services_of(self.app)

    async def key(self, *roles: Role) -> str:
        issued = await issue_key(self.app, *roles, name=f"cache-test-{uuid.uuid4()}")
        return issued.secret

    async def ask(self, body: dict[str, Any], secret: str) -> tuple[dict[str, Any], dict[str, int]]:
        """The answer, and the upstream calls it cost per source kind."""
        await self.sources.reset()
        response = await self.client.post(
            "/graphql", json=body, headers={"Authorization": f"Bearer {secret}"}
        )
        assert response.status_code == 200, response.text
        totals = await self.sources.totals()
        return response.json(), totals


@pytest.fixture(scope="module")
async def caching(
    demo: DemoSystems, clean_database: str, sources: Sources
) -> AsyncIterator[Caching]:
    async for app, client in serve(
        demo, clean_database, mode="production", response_cache_seconds=60
    ):
        services = services_of(app)
        await register_documents(services.sessions, [LOOKUP, PAGE], now=datetime.now(UTC))
        yield Caching(app, client, sources)


def lookup(ref: str) -> dict[str, Any]:
    return persisted(LOOKUP.sha256, variables={"source": "web-store", "ref": ref})


def some_ref(world: DemoWorld, index: int = 0) -> str:
    ref: str = world.storefront_orders[index]["id"]
    return ref


def no_calls(calls: dict[str, int]) -> bool:
    return sum(calls.values()) == 0


async def test_a_trusted_lookup_is_served_again_without_asking_any_source(
    caching: Caching, world: DemoWorld
) -> None:
    secret = await caching.key(Role.SUPPORT)
    body = lookup(some_ref(world, 1))
    first, cost = await caching.ask(body, secret)
    assert "errors" not in first, first.get("errors")
    assert cost["storefront"] >= 1
    assert cost["erp"] >= 1
    again, cost = await caching.ask(body, secret)
    assert again == first
    assert no_calls(cost)


async def test_a_fresh_answer_is_sent_as_first_sent_without_parsing_or_executing(
    caching: Caching, world: DemoWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh kept answer goes out from the view before the request is parsed: the same bytes
    and media type as the executed answer, whether the request names its operation or not,
    in either JSON media type, and nothing of GraphQL runs for it."""
    secret = await caching.key(Role.SUPPORT)
    headers = {"Authorization": f"Bearer {secret}"}
    body = lookup(some_ref(world, 6))
    executed = await caching.client.post("/graphql", json=body, headers=headers)
    assert "errors" not in executed.json()

    async def never(*_: object, **__: object) -> None:
        raise AssertionError("a fresh kept answer was parsed or executed")

    monkeypatch.setattr(OmnigraphGraphQL, "run", never)
    named = {**body, "operationName": "SupportOrderLookup"}
    for again in (body, named):
        await caching.sources.reset()
        kept = await caching.client.post("/graphql", json=again, headers=headers)
        assert kept.status_code == 200
        assert kept.content == executed.content
        assert kept.headers["content-type"] == executed.headers["content-type"]
        assert no_calls(await caching.sources.totals())
    graphql_response = {**headers, "Accept": "application/graphql-response+json"}
    kept = await caching.client.post("/graphql", json=body, headers=graphql_response)
    assert kept.content == executed.content
    assert kept.headers["content-type"] == "application/graphql-response+json; charset=utf-8"


async def test_a_kept_answer_never_reaches_a_caller_without_its_roles(
    caching: Caching, world: DemoWorld
) -> None:
    support, finance = await caching.key(Role.SUPPORT), await caching.key(Role.FINANCE)
    body = lookup(some_ref(world, 7))
    for _ in range(2):  # kept, and served fresh to the support key
        mine, _ = await caching.ask(body, support)
    assert mine["data"]["orderByRef"]["customer"]["email"]
    for _ in range(2):  # the finance key executes its own, and is served that
        theirs, _ = await caching.ask(body, finance)
        assert theirs["data"]["orderByRef"]["customer"]["email"] is None


async def test_metrics_count_hits_and_misses(caching: Caching, world: DemoWorld) -> None:
    def counts(text: str) -> dict[str, float]:
        found = {}
        for line in text.splitlines():
            if line.startswith(
                ("omnigraph_response_cache_lookups_total", "omnigraph_response_cache_entries")
            ):
                name, value = line.rsplit(" ", 1)
                found[name] = float(value)
        return found

    before = counts((await caching.client.get("/metrics")).text)
    secret = await caching.key(Role.SUPPORT)
    body = lookup(some_ref(world, 10))
    for _ in range(3):
        await caching.ask(body, secret)
    after = counts((await caching.client.get("/metrics")).text)
    hit = 'omnigraph_response_cache_lookups_total{result="hit"}'
    miss = 'omnigraph_response_cache_lookups_total{result="miss"}'
    assert after[miss] - before[miss] == 1
    assert after[hit] - before[hit] == 2
    assert after["omnigraph_response_cache_entries"] >= 1


async def test_text_and_learnt_hashes_always_execute(caching: Caching, world: DemoWorld) -> None:
    secret = await caching.key(Role.SUPPORT)
    variables = {"source": "web-store", "ref": some_ref(world, 2)}
    as_text = {"query": LOOKUP.document, "variables": variables}
    learnt_text = "# learnt by APQ, not registered\n" + LOOKUP.document
    from omnigraph.security.document_store import document_hash

    learnt = persisted(document_hash(learnt_text), learnt_text, variables=variables)
    for body in (as_text, as_text, learnt, learnt):
        answer, cost = await caching.ask(body, secret)
        assert "errors" not in answer, answer.get("errors")
        assert cost["storefront"] >= 1


async def test_callers_never_share_an_answer(caching: Caching, world: DemoWorld) -> None:
    support, other_support, finance = (
        await caching.key(Role.SUPPORT),
        await caching.key(Role.SUPPORT),
        await caching.key(Role.FINANCE),
    )
    body = lookup(some_ref(world, 3))
    mine, _ = await caching.ask(body, support)
    theirs, cost = await caching.ask(body, other_support)
    assert cost["storefront"] >= 1  # another key: executed for it
    assert theirs == mine
    limited, cost = await caching.ask(body, finance)
    assert cost["storefront"] >= 1
    # finance may not read the customer's email: its own answer, refused there
    assert limited["data"]["orderByRef"]["customer"]["email"] is None
    assert mine["data"]["orderByRef"]["customer"]["email"]


async def test_variables_are_part_of_the_key(caching: Caching, world: DemoWorld) -> None:
    secret = await caching.key(Role.SUPPORT)
    first, _ = await caching.ask(lookup(some_ref(world, 4)), secret)
    second, cost = await caching.ask(lookup(some_ref(world, 5)), secret)
    assert cost["storefront"] >= 1
    assert first["data"]["orderByRef"]["name"] != second["data"]["orderByRef"]["name"]


async def test_any_change_heard_of_forgets_every_answer(caching: Caching, world: DemoWorld) -> None:
    secret = await caching.key(Role.SUPPORT)
    body = lookup(some_ref(world, 6))
    await caching.ask(body, secret)
    assert no_calls((await caching.ask(body, secret))[1])

    mutation = 'mutation { acknowledgeException(id: "RXhjZXB0aW9uOjA=") { exception { id } } }'
    await caching.ask({"query": mutation}, secret)  # a mutation, whatever its outcome
    assert not no_calls((await caching.ask(body, secret))[1])
    assert no_calls((await caching.ask(body, secret))[1])

    caching.services.get(AvailabilityBus).publish([("SKU-0001", "dc-north")])
    assert not no_calls((await caching.ask(body, secret))[1])

    ref = some_ref(world, 6)  # a worker takes in an exception about the order: an event
    await take_in(
        caching.services.sessions,
        caching.services.get(ExceptionCatalogue),
        short_pick(ref, dedupe_key=f"cache:{uuid.uuid4()}"),
    )
    fresh, cost = await caching.ask(body, secret)
    assert not no_calls(cost)
    assert "SHORT_PICK" in {e["kind"] for e in fresh["data"]["orderByRef"]["exceptions"]}

    assert no_calls((await caching.ask(body, secret))[1])
    forged = await caching.client.post("/webhooks/shopify", content=b"{}")
    assert forged.status_code >= 400  # refused: it changes nothing, so it forgets nothing
    assert no_calls((await caching.ask(body, secret))[1])


async def test_an_answer_with_errors_is_not_kept(
    caching: Caching, world: DemoWorld, sources: Sources
) -> None:
    secret = await caching.key(Role.SUPPORT)
    body = lookup(some_ref(world, 7))
    async with sources.down("wms"):
        degraded, _ = await caching.ask(body, secret)
    assert {e["extensions"]["code"] for e in degraded["errors"]} == {"UPSTREAM_UNAVAILABLE"}
    whole, cost = await caching.ask(body, secret)
    assert "errors" not in whole, whole.get("errors")
    assert cost["wms"] >= 1


async def test_the_orders_listing_is_never_cached(caching: Caching) -> None:
    secret = await caching.key(Role.REPORTING)
    for _ in range(2):
        page, cost = await caching.ask(persisted(PAGE.sha256), secret)
        assert len(page["data"]["orders"]["edges"]) == 100
        assert cost["storefront"] >= 1  # fresh by contract


async def test_off_unless_the_operator_turns_it_on(
    demo: DemoSystems, clean_database: str, sources: Sources, world: DemoWorld
) -> None:
    async for app, client in serve(demo, clean_database, mode="production"):
        services = services_of(app)
        await register_documents(services.sessions, [LOOKUP], now=datetime.now(UTC))
        off = Caching(app, client, sources)
        secret = await off.key(Role.SUPPORT)
        for _ in range(2):
            _, cost = await off.ask(lookup(some_ref(world, 8)), secret)
            assert cost["storefront"] >= 1


KEY = ("a" * 64, "Lookup", b"{}", "api_key:k", ("support",), None)


async def test_an_answer_is_fresh_for_its_seconds_then_served_only_while_remade() -> None:
    clock = SecondsClock()
    cache = ResponseCache(2.0, max_entries=100, clock=clock)
    first = cache.lookup(KEY)
    assert first.refresh  # nothing kept: this request makes it
    waiting = cache.lookup(KEY)
    assert waiting.making is not None  # a second request waits for the first
    assert not waiting.refresh
    cache.made(KEY, {"order": 1}, cache.generation)
    assert await waiting.making == {"order": 1}

    # the view sends the same answers as bytes before parsing (fresh_answer), by the same rules
    clock.now = 1.9
    assert cache.lookup(KEY).data == {"order": 1}  # fresh
    assert cache.fresh_answer(KEY) == b'{"data":{"order":1}}'
    clock.now = 2.5
    assert cache.fresh_answer(KEY) is None  # expired, and nobody remaking it: go execute
    remaking = cache.lookup(KEY)
    assert remaking.refresh  # expired: the next request makes it again
    assert remaking.data is None
    meanwhile = cache.lookup(KEY)
    assert meanwhile.data == {"order": 1}  # the others are served the expiring answer
    assert cache.fresh_answer(KEY) == b'{"data":{"order":1}}'
    cache.made(KEY, {"order": 2}, cache.generation)
    assert cache.lookup(KEY).data == {"order": 2}
    assert cache.fresh_answer(KEY) == b'{"data":{"order":2}}'

    clock.now = 6.6  # past twice its seconds: never served, even while remade
    assert cache.fresh_answer(KEY) is None
    assert cache.lookup(KEY).refresh
    assert cache.lookup(KEY).data is None
    assert cache.fresh_answer(KEY) is None
    cache.made(KEY, {"order": 3}, cache.generation)
    cache.invalidate()
    assert cache.fresh_answer(KEY) is None  # a change forgets the bytes too


async def test_an_answer_begun_before_a_change_is_not_kept() -> None:
    cache = ResponseCache(2.0, max_entries=100, clock=SecondsClock())
    assert cache.lookup(KEY).refresh
    waiting = cache.lookup(KEY)
    began = cache.generation
    cache.invalidate()  # a change while the answer was being made
    cache.made(KEY, {"order": 1}, began)
    assert waiting.making is not None
    assert await waiting.making is None  # the waiter executes for itself
    assert cache.lookup(KEY).refresh  # and nothing was kept
    cache.made(KEY, None, cache.generation)  # an answer with errors: nothing kept
    assert cache.lookup(KEY).refresh


async def test_many_requests_on_an_expired_or_forgotten_answer_execute_it_once(
    caching: Caching, world: DemoWorld
) -> None:
    clock = SecondsClock()
    caching.app.state.response_cache.clock = clock
    secret = await caching.key(Role.SUPPORT)
    body = lookup(some_ref(world, 9))
    await caching.ask(body, secret)
    for change in ("expiry", "invalidation"):
        if change == "expiry":
            clock.now += 61  # the fixture keeps answers 60 s
        else:
            caching.app.state.response_cache.invalidate()
        await caching.sources.reset()
        headers = {"Authorization": f"Bearer {secret}"}
        answers = await asyncio.gather(
            *(caching.client.post("/graphql", json=body, headers=headers) for _ in range(4))
        )
        assert {a.status_code for a in answers} == {200}
        assert len({a.text for a in answers}) == 1
        calls = await caching.sources.totals()
        assert calls["storefront"] == 1, change  # one execution for the four


async def test_a_change_on_another_replica_is_forgotten_within_a_poll(
    caching: Caching, demo: DemoSystems, clean_database: str, world: DemoWorld
) -> None:
    secret = await caching.key(Role.SUPPORT)
    body = lookup(some_ref(world, 11))
    await caching.ask(body, secret)
    assert no_calls((await caching.ask(body, secret))[1])
    kept = caching.app.state.response_cache.generation
    # another replica of the same database (no Redis) takes in an exception about the order
    async for other, _ in serve(demo, clean_database, mode="production"):
        services = services_of(other)
        ref = some_ref(world, 11)
        row, _ = await take_in(
            services.sessions,
            services.get(ExceptionCatalogue),
            short_pick(ref, dedupe_key=f"replica:{uuid.uuid4()}", summary="short on a replica"),
        )
    for _ in range(40):  # the exception bus polls the database every 0.25 s without Redis
        if caching.app.state.response_cache.generation > kept:
            break
        await asyncio.sleep(0.1)
    fresh, cost = await caching.ask(body, secret)
    assert not no_calls(cost)
    seen = {e["id"] for e in fresh["data"]["orderByRef"]["exceptions"]}
    assert encode_global_id("Exception", row.id) in seen
