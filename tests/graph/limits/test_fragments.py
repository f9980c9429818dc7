"""Fragments spread many times: counted with their multiplicity, in work linear in the document.

The attack of issue 18: each fragment spreads the previous one twice, so 40 fragments (1.7 KB)
expand to 2^40 copies of the first. Every limit must count that expansion (a cost or a field
count of 2^40 times the first fragment's) without doing it, so each check is bounded here by a
budget of Python calls, not by the clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, Visitor, parse, visit

from omnigraph.api.schema import build_schema
from omnigraph.demo import DemoSystems
from omnigraph.graph.limits.cost import count_operation, operation_cost
from omnigraph.graph.limits.shape import CEILING, document_shape
from omnigraph.graph.overrides import graphql_schema
from omnigraph.settings import QueryLimits
from tests.graph.limits.budget import call_budget
from tests.security.conftest import serve

SCHEMA = graphql_schema(build_schema())
LEVELS = 40
PAGE = "orders(first: 3) { pageInfo { hasNextPage } edges { cursor } }"
# the first fragment's own figures, counted without any fragment: 5 fields, and the cost of a
# page of 3 orders
PAGE_FIELDS = 5
PAGE_COST = operation_cost(SCHEMA, parse(f"{{ {PAGE} }}"))


def doubling(levels: int, base: str = PAGE) -> str:
    """``F0`` selects ``base``; each ``Fi`` spreads ``F(i-1)`` twice; the operation ``FN``."""
    fragments = [f"fragment F0 on Query {{ {base} }}"]
    for i in range(1, levels + 1):
        fragments.append(f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}")
    return f"query Fanout {{ ...F{levels} }}\n" + "\n".join(fragments)


def selections(query: str) -> int:
    """The fields, inline fragments and spreads written in ``query``."""

    class Count(Visitor):
        seen = 0

        def enter(self, node: object, *_: object) -> None:
            if isinstance(node, FieldNode | InlineFragmentNode | FragmentSpreadNode):
                Count.seen += 1

    visit(parse(query), Count())
    return Count.seen


def test_the_page_alone_costs_what_the_model_says() -> None:
    assert PAGE_COST == 1 + 3 * ((1 + 1) + (1 + 1))  # orders, 3 x (pageInfo, edges)


def test_a_fragment_spread_twice_per_level_counts_twice_in_linear_work() -> None:
    query = doubling(LEVELS)
    document = parse(query)
    with call_budget(200_000):
        shape = document_shape(document)
        count = count_operation(SCHEMA, document)
    assert shape.operation("Fanout").fields == PAGE_FIELDS * 2**LEVELS
    assert shape.operation("Fanout").depth == 2
    assert count.cost == PAGE_COST * 2**LEVELS
    # each selection of the document visited once (the cost: once inside a page, once outside)
    assert shape.visits == selections(query)
    assert count.visits <= 2 * selections(query)


def test_counts_past_2_to_the_53_stay_there() -> None:
    document = parse(doubling(60))
    assert document_shape(document).fields == CEILING
    assert count_operation(SCHEMA, document).cost == CEILING


def test_cycles_and_unknown_fragments_end() -> None:
    cycle = parse(
        "query Q { ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A }"
    )
    assert document_shape(cycle).operation("Q").fields == 1
    assert count_operation(SCHEMA, cycle).cost == 0
    unknown = parse("query Q { orders(first: 1) { ...Nope } }")
    assert document_shape(unknown).operation("Q").fields == 1


@pytest.fixture(scope="module")
async def service(demo: DemoSystems, clean_database: str) -> AsyncIterator[httpx.AsyncClient]:
    """The default limits."""
    async for _, client in serve(demo, clean_database):
        yield client


@pytest.fixture(scope="module")
async def roomy(demo: DemoSystems, clean_database: str) -> AsyncIterator[httpx.AsyncClient]:
    """No node limit to speak of, so the other limits meet the expansion; a depth of 2."""
    limits = QueryLimits(max_nodes=CEILING, max_depth=2)
    async for _, client in serve(demo, clean_database, limits=limits):
        yield client


def errors(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    found: list[dict[str, Any]] = body["errors"]
    return found


@pytest.mark.parametrize(
    ("client", "refusal"),
    [
        (
            "service",
            {
                "code": "TOO_MANY_NODES",
                "nodes": PAGE_FIELDS * 2**LEVELS,
                "maxNodes": QueryLimits().max_nodes,
            },
        ),
        (
            "roomy",  # past the node limit, the cost limit
            {
                "code": "QUERY_TOO_COSTLY",
                "cost": PAGE_COST * 2**LEVELS,
                "maxCost": QueryLimits().max_cost,
            },
        ),
    ],
    ids=["nodes", "cost-past-the-node-limit"],
)
async def test_the_doubling_document_is_refused_counting_its_expansion_at_once(
    service: httpx.AsyncClient, roomy: httpx.AsyncClient, client: str, refusal: dict[str, Any]
) -> None:
    limited = {"service": service, "roomy": roomy}[client]
    with call_budget(1_000_000):
        response = await limited.post("/graphql", json={"query": doubling(LEVELS)})
    (error,) = errors(response)
    assert error["extensions"] == refusal


async def test_aliases_and_depth_are_counted_through_the_expansion_at_once(
    roomy: httpx.AsyncClient,
) -> None:
    with call_budget(1_000_000):
        aliased = await roomy.post("/graphql", json={"query": doubling(LEVELS, "a: __typename")})
        deep = await roomy.post(
            "/graphql",
            json={"query": doubling(LEVELS, 'orderByRef(source: "s", ref: "r") { lines { sku } }')},
        )
        deeper = await roomy.post(
            "/graphql",
            json={
                "query": doubling(
                    LEVELS, 'orderByRef(source: "s", ref: "r") { lines { provenance { source } } }'
                )
            },
        )
    assert [e["message"] for e in errors(aliased)] == [
        f"{2**LEVELS} aliases found. Allowed: {QueryLimits().max_aliases}"
    ]
    # two deep: within the depth limit, but its fields are far past the cost limit
    assert [e["extensions"]["code"] for e in errors(deep)] == ["QUERY_TOO_COSTLY"]
    assert [e["message"] for e in errors(deeper)] == [
        "'Fanout' exceeds maximum operation depth of 2"
    ]


async def test_a_fragment_cycle_is_refused_as_graphql_refuses_it(
    service: httpx.AsyncClient,
) -> None:
    query = "query Q { ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A }"
    (error,) = errors(await service.post("/graphql", json={"query": query}))
    assert error["message"] == "Cannot spread fragment 'A' within itself via 'B'."
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
