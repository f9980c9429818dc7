"""The permission matrix, walked: every restricted field, as every role, by every way in.

A field is reached through the paths a client would use (a root field, ``node(id:)``, a parent
field, federation ``_entities``); each role must get data where the matrix allows it and a
``FORBIDDEN`` error where it does not. The matrix file may only name real types and fields.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from omnigraph.api.subgraphs import single_process_spec
from omnigraph.core.ids import encode_global_id
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.intake import take_in
from omnigraph.graph.matrix import graphql_fields, load_matrix, object_types
from omnigraph.runtime.services import Services
from omnigraph.security import api_keys
from omnigraph.security.principal import Role
from tests.conftest import running_app
from tests.helpers import short_pick

# How to reach each restricted type; FIELD is replaced by the field under test.
PATHS = {
    "Payout": "query($payout: ID!) { node(id: $payout) { ... on Payout { FIELD } } }",
    "BalanceTransaction": "query($payout: ID!) { node(id: $payout) { ... on Payout {"
    " balanceTransactions { FIELD } } } }",
    "PayoutReconciliation": "query($payout: ID!) { node(id: $payout) { ... on Payout {"
    " reconciliation { FIELD } } } }",
    "ReconciliationItem": "query($payout: ID!) { node(id: $payout) { ... on Payout {"
    " reconciliation { unmatchedItems { FIELD } } } } }",
    "ReconciliationSummary": 'query { reconciliationSummary(from: "2026-01-01T00:00:00Z",'
    ' to: "2026-12-01T00:00:00Z") { FIELD } }',
    "Payment": "query($order: ID!) { order(id: $order) { payments { FIELD } } }",
    "Exception": "query($exception: ID!) { node(id: $exception) { ... on Exception { FIELD } } }",
    "ExceptionEvent": "query($exception: ID!) { exception(id: $exception) { history { FIELD } } }",
    "ResolutionCommand": "query($exception: ID!) { exception(id: $exception) {"
    " commands { FIELD } } }",
    "ExceptionOperations": "query { exceptionOperations { FIELD } }",
    "AllocationPolicyVersion": "query { allocationPolicy { FIELD } }",
}
FIELDS = {
    "Query.payouts": "query { payouts(first: 1) { edges { node { id } } } }",
    "Query.exceptions": "query { exceptions(first: 1) { edges { node { id } } } }",
    "Query.allocationPolicyHistory": "query { allocationPolicyHistory { version } }",
    "Order.exceptions": "query($order: ID!) { order(id: $order) { exceptions { id } } }",
    "Entities.Payout": "query($reps: [_Any!]!) { _entities(representations: $reps) {"
    " ... on Payout { amount { amount } } } }",
}
MUTATIONS = {
    "acknowledgeException": 'mutation { acknowledgeException(id: "bm9wZQ") {'
    " userErrors { code } } }",
    "resolveException": 'mutation { resolveException(input: {id: "bm9wZQ", resolution: "X",'
    ' idempotencyKey: "k"}) { userErrors { code } } }',
    "retryExceptionResolution": 'mutation { retryExceptionResolution(id: "bm9wZQ") {'
    " userErrors { code } } }",
    "reserveInventory": 'mutation { reserveInventory(input: {sku: "SKU-NONE", channel: "web",'
    ' quantity: 0, idempotencyKey: "matrix"}) { userErrors { code } } }',
    "releaseReservation": 'mutation { releaseReservation(id: "nope") { userErrors { code } } }',
    "commitReservation": 'mutation { commitReservation(id: "nope") { userErrors { code } } }',
    "updateAllocationPolicy": "mutation { updateAllocationPolicy(policy: {}) {"
    " userErrors { code } } }",
}
ROLES = list(Role)


@pytest.fixture(scope="module")
async def production(
    demo: DemoSystems, clean_database: str
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    async for app, graph in running_app(demo, clean_database, mode="production"):
        yield app, graph.client


@pytest.fixture(scope="module")
async def tokens(production: tuple[Starlette, httpx.AsyncClient]) -> dict[Role, str]:
    services: Services = production[0].state.services
    issued = {}
    for role in Role:
        key = await api_keys.create_key(
            services.sessions,
            name=f"matrix-{role.value}",
            roles=frozenset({role}),
            channel="web" if role is Role.STOREFRONT else None,
            now=datetime.now(UTC),
        )
        issued[role] = key.secret
    return issued


@pytest.fixture(scope="module")
async def ids(production: tuple[Starlette, httpx.AsyncClient], world: DemoWorld) -> dict[str, Any]:
    services: Services = production[0].state.services
    order = next(o for o in world.storefront_orders if o["channel"] == "web" and o["customer"])
    payout = next(p for p in world.payouts if p["status"] == "paid")
    row, _ = await take_in(
        services.sessions,
        services.get(ExceptionCatalogue),
        short_pick(order["id"], dedupe_key="matrix:short", summary="matrix probe"),
    )
    return {
        "order": encode_global_id("Order", "web-store", order["id"]),
        "payout": encode_global_id("Payout", "psp", payout["id"]),
        "exception": encode_global_id("Exception", row.id),
        "reps": [{"__typename": "Payout", "id": encode_global_id("Payout", "psp", payout["id"])}],
    }


def _leaf(type_name: str, field_name: str) -> str:
    """The field with a selection set when it is an object."""
    types = object_types(_roots())
    _, definition = types[type_name]
    field = dict(graphql_fields(definition))[field_name]
    inner = field.type
    while hasattr(inner, "of_type"):
        inner = inner.of_type
    return (
        f"{field_name} {{ __typename }}"
        if hasattr(inner, "__strawberry_definition__")
        else field_name
    )


def _roots() -> list[Any]:
    spec = single_process_spec()
    return [spec.query, spec.mutation, spec.subscription, *spec.types]


def _probes() -> list[tuple[str, str, frozenset[Role]]]:
    """(label, query, roles allowed) for every restricted field reachable over HTTP."""
    matrix = load_matrix()
    probes = []
    for type_name, path in PATHS.items():
        _, definition = object_types(_roots())[type_name]
        for name, _ in graphql_fields(definition):
            roles = matrix.roles_for(type_name, name)
            assert roles is not None, f"{type_name}.{name} is in PATHS but not restricted"
            probes.append(
                (f"{type_name}.{name}", path.replace("FIELD", _leaf(type_name, name)), roles)
            )
    for label, query in FIELDS.items():
        type_name, _, name = label.partition(".")
        if type_name == "Entities":
            roles = matrix.types[name]
        else:
            roles = matrix.roles_for(type_name, name) or frozenset(Role)
        probes.append((label, query, roles))
    for name, query in MUTATIONS.items():
        roles = matrix.roles_for("Mutation", name)
        assert roles is not None
        probes.append((f"Mutation.{name}", query, roles))
    return probes


PROBES = _probes()


def forbidden(body: dict[str, Any]) -> bool:
    return any(
        (e.get("extensions") or {}).get("code") == "FORBIDDEN" for e in body.get("errors", [])
    )


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
async def test_every_restricted_field_answers_only_the_roles_the_matrix_names(
    production: tuple[Starlette, httpx.AsyncClient],
    tokens: dict[Role, str],
    ids: dict[str, Any],
    role: Role,
) -> None:
    _, client = production
    wrong = []
    for label, query, roles in PROBES:
        variables = {k: v for k, v in ids.items() if f"${k}" in query}
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {tokens[role]}"},
        )
        assert response.status_code == 200, (label, response.text)
        body = response.json()
        allowed = role is Role.ADMIN or role in roles
        if allowed == forbidden(body):
            wrong.append((label, "allowed" if allowed else "refused", body.get("errors")))
        elif not allowed and body.get("data") not in (None, {}) and label.startswith("Mutation"):
            wrong.append((label, "refused but ran", body))
    assert wrong == [], wrong


async def test_a_storefront_key_sees_customer_email_only_on_its_own_channel(
    production: tuple[Starlette, httpx.AsyncClient], tokens: dict[Role, str], world: DemoWorld
) -> None:
    _, client = production
    query = "query($id: ID!) { order(id: $id) { channel customer { name email } } }"
    seen = {}
    for channel in ("web", "marketplace"):
        order = next(o for o in world.storefront_orders if o["channel"] == channel)
        gid = encode_global_id("Order", "web-store", order["id"])
        body = (
            await client.post(
                "/graphql",
                json={"query": query, "variables": {"id": gid}},
                headers={"Authorization": f"Bearer {tokens[Role.STOREFRONT]}"},
            )
        ).json()
        seen[channel] = body
    assert seen["web"]["data"]["order"]["customer"]["email"]
    assert "errors" not in seen["web"]
    assert seen["marketplace"]["data"]["order"]["customer"]["email"] is None
    assert forbidden(seen["marketplace"])
    # the name is not restricted: the rest of the order still arrives
    assert seen["marketplace"]["data"]["order"]["customer"]["name"]


def test_the_matrix_names_only_real_types_and_fields() -> None:
    matrix = load_matrix()
    types = object_types(_roots())
    for name in matrix.types:
        assert name in types, f"matrix.toml names unknown type {name}"
    for dotted in [*matrix.fields, *matrix.own_channel]:
        type_name, _, field_name = dotted.partition(".")
        assert type_name in types, f"matrix.toml names unknown type in {dotted}"
        names = dict(graphql_fields(types[type_name][1]))
        assert field_name in names, f"matrix.toml names unknown field {dotted}"


def test_every_restricted_field_carries_a_permission() -> None:
    matrix = load_matrix()
    for type_name, (_, definition) in object_types(_roots()).items():
        for name, field in graphql_fields(definition):
            guarded = any(getattr(e, "matrix_guard", False) for e in field.extensions)
            restricted = matrix.roles_for(type_name, name) is not None
            assert guarded == restricted, f"{type_name}.{name}"


async def test_a_storefront_key_sees_status_provenance_but_not_where_money_came_from(
    production: tuple[Starlette, httpx.AsyncClient], tokens: dict[Role, str], ids: dict[str, Any]
) -> None:
    _, client = production
    query = "query($order: ID!) { order(id: $order) { provenance { field source } } }"
    fields = {}
    for role in (Role.STOREFRONT, Role.SUPPORT):
        body = (
            await client.post(
                "/graphql",
                json={"query": query, "variables": {"order": ids["order"]}},
                headers={"Authorization": f"Bearer {tokens[role]}"},
            )
        ).json()
        fields[role] = {entry["field"] for entry in body["data"]["order"]["provenance"]}

    def money(names: set[str]) -> set[str]:
        return {n for n in names if n.startswith(("totals", "financialStatus")) or "unitPrice" in n}

    assert "state" in fields[Role.STOREFRONT]
    assert "financialStatus" in fields[Role.SUPPORT]
    assert any(n.startswith("totals") for n in fields[Role.SUPPORT])
    assert any("unitPrice" in n for n in fields[Role.SUPPORT])
    assert money(fields[Role.STOREFRONT]) == set()
    assert fields[Role.STOREFRONT] == fields[Role.SUPPORT] - money(fields[Role.SUPPORT]) - {
        n for n in fields[Role.SUPPORT] if n.startswith(("terms", "creditMemos", "payments"))
    }
