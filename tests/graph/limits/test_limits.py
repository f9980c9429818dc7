"""Token, depth and alias limits, batches, body size and the execution timeout, as a client
meets them: each refusal has its code (and HTTP status where it happens before GraphQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from graphql import get_introspection_query

from omnigraph.core.ids import encode_global_id
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.settings import QueryLimits
from tests.conftest import Graph
from tests.security.conftest import serve


@pytest.fixture(scope="module")
async def tight(demo: DemoSystems, clean_database: str) -> AsyncIterator[httpx.AsyncClient]:
    """A development service with every limit turned down."""
    async for _, client in serve(
        demo,
        clean_database,
        limits=QueryLimits(
            max_tokens=60, max_depth=2, max_aliases=2, max_batch_operations=2, max_body_bytes=2048
        ),
    ):
        yield client


def codes(body: dict[str, object]) -> list[object]:
    errors = body.get("errors") or []
    assert isinstance(errors, list)
    return [error["extensions"]["code"] for error in errors]


async def test_a_document_over_the_token_limit_is_refused(tight: httpx.AsyncClient) -> None:
    fields = " ".join(["__typename"] * 70)
    body = (await tight.post("/graphql", json={"query": f"{{ {fields} }}"})).json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "TOO_MANY_TOKENS", "maxTokens": 60}


async def test_queries_deeper_than_the_limit_are_refused(tight: httpx.AsyncClient) -> None:
    deep = '{ orderByRef(source: "web-store", ref: "x") { lines { provenance { source } } } }'
    shallow = '{ orderByRef(source: "web-store", ref: "x") { lines { sku } } }'
    refused = (await tight.post("/graphql", json={"query": deep})).json()
    assert codes(refused) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "exceeds maximum operation depth of 2" in refused["errors"][0]["message"]
    assert "errors" not in (await tight.post("/graphql", json={"query": shallow})).json()


async def test_more_aliases_than_the_limit_are_refused(tight: httpx.AsyncClient) -> None:
    body = (
        await tight.post(
            "/graphql", json={"query": "{ a: __typename b: __typename c: __typename }"}
        )
    ).json()
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "aliases" in body["errors"][0]["message"]


async def test_a_batch_runs_each_operation_up_to_the_cap(tight: httpx.AsyncClient) -> None:
    two = [{"query": "{ __typename }"}, {"query": "{ nope }"}]
    response = await tight.post("/graphql", json=two)
    assert response.status_code == 200
    first, second = response.json()
    assert first == {"data": {"__typename": "Query"}}
    assert codes(second) == ["GRAPHQL_VALIDATION_FAILED"]

    three = await tight.post("/graphql", json=[{"query": "{ __typename }"}] * 3)
    assert three.status_code == 400
    assert three.json()["errors"][0]["extensions"] == {
        "code": "TOO_MANY_OPERATIONS",
        "maxOperations": 2,
    }


async def test_a_body_over_the_cap_is_refused_with_413(tight: httpx.AsyncClient) -> None:
    padding = "#" + "x" * 3000 + "\n{ __typename }"
    declared = await tight.post("/graphql", json={"query": padding})
    assert declared.status_code == 413
    assert declared.json()["errors"][0]["extensions"] == {
        "code": "REQUEST_TOO_LARGE",
        "maxBytes": 2048,
    }

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"query": "#'
        for _ in range(4):
            yield b"x" * 1000
        yield b'\\n{ __typename }"}'

    streamed = await tight.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert streamed.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"


async def test_strawberry_refusals_are_coded_json(tight: httpx.AsyncClient) -> None:
    response = await tight.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_an_operation_past_the_execution_timeout_answers_timeout(
    demo: DemoSystems, clean_database: str, world: DemoWorld
) -> None:
    never = asyncio.Event()

    async def silent_wms(request: httpx.Request) -> httpx.Response:
        await never.wait()  # the warehouse never answers
        raise AssertionError("unreachable")

    order = next(o for o in world.storefront_orders if o["channel"] == "web")
    query = "query($id: ID!) { order(id: $id) { name shipments { id } } }"
    variables = {"id": encode_global_id("Order", "web-store", order["id"])}
    async for _, client in serve(
        demo,
        clean_database,
        transports={"wms": httpx.MockTransport(silent_wms)},
        limits=QueryLimits(execution_timeout_seconds=0.2),
    ):
        response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "TIMEOUT"
    assert error["extensions"]["timeoutSeconds"] == 0.2
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]


async def test_development_defaults_leave_graphiql_alone(graph: Graph) -> None:
    """GraphiQL's introspection query passes every default limit in development."""
    body = await graph.query(get_introspection_query())
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
