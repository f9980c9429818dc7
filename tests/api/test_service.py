"""The service surface: GraphiQL, the examples, caching, the checked-in SDL."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import OperationType, parse, validate

from omnigraph.api.export import stale_schema_files
from omnigraph.api.schema import build_schema
from omnigraph.app import EXAMPLES
from omnigraph.demo import DemoSystems
from omnigraph.graph.overrides import graphql_schema
from tests.conftest import Graph, Sources, running_app


async def test_graphiql_is_served_in_development(graph: Graph) -> None:
    response = await graph.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


@pytest.mark.usefixtures("ledger")
async def test_every_example_runs_without_errors(graph: Graph) -> None:
    names = (await graph.client.get("/examples")).json()
    assert len(names) == len(list(EXAMPLES.glob("*.graphql"))) >= 4
    schema = graphql_schema(build_schema())
    for name in names:
        text = (await graph.client.get(f"/examples/{name}")).text
        document = parse(text)
        assert validate(schema, document) == [], name
        if any(
            getattr(d, "operation", None) is not OperationType.QUERY for d in document.definitions
        ):
            continue  # mutations change state: validated above, exercised by their own tests
        body = await graph.query(text)
        assert "errors" not in body, (name, body.get("errors"))
        assert any(value for value in body["data"].values()), name


async def test_an_unknown_example_is_a_coded_404(graph: Graph) -> None:
    response = await graph.client.get("/examples/no-such-example")
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_ttl_cache_spares_the_sources_a_second_time(
    demo: DemoSystems, clean_database: str, sources: Sources
) -> None:
    query = "{ orders(first: 20) { edges { node { state totals { total { amount } } } } } }"
    async for _, graph in running_app(demo, clean_database, cache_ttl_seconds=60):
        await graph.query(query)
        await sources.reset()
        body = await graph.query(query)
        assert "errors" not in body
        counts = await sources.totals()
    # the listing itself is always fresh; the records behind it come from the cache
    assert counts == {"storefront": 1, "erp": 0, "wms": 0, "payments": 0}


def test_checked_in_schema_matches_the_code(repo_root: Path) -> None:
    assert stale_schema_files(repo_root / "schema") == [], "run `omnigraph export-schema`"


async def test_json_in_and_out_means_what_it_meant(graph: Graph) -> None:
    """Bodies are read and answers written with orjson; what it refuses reads as before."""
    body = await graph.query('{ orderByRef(source: "web-store", ref: "no-such-\u00e9") { id } }')
    assert body == {"data": {"orderByRef": None}}
    # an integer past 64 bits (orjson refuses it): GraphQL's own refusal, not an unreadable body
    huge = '{"query": "query($n: Int) { orders(first: $n) { edges { cursor } } }",' + (
        ' "variables": {"n": 123456789012345678901234567890}}'
    )
    response = await graph.client.post(
        "/graphql", content=huge, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert "$n" in error["message"]
    assert "Int" in error["message"]
    unreadable = await graph.client.post(
        "/graphql", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert unreadable.status_code == 400
