"""The cost model, counted on the real schema, and QUERY_TOO_COSTLY over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query, parse

from omnigraph.api.schema import build_schema
from omnigraph.demo import DemoSystems
from omnigraph.graph.limits.cost import operation_cost
from omnigraph.graph.overrides import graphql_schema
from omnigraph.settings import QueryLimits
from tests.security.conftest import serve

SCHEMA = graphql_schema(build_schema())
LIMITS = QueryLimits(default_page_size=50, max_page_size=100, cost_list_size=10)


def cost(query: str, **variables: Any) -> int:
    return operation_cost(SCHEMA, parse(query), variables=variables, limits=LIMITS)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # each field 1
        ('{ orderByRef(source: "web-store", ref: "SF-1") { id name state } }', 4),
        # a connection multiplies its selection by `first`; `edges` is that page, not again
        ("{ orders(first: 2) { edges { node { id } } } }", 1 + 2 * 3),
        # `first` absent: the argument's default page (50)
        ("{ orders { edges { node { id } } } }", 1 + 50 * 3),
        # a list without `first` counts as the assumed list size (10)
        ("{ orders(first: 100) { edges { node { id lines { sku } } } } }", 1 + 100 * 14),
        # a list of scalars is one field
        ('{ orderByRef(source: "s", ref: "r") { lines { sku } } }', 1 + 1 + 10),
        # fragments count like the fields they hold
        (
            "{ orders(first: 2) { ...page } }"
            " fragment page on OrderConnection { edges { node { id } } }",
            1 + 2 * 3,
        ),
        # introspection costs nothing (and is off in production)
        ("{ __typename orders(first: 1) { __typename } }", 1),
        # a `first` beyond the page cap counts as the cap (the resolver refuses it anyway)
        ("{ orders(first: 100000) { edges { node { id } } } }", 1 + 100 * 3),
    ],
)
def test_the_documented_cost_model(query: str, expected: int) -> None:
    assert cost(query) == expected


def test_first_from_a_variable_or_its_default() -> None:
    query = "query($n: Int! = 5) { orders(first: $n) { edges { node { id } } } }"
    assert cost(query, n=20) == 1 + 20 * 3
    assert cost(query) == 1 + 5 * 3


def test_the_introspection_graphiql_sends_is_free() -> None:
    assert cost(get_introspection_query()) == 0


@pytest.fixture(scope="module")
async def service(demo: DemoSystems, clean_database: str) -> AsyncIterator[httpx.AsyncClient]:
    async for _, client in serve(demo, clean_database, limits=QueryLimits(max_cost=500)):
        yield client


async def test_an_operation_over_the_cost_limit_is_refused_with_its_cost(
    service: httpx.AsyncClient,
) -> None:
    costly = "{ orders(first: 100) { edges { node { id lines { sku } } } } }"
    response = await service.post("/graphql", json={"query": costly})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 1401, "maxCost": 500}

    cheap = "{ orders(first: 100) { edges { node { id } } } }"
    body = (await service.post("/graphql", json={"query": cheap})).json()
    assert "errors" not in body
    assert len(body["data"]["orders"]["edges"]) == 100


async def test_a_remembered_cost_follows_the_variables(service: httpx.AsyncClient) -> None:
    """The same document is costed again for another `first` (the verdict cache keys on it)."""
    query = "query($n: Int = 100) { orders(first: $n) { edges { node { id lines { sku } } } } }"
    # 10 -> 141, allowed; null -> the default page size (50): 701; absent -> the declared 100
    for variables, cost in (
        ({"n": 100}, 1401),
        ({"n": 10}, None),
        ({"n": 100}, 1401),
        ({"n": None}, 701),
        ({}, 1401),
        ({"n": 10}, None),
    ):
        sent = {"query": query, "variables": variables}
        body = (await service.post("/graphql", json=sent)).json()
        costs = [e["extensions"].get("cost") for e in body.get("errors") or []]
        assert costs == ([] if cost is None else [cost]), (variables, body)
