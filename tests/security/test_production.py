"""Production mode, one setting: no introspection, no field suggestions, no GraphiQL, and
unexpected errors masked with a request id that finds them in the logs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import structlog
from starlette.applications import Starlette
from structlog.testing import capture_logs
from typer.testing import CliRunner

from omnigraph.app import create_app
from omnigraph.cli import app as cli
from omnigraph.core.errors import ConfigurationError
from omnigraph.core.ids import encode_global_id
from omnigraph.demo import DemoWorld
from omnigraph.security.principal import Role
from tests.conftest import Graph, make_settings
from tests.security.conftest import production_service

INTROSPECTION = "{ __schema { queryType { name } } }"
TYPO = "{ ordrs(first: 1) { edges { node { id } } } }"


def crashing_wms(request: httpx.Request) -> httpx.Response:
    raise RuntimeError("secret internal detail")


production = production_service(Role.SUPPORT, transports={"wms": httpx.MockTransport(crashing_wms)})


async def test_introspection_is_off_in_production_only(
    production: tuple[Starlette, httpx.AsyncClient], graph: Graph
) -> None:
    _, client = production
    body = (await client.post("/graphql", json={"query": INTROSPECTION})).json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "introspection has been disabled" in body["errors"][0]["message"]
    # the federation gateway's way in stays open
    sdl = (await client.post("/graphql", json={"query": "{ _service { sdl } }"})).json()
    assert "type Query" in sdl["data"]["_service"]["sdl"]

    assert (await graph.query(INTROSPECTION))["data"]["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize(
    "query",
    [
        TYPO,
        "{ orders(frist: 1) { edges { node { id } } } }",
        "{ orders(filter: {states: [SHIPED]}) { edges { node { id } } } }",
        'query($x: Strin) { orderByRef(source: "a", ref: $x) { id } }',
    ],
)
async def test_production_suggests_no_field_names(
    production: tuple[Starlette, httpx.AsyncClient], graph: Graph, query: str
) -> None:
    _, client = production
    body = (await client.post("/graphql", json={"query": query})).json()
    messages = [error["message"] for error in body["errors"]]
    assert messages
    assert not any("Did you mean" in message for message in messages), messages
    development = await graph.query(query)
    assert any("Did you mean" in error["message"] for error in development["errors"])


async def test_an_unexpected_error_is_masked_with_the_request_id_of_its_log_line(
    production: tuple[Starlette, httpx.AsyncClient], world: DemoWorld
) -> None:
    _, client = production
    order = next(o for o in world.storefront_orders if o["channel"] == "web")
    query = "query($id: ID!) { order(id: $id) { name shipments { id } } }"
    variables = {"id": encode_global_id("Order", "web-store", order["id"])}
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    assert body["data"]["order"]["name"] == order["name"]
    (error,) = body["errors"]
    assert error["message"] == "Unexpected error."
    assert "secret" not in response.text
    request_id = response.headers["x-request-id"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    (logged,) = [line for line in logs if line["event"] == "graphql_unexpected_error"]
    assert logged["request_id"] == request_id
    assert "secret internal detail" in str(logged["exc_info"])


async def test_a_request_id_is_taken_from_the_client_or_made(
    production: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = production
    given = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Request-Id": "shop-42.a"}
    )
    assert given.headers["x-request-id"] == "shop-42.a"
    forged = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Request-Id": "a b\tc"}
    )
    assert forged.headers["x-request-id"] not in ("a b\tc", "")
    assert len(forged.headers["x-request-id"]) == 32


async def test_graphiql_and_get_queries_are_off_in_production(
    production: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = production
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert page.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    query = await client.get("/graphql", params={"query": "{ __typename }"})
    assert query.status_code == 400
    assert query.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_production_never_serves_invented_data_unless_asked(
    clean_database: str, tmp_path: Path
) -> None:
    """With no sources configured, development serves the demo systems; production refuses to
    start, in the app and on the command line, unless OMNIGRAPH_DEMO asks for the demo."""
    refused = create_app(make_settings(clean_database, mode="production"))
    with pytest.raises(ConfigurationError, match="OMNIGRAPH_DEMO"):
        async with refused.router.lifespan_context(refused):
            pass
    database = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    result = CliRunner().invoke(
        cli, ["serve"], env={"OMNIGRAPH_MODE": "production", "OMNIGRAPH_DATABASE_URL": database}
    )
    assert result.exit_code == 2
    assert "serves only configured sources" in result.output
    asked = create_app(make_settings(clean_database, mode="production", demo=True, demo_orders=40))
    async with asked.router.lifespan_context(asked):
        assert asked.state.services.registry.storefronts  # the demo systems stand in


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])
def test_development_mode_never_serves_beyond_this_machine(host: str, tmp_path: Path) -> None:
    """Development mode authenticates nobody, so it binds loopback only; the image's default
    is production."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'dev.sqlite3'}"
    result = CliRunner().invoke(
        cli,
        ["serve", "--host", host],
        env={"OMNIGRAPH_MODE": "development", "OMNIGRAPH_DATABASE_URL": database},
    )
    assert result.exit_code == 2
    assert "serves loopback only" in result.output
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    assert "OMNIGRAPH_MODE=production" in dockerfile
