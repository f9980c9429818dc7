"""Bearer API keys: 401 before any GraphQL work in production, roles checked per field."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.authentication import AuthenticationError
from starlette.requests import HTTPConnection
from typer.testing import CliRunner

from omnigraph.cli import app as cli
from omnigraph.core.ids import encode_global_id
from omnigraph.db.models import ExceptionRow
from omnigraph.demo import DemoWorld
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.intake import take_in
from omnigraph.security import api_keys
from omnigraph.security.backend import BearerBackend
from omnigraph.security.principal import Principal, Role
from tests.conftest import issue_key, services_of
from tests.helpers import short_pick
from tests.security.conftest import production_service

POLICY = "{ allocationPolicy { version document } }"
UPDATE = """mutation($p: JSON!) { updateAllocationPolicy(policy: $p, note: "auth test") {
  policy { version } userErrors { code } } }"""


production = production_service(auth_cache_seconds=0)


async def issue(app: Starlette, *roles: Role, name: str = "tester") -> str:
    issued = await issue_key(app, *roles, name=name)
    return issued.secret


async def post(client: httpx.AsyncClient, token: str | None, body: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post("/graphql", json=body, headers=headers)


async def test_production_refuses_a_request_without_a_token_before_parsing_it(
    production: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = production
    # not even JSON: a 400 would mean the body was read before the caller was known
    response = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "header", ["Bearer og_nope_nope", "Basic dXNlcjpwYXNz", "Bearer ", "og_deadbeef_x"]
)
async def test_a_wrong_token_is_refused_in_every_mode(
    production: tuple[Starlette, httpx.AsyncClient], graph_client: httpx.AsyncClient, header: str
) -> None:
    for client in (production[1], graph_client):
        response = await client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": header}
        )
        assert response.status_code == 401, header
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_policy_changes_need_the_admin_role(
    production: tuple[Starlette, httpx.AsyncClient],
) -> None:
    app, client = production
    admin, support = await issue(app, Role.ADMIN), await issue(app, Role.SUPPORT)
    document = (await post(client, support, {"query": POLICY})).json()["data"]["allocationPolicy"][
        "document"
    ]
    refused = (await post(client, support, {"query": UPDATE, "variables": {"p": document}})).json()
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "admin" in refused["errors"][0]["message"]
    allowed = (await post(client, admin, {"query": UPDATE, "variables": {"p": document}})).json()
    assert allowed["data"]["updateAllocationPolicy"]["userErrors"] == []


ACKNOWLEDGE = """mutation($id: ID!) { acknowledgeException(id: $id) {
  exception { status history { status actor } } userErrors { code } } }"""


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.STOREFRONT, False),
        (Role.REPORTING, False),
        (Role.SUPPORT, True),
        (Role.FINANCE, True),
        (Role.ADMIN, True),
    ],
)
async def test_exception_work_needs_support_or_finance(
    production: tuple[Starlette, httpx.AsyncClient], world: DemoWorld, role: Role, allowed: bool
) -> None:
    """Both sides, on an exception that exists: support, finance (and admin) acknowledge it
    and the history names the key; storefront and reporting get FORBIDDEN and it stays OPEN."""
    app, client = production
    services = services_of(app)
    row, _ = await take_in(
        services.sessions,
        services.get(ExceptionCatalogue),
        short_pick(world.storefront_orders[0]["id"], dedupe_key=f"auth:acknowledge:{role}"),
    )
    name = f"ack-{role}"
    token = await issue(app, role, name=name)
    variables = {"id": encode_global_id("Exception", row.id)}
    body = (await post(client, token, {"query": ACKNOWLEDGE, "variables": variables})).json()
    async with services.sessions() as session:
        status = (await session.get(ExceptionRow, row.id, populate_existing=True)).status
    if allowed:
        assert "errors" not in body, body
        answer = body["data"]["acknowledgeException"]
        assert answer["userErrors"] == []
        assert answer["exception"]["status"] == "ACKNOWLEDGED"
        assert answer["exception"]["history"][-1] == {
            "status": "ACKNOWLEDGED",
            "actor": f"api_key:{name}",
        }
        assert status == "ACKNOWLEDGED"
    else:
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
        assert status == "OPEN"


async def test_a_revoked_key_stops_working(
    production: tuple[Starlette, httpx.AsyncClient],
) -> None:
    app, client = production
    token = await issue(app, Role.REPORTING, name="to-revoke")
    assert (await post(client, token, {"query": "{ __typename }"})).status_code == 200
    prefix = token.split("_")[1]
    services = services_of(app)
    assert await api_keys.revoke_key(services.sessions, prefix, now=datetime.now(UTC))
    assert (await post(client, token, {"query": "{ __typename }"})).status_code == 401


async def test_a_revoked_key_stops_working_once_the_cache_window_passes(
    production: tuple[Starlette, httpx.AsyncClient],
) -> None:
    # the service remembers a resolved key for OMNIGRAPH_AUTH_CACHE_SECONDS (5 s by default):
    # a revocation is honoured within that window, never later
    app, _ = production
    services = services_of(app)
    clock = [1_000.0]
    backend = BearerBackend(
        lambda: services.sessions, require_token=True, cache_seconds=5.0, clock=lambda: clock[0]
    )
    token = await issue(app, Role.REPORTING, name="to-revoke-later")

    async def authenticate() -> Principal | None:
        scope = {"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]}
        try:
            return (await backend.authenticate(HTTPConnection(scope)))[1]
        except AuthenticationError:
            return None

    assert await authenticate() is not None
    assert await api_keys.revoke_key(services.sessions, token.split("_")[1], now=datetime.now(UTC))
    clock[0] += 4.9
    assert await authenticate() is not None  # still inside the window
    clock[0] += 0.2
    assert await authenticate() is None


async def test_requests_arriving_together_with_a_key_look_it_up_once(
    production: tuple[Starlette, httpx.AsyncClient],
) -> None:
    """16 requests starting together on a key not yet remembered cost one database lookup,
    and each is the key's principal; a revoked key is looked up again after the window."""
    app, _ = production
    services = services_of(app)
    clock = [1_000.0]
    lookups = []

    def sessions() -> object:
        lookups.append(clock[0])
        return services.sessions

    backend = BearerBackend(
        sessions,  # type: ignore[arg-type]
        require_token=True,
        cache_seconds=5.0,
        clock=lambda: clock[0],
    )
    token = await issue(app, Role.REPORTING, name="single-flight")
    scope = {"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]}

    async def authenticate() -> Principal | None:
        try:
            return (await backend.authenticate(HTTPConnection(scope)))[1]
        except AuthenticationError:
            return None

    found = await asyncio.gather(*(authenticate() for _ in range(16)))
    assert lookups == [1_000.0]
    assert {p.roles if p else None for p in found} == {frozenset({Role.REPORTING})}
    assert await api_keys.revoke_key(services.sessions, token.split("_")[1], now=datetime.now(UTC))
    clock[0] += 5.1
    assert await asyncio.gather(*(authenticate() for _ in range(16))) == [None] * 16
    assert lookups == [1_000.0, 1_005.1]


def test_keys_cli_creates_lists_and_revokes(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNIGRAPH_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/keys.sqlite3")
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--name", "finance-bot", "--role", "finance"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[0]
    assert secret.startswith("og_")
    prefix = secret.split("_")[1]
    listed = runner.invoke(cli, ["keys", "list"])
    assert f"{prefix}  finance-bot  finance  live" in listed.stdout
    assert secret not in listed.stdout
    assert runner.invoke(cli, ["keys", "revoke", prefix]).exit_code == 0
    assert "revoked" in runner.invoke(cli, ["keys", "list"]).stdout
    again = runner.invoke(cli, ["keys", "revoke", prefix])
    assert again.exit_code == 1
    bad_role = runner.invoke(cli, ["keys", "create", "--name", "x", "--role", "wizard"])
    assert bad_role.exit_code == 2


@pytest.fixture
def graph_client(service: tuple[Starlette, object]) -> httpx.AsyncClient:
    """The development-mode service's client (no token needed, wrong tokens still refused)."""
    graph = service[1]
    client: httpx.AsyncClient = graph.client  # type: ignore[attr-defined]
    return client
