"""Trusted documents: automatic persisted queries (Apollo's protocol), the allow-list mode and
``omnigraph documents register``."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from typer.testing import CliRunner

from omnigraph.api.schema import build_schema
from omnigraph.app import EXAMPLES
from omnigraph.cli import app as cli
from omnigraph.demo import DemoSystems
from omnigraph.graph.overrides import graphql_schema
from omnigraph.runtime.services import Services
from omnigraph.security.document_manifest import read_operations
from omnigraph.security.document_store import document_hash, register_documents
from omnigraph.security.principal import Role
from tests.conftest import Graph, authorize
from tests.security.conftest import serve


def unique(query: str) -> str:
    """The same operation under a hash no other test has used (comments are part of the text)."""
    return f"# {uuid.uuid4()}\n{query}"


def persisted(sha256: str, query: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256}},
        **extra,
    }
    if query is not None:
        body["query"] = query
    return body


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/graphql", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def only_code(body: dict[str, Any]) -> str:
    (error,) = body["errors"]
    assert body.get("data") is None
    code: str = error["extensions"]["code"]
    return code


async def test_automatic_persisted_queries_follow_apollos_protocol(graph: Graph) -> None:
    query = unique("{ orders(first: 1) { edges { node { id } } } }")
    sha256 = document_hash(query)
    missing = await post(graph.client, persisted(sha256))
    assert only_code(missing) == "PERSISTED_QUERY_NOT_FOUND"
    assert missing["errors"][0]["message"] == "PersistedQueryNotFound"  # what Apollo links read

    registered = await post(graph.client, persisted(sha256, query))
    assert len(registered["data"]["orders"]["edges"]) == 1
    by_hash = await post(graph.client, persisted(sha256))
    assert by_hash == registered


async def test_a_hash_that_is_not_the_querys_is_refused(graph: Graph) -> None:
    query = unique("{ __typename }")
    body = await post(graph.client, persisted(document_hash(query + " "), query))
    assert only_code(body) == "PERSISTED_QUERY_HASH_MISMATCH"
    bad_version = await post(
        graph.client, {"query": query, "extensions": {"persistedQuery": {"version": 2}}}
    )
    assert only_code(bad_version) == "PERSISTED_QUERY_NOT_SUPPORTED"


async def test_a_document_that_did_not_run_is_not_remembered(graph: Graph) -> None:
    query = unique("{ nope }")
    sha256 = document_hash(query)
    invalid = await post(graph.client, persisted(sha256, query))
    assert only_code(invalid) == "GRAPHQL_VALIDATION_FAILED"
    assert only_code(await post(graph.client, persisted(sha256))) == "PERSISTED_QUERY_NOT_FOUND"


async def test_with_persisted_queries_off_a_bare_hash_is_not_supported(
    demo: DemoSystems, clean_database: str
) -> None:
    query = unique("{ __typename }")
    async for _, client in serve(demo, clean_database, trusted_documents="off"):
        bare = await post(client, persisted(document_hash(query)))
        assert only_code(bare) == "PERSISTED_QUERY_NOT_SUPPORTED"
        full = await post(client, persisted(document_hash(query), query))
        assert full == {"data": {"__typename": "Query"}}


@pytest.fixture(scope="module")
async def allowlist(
    demo: DemoSystems, clean_database: str
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    async for app, client in serve(
        demo, clean_database, mode="production", trusted_documents="allowlist"
    ):
        await authorize(app, client, Role.SUPPORT)
        yield app, client


async def test_allowlist_mode_runs_only_registered_operations(
    allowlist: tuple[Starlette, httpx.AsyncClient],
) -> None:
    app, client = allowlist
    services: Services = app.state.services
    (lookup,) = read_operations(
        EXAMPLES / "support-order-lookup.graphql", graphql_schema(build_schema())
    )
    await register_documents(services.sessions, [lookup], now=datetime.now(UTC))

    by_hash = await post(client, persisted(lookup.sha256))
    assert "errors" not in by_hash, by_hash["errors"]
    assert by_hash["data"]["orderByRef"]["name"]
    in_full = await post(client, {"query": lookup.document})
    assert in_full == by_hash

    for body in (
        {"query": "{ __typename }"},
        {"query": lookup.document + " "},  # not the registered text
        persisted(document_hash("{ __typename }"), "{ __typename }"),
    ):
        assert only_code(await post(client, body)) == "PERSISTED_QUERY_NOT_ALLOWED", body
    assert only_code(await post(client, persisted("0" * 64))) == "PERSISTED_QUERY_NOT_FOUND"


async def test_allowlist_mode_ignores_what_apq_learnt_until_an_operator_registers_it(
    allowlist: tuple[Starlette, httpx.AsyncClient], graph: Graph, tmp_path: Path
) -> None:
    app, client = allowlist
    services: Services = app.state.services
    query = unique("query Learnt { __typename }")
    sha256 = document_hash(query)
    assert "errors" not in await post(graph.client, persisted(sha256, query))  # APQ learnt it
    assert only_code(await post(client, persisted(sha256))) == "PERSISTED_QUERY_NOT_ALLOWED"
    ((_, outcome),) = await register_documents(
        services.sessions,
        read_operations(_manifest(tmp_path, {sha256: query}), graphql_schema(build_schema())),
        now=datetime.now(UTC),
    )
    assert outcome == "trusted now"
    assert await post(client, persisted(sha256)) == {"data": {"__typename": "Query"}}


def _manifest(folder: Path, documents: dict[str, str]) -> Path:
    path = folder / "manifest.json"
    path.write_text(json.dumps(documents))
    return path


def test_documents_cli_registers_a_graphql_file_and_a_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNIGRAPH_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/ops.sqlite3")
    runner = CliRunner()
    operations = tmp_path / "shop.graphql"
    operations.write_text(
        "query OrderName($id: ID!) { order(id: $id) { ...name } }\n"
        "query Ping { __typename }\n"
        "fragment name on Order { name }\n"
    )
    first = runner.invoke(cli, ["documents", "register", str(operations)])
    assert first.exit_code == 0, first.output
    lines = [line.split("  ") for line in first.stdout.strip().splitlines()]
    assert [(name, outcome) for _, name, outcome in lines] == [
        ("OrderName", "new"),
        ("Ping", "new"),
    ]
    ping_hash = lines[1][0]
    assert ping_hash == document_hash("query Ping {\n  __typename\n}")
    again = runner.invoke(cli, ["documents", "register", str(operations)])
    assert again.stdout.count("already registered") == 2

    manifest = tmp_path / "manifest.json"
    document = "query Hello { __typename }"
    manifest.write_text(json.dumps({document_hash(document): document}))
    assert "Hello  new" in runner.invoke(cli, ["documents", "register", str(manifest)]).stdout
    listed = runner.invoke(cli, ["documents", "list"]).stdout
    assert f"{ping_hash}  Ping  registered" in listed
    assert f"{document_hash(document)}  Hello  registered" in listed


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("anonymous.graphql", "{ __typename }", "name every operation"),
        ("typo.graphql", "query Typo { ordrs { id } }", "Typo: Cannot query field 'ordrs'"),
        ("broken.graphql", "query {", "Syntax Error"),
        ("wrong.json", json.dumps({"0" * 64: "{ __typename }"}), "not the SHA-256"),
    ],
)
def test_documents_cli_refuses_what_would_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: str, message: str
) -> None:
    monkeypatch.setenv("OMNIGRAPH_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/ops.sqlite3")
    path = tmp_path / name
    path.write_text(content)
    result = CliRunner().invoke(cli, ["documents", "register", str(path)])
    assert result.exit_code == 2
    assert message in result.stderr
