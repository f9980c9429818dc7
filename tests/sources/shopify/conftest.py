"""A Shopify shop at the edge: ``httpx.MockTransport`` answering the Admin GraphQL API with
recorded payloads, every call kept; sleep and clock injected so throttling never waits."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.shopify import FakeShopify, shopify_options

from omnigraph.settings import SourceConfig
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.client import ShopifyClient
from omnigraph.sources.shopify.queries import order_cost

FIXTURES = Path(__file__).with_name("fixtures")
TOKEN = "shpat_test_0123456789abcdef"
SECRET = "shopify-client-secret-for-tests"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Call:
    operation: str
    variables: dict[str, Any]
    request: httpx.Request


Responder = Callable[[Call], httpx.Response | dict[str, Any]]


@dataclass
class FakeShop:
    """Answers by operation name; ``script`` answers come first, in order, then ``routes``."""

    routes: dict[str, Responder] = field(default_factory=dict)
    script: list[httpx.Response | dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # calls and sleeps, in the order they happened

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        match = re.search(r"(?:query|mutation)\s+(\w+)", body["query"])
        assert match, body["query"]
        call = Call(match.group(1), body.get("variables") or {}, request)
        self.calls.append(call)
        self.log.append(f"call {call.operation}")
        answer = self.script.pop(0) if self.script else self.routes[call.operation](call)
        return answer if isinstance(answer, httpx.Response) else httpx.Response(200, json=answer)

    def of(self, operation: str) -> list[Call]:
        return [c for c in self.calls if c.operation == operation]


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self, shop: FakeShop) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.shop = shop

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.shop.log.append(f"sleep {round(seconds, 3)}")
        self.now += seconds


def orders_by_ids(call: Call) -> dict[str, Any]:
    """The recorded orders for the ids asked that it has, null for the others, in order."""
    recorded = {n["id"]: n for n in fixture("orders_by_ids.json")["data"]["nodes"] if n}
    answer = fixture("orders_by_ids.json")
    answer["data"]["nodes"] = [recorded.get(gid) for gid in call.variables["ids"]]
    answer["extensions"] = counted(call, len(call.variables["ids"]))
    return answer


def counted(call: Call, orders: int) -> dict[str, Any]:
    """The recording's extensions, with the requested cost Shopify counts for ``orders`` orders
    asked with the line items the document asks for (the recording asked 3 orders of 20)."""
    extensions: dict[str, Any] = fixture("orders_by_ids.json")["extensions"]
    asked = re.search(r"lineItems\(first: (\d+)\)", json.loads(call.request.content)["query"])
    line_items = int(asked.group(1)) if asked else 20
    extensions["cost"]["requestedQueryCost"] = orders * order_cost(line_items)
    return extensions


def synthetic_orders(call: Call) -> dict[str, Any]:
    """Any order asked for exists: the recorded pickup order under the id asked."""
    template = fixture("orders_by_ids.json")["data"]["nodes"][1]
    nodes = []
    for gid in call.variables["ids"]:
        node = copy.deepcopy(template)
        node["id"], node["legacyResourceId"] = gid, gid.rsplit("/", 1)[-1]
        nodes.append(node)
    return {"data": {"nodes": nodes}, "extensions": counted(call, len(nodes))}


@pytest.fixture
def shop() -> FakeShop:
    return FakeShop(
        routes={
            "OmnigraphOrdersByIds": orders_by_ids,
            "OmnigraphReturnsByIds": lambda call: fixture("returns_by_ids.json"),
        }
    )


@pytest.fixture
def fake_time(shop: FakeShop) -> FakeTime:
    return FakeTime(shop)


OPTIONS = {
    "order_id_prefix": "SF-",
    "location_map": {"61002": "store-london"},
    "channel_map": {"web": "web", "amazon-uk": "marketplace"},
}


@pytest.fixture
async def make_client(
    shop: FakeShop, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., ShopifyClient]]:
    made: list[ShopifyClient] = []
    monkeypatch.setenv("SHOPIFY_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("SHOPIFY_TEST_SECRET", SECRET)

    def make(*, options: dict[str, Any] | None = None, cache_ttl: float = 60) -> ShopifyClient:
        config = SourceConfig(
            name="shop",
            kind="storefront",  # type: ignore[arg-type]
            type="shopify",  # type: ignore[arg-type]
            base_url="https://omni-test.myshopify.com",  # type: ignore[arg-type]
            token_env="SHOPIFY_TEST_TOKEN",
            webhook_secret_env="SHOPIFY_TEST_SECRET",
            options=OPTIONS if options is None else options,
        )
        client = ShopifyClient(
            config,
            timeout_seconds=5,
            cache_ttl_seconds=cache_ttl,
            cache_max_entries=10_000,
            redis_key_prefix="omnigraph-test",
            transport=httpx.MockTransport(shop.handler),
            sleep=fake_time.sleep,
            clock=fake_time.clock,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.upstream.aclose()


@pytest.fixture
def adapter(make_client: Callable[..., ShopifyClient]) -> ShopifyStorefrontAdapter:
    return ShopifyStorefrontAdapter(make_client())


@pytest.fixture
async def client_over_fake(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Callable[..., ShopifyClient]]:
    """Uncached clients of a ``FakeShopify`` (``tests.fakes.shopify``) served in process, closed
    after the test. ``token`` is an Admin API token, given through the environment as a real
    shop's would be; other credentials come as source settings."""
    made: list[ShopifyClient] = []

    def build(
        fake: FakeShopify,
        *,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        **settings: Any,
    ) -> ShopifyClient:
        if token is not None:
            monkeypatch.setenv("OMNIGRAPH_TEST_FAKE_SHOP_TOKEN", token)
            settings["token_env"] = "OMNIGRAPH_TEST_FAKE_SHOP_TOKEN"
        config = SourceConfig.model_validate(
            {
                "name": "shop",
                "kind": "storefront",
                "type": "shopify",
                "base_url": "https://omni-retail.myshopify.com",
                "options": shopify_options(),
                **settings,
            }
        )
        client = ShopifyClient(
            config,
            timeout_seconds=5,
            cache_ttl_seconds=0,
            cache_max_entries=0,
            redis_key_prefix="omnigraph-test",
            transport=httpx.ASGITransport(app=fake.app),
            clock=clock,
        )
        made.append(client)
        return client

    yield build
    for client in made:
        await client.upstream.aclose()
