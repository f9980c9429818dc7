"""Trusted documents: automatic persisted queries (Apollo's protocol), the allow-list mode and
``omnigraph documents register``."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from typer.testing import CliRunner

from omnigraph.api.schema import build_schema
from omnigraph.app import EXAMPLES, background_tasks
from omnigraph.cli import app as cli
from omnigraph.db.models import PersistedDocumentRow
from omnigraph.demo import DemoSystems
from omnigraph.graph.overrides import graphql_schema
from omnigraph.runtime.services import Services
from omnigraph.security.document_manifest import read_operations
from omnigraph.security.document_store import (
    OperationDocument,
    document_hash,
    register_documents,
)
from omnigraph.security.principal import Role
from tests.conftest import Graph, authorize, issue_key, services_of
from tests.security.conftest import production_service, serve


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
    services = services_of(app)
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
    services = services_of(app)
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


# -- what automatic persisted queries may keep ---------------------------------------------------

SMALL_CAP = 3
SMALL_DOCUMENT = 2048
# the learning below happens in 2001, long before anything the rest of the session stores, so
# expiring "unused since then" forgets only this module's documents
LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)


bounded = production_service(
    apq_max_documents_per_key=SMALL_CAP, apq_max_document_bytes=SMALL_DOCUMENT, apq_unused_days=30
)


class Clock:
    """The services' clock, moved by hand."""

    def __init__(self, services: Services, at: datetime) -> None:
        self.at = at
        services.clock = lambda: self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


async def _key(app: Starlette, name: str) -> dict[str, str]:
    issued = await issue_key(
        app, Role.STOREFRONT, name=f"{name}-{uuid.uuid4().hex[:8]}", channel="web"
    )
    return {"Authorization": f"Bearer {issued.secret}"}


async def _ask(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> Any:
    response = await client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _kept(app: Starlette, *hashes: str) -> set[str]:
    services = services_of(app)
    async with services.sessions() as session:
        rows = await session.scalars(
            select(PersistedDocumentRow.sha256).where(PersistedDocumentRow.sha256.in_(hashes))
        )
        return set(rows)


async def test_a_document_over_the_size_cap_is_refused_and_nothing_is_kept(
    bounded: tuple[Starlette, httpx.AsyncClient],
) -> None:
    # any key stored up to 1 MB a request (50 requests grew the database by 49 MB)
    app, client = bounded
    headers = await _key(app, "apq-size")
    query = unique("{ __typename }") + "\n#" + "x" * SMALL_DOCUMENT
    sha256 = document_hash(query)
    refused = await _ask(client, headers, persisted(sha256, query))
    assert only_code(refused) == "PERSISTED_QUERY_TOO_LARGE"
    assert refused["errors"][0]["extensions"]["maxBytes"] == SMALL_DOCUMENT
    assert only_code(await _ask(client, headers, persisted(sha256))) == (
        "PERSISTED_QUERY_NOT_FOUND"
    )
    assert await _kept(app, sha256) == set()
    # sent without the hash it runs, and nothing is kept either
    assert await _ask(client, headers, {"query": query}) == {"data": {"__typename": "Query"}}
    # one under the cap is learnt as before
    small = unique("{ __typename }")
    assert "errors" not in await _ask(client, headers, persisted(document_hash(small), small))
    assert await _kept(app, document_hash(small)) == {document_hash(small)}


async def test_each_key_keeps_its_cap_of_learnt_documents_forgetting_the_least_recently_used(
    bounded: tuple[Starlette, httpx.AsyncClient],
) -> None:
    app, client = bounded
    clock = Clock(app.state.services, LONG_AGO)
    mine, theirs = await _key(app, "apq-cap"), await _key(app, "apq-other")
    other = unique("query Theirs { __typename }")
    assert "errors" not in await _ask(client, theirs, persisted(document_hash(other), other))
    taught = []
    for n in range(SMALL_CAP):
        clock.advance(hours=2)
        query = unique(f"query Mine{n} {{ __typename }}")
        taught.append(document_hash(query))
        assert "errors" not in await _ask(client, mine, persisted(taught[-1], query))
    clock.advance(hours=2)
    assert "errors" not in await _ask(client, mine, persisted(taught[0]))  # the first, used again
    for n in range(20):  # more than the cap: the key's least recently used go first
        clock.advance(hours=2)
        query = unique(f"query More{n} {{ __typename }}")
        taught.append(document_hash(query))
        assert "errors" not in await _ask(client, mine, persisted(taught[-1], query))
        if n == 0:
            # taught[1] was the least recently used: forgotten; taught[0] was used later
            assert await _kept(app, *taught) == {taught[0], taught[2], taught[3]}
            gone = await _ask(client, mine, persisted(taught[1]))
            assert only_code(gone) == "PERSISTED_QUERY_NOT_FOUND"
    assert await _kept(app, *taught) == set(taught[-SMALL_CAP:])
    # another key's documents are its own: untouched
    assert await _kept(app, document_hash(other)) == {document_hash(other)}
    assert await _ask(client, theirs, persisted(document_hash(other))) == {
        "data": {"__typename": "Query"}
    }


async def test_learnt_documents_unused_for_the_window_are_forgotten_registered_ones_kept(
    bounded: tuple[Starlette, httpx.AsyncClient],
) -> None:
    app, client = bounded
    services = services_of(app)
    clock = Clock(services, LONG_AGO - timedelta(days=400))
    headers = await _key(app, "apq-expiry")
    used, unused = unique("query Used { __typename }"), unique("query Unused { __typename }")
    for query in (used, unused):
        assert "errors" not in await _ask(client, headers, persisted(document_hash(query), query))
    registered = unique("query Registered { __typename }")
    await register_documents(
        services.sessions,
        [OperationDocument(document_hash(registered), registered, "Registered")],
        now=clock.at,
    )
    hashes = [document_hash(q) for q in (used, unused, registered)]
    (expiry,) = [t for t in background_tasks(services) if t.name == "persisted_documents_expiry"]

    clock.advance(days=29)
    assert "errors" not in await _ask(client, headers, persisted(hashes[0]))  # used again
    await expiry.step()
    assert await _kept(app, *hashes) == set(hashes)  # nothing unused for 30 days yet
    clock.advance(days=2)  # 31 days after learning; `used` was asked for 2 days ago
    await expiry.step()
    assert await _kept(app, *hashes) == {hashes[0], hashes[2]}
    assert only_code(await _ask(client, headers, persisted(hashes[1]))) == (
        "PERSISTED_QUERY_NOT_FOUND"
    )
    clock.advance(days=365)  # the registered document belongs to the operator: never expires
    await expiry.step()
    assert await _kept(app, *hashes) == {hashes[2]}
