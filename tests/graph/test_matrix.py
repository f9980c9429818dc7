"""The permission matrix, walked: every restricted field, as every role, by every way in.

A field is reached through the paths a client would use (a root field, ``node(id:)``, a parent
field, federation ``_entities``); each role must get data where the matrix allows it and a
``FORBIDDEN`` error where it does not, except that a type the role may not read at all is, by
``node(id:)`` and ``_entities``, indistinguishable from an id that does not exist. A filter on
what a role may not read is ``FORBIDDEN``. The matrix file may only name real types and fields.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from strawberry.types.field import StrawberryField

from omnigraph.api.export import subgraph_files
from omnigraph.api.schema import build_schema
from omnigraph.api.subgraphs import single_process_spec
from omnigraph.core.ids import decode_global_id, encode_global_id
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.intake import take_in
from omnigraph.graph.matrix import (
    FilterGuard,
    filter_inputs,
    graphql_fields,
    load_matrix,
    object_types,
)
from omnigraph.security.principal import Principal, Role
from tests.conftest import issue_key, running_app, services_of
from tests.helpers import short_pick
from tests.security.conftest import production_service

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


production = production_service()


@pytest.fixture(scope="module")
async def tokens(production: tuple[Starlette, httpx.AsyncClient]) -> dict[Role, str]:
    issued = {}
    for role in Role:
        key = await issue_key(
            production[0],
            role,
            name=f"matrix-{role.value}",
            channel="web" if role is Role.STOREFRONT else None,
        )
        issued[role] = key.secret
    return issued


@pytest.fixture(scope="module")
async def ids(production: tuple[Starlette, httpx.AsyncClient], world: DemoWorld) -> dict[str, Any]:
    services = services_of(production[0])
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


def _reached_by_id(query: str) -> str | None:
    """The type a probe reaches through ``node(id:)`` or ``_entities``, if it does."""
    if "node(id: $payout)" in query or "_entities" in query:
        return "Payout"
    if "node(id: $exception)" in query:
        return "Exception"
    return None


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


def _as_missing(body: dict[str, Any]) -> bool:
    """The answer to an id that does not exist: the object null, no error."""
    data = body.get("data") or {}
    return "errors" not in body and data in ({"node": None}, {"_entities": [None]})


PROBES = _probes()


def _principal(role: Role) -> Principal:
    return Principal(f"matrix-{role.value}", frozenset({role}))


async def ask(
    client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]
) -> httpx.Response:
    """``query`` with ``variables``, sent with the API key ``token``."""
    return await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture(scope="module")
def client(production: tuple[Starlette, httpx.AsyncClient]) -> httpx.AsyncClient:
    """The production service's HTTP client."""
    return production[1]


def forbidden(body: dict[str, Any]) -> bool:
    return any(
        (e.get("extensions") or {}).get("code") == "FORBIDDEN" for e in body.get("errors", [])
    )


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
async def test_every_restricted_field_answers_only_the_roles_the_matrix_names(
    client: httpx.AsyncClient, tokens: dict[Role, str], ids: dict[str, Any], role: Role
) -> None:
    wrong = []
    for label, query, roles in PROBES:
        variables = {k: v for k, v in ids.items() if f"${k}" in query}
        response = await ask(client, tokens[role], query, variables)
        assert response.status_code == 200, (label, response.text)
        body = response.json()
        allowed = role is Role.ADMIN or role in roles
        reached = _reached_by_id(query)
        if reached is not None and not load_matrix().may_read_type(_principal(role), reached):
            # a type the role may not read is, by id, an object that does not exist
            if not _as_missing(body):
                wrong.append((label, "answered as existing", body))
        elif allowed == forbidden(body):
            wrong.append((label, "allowed" if allowed else "refused", body.get("errors")))
        elif not allowed and body.get("data") not in (None, {}) and label.startswith("Mutation"):
            wrong.append((label, "refused but ran", body))
    assert wrong == [], wrong


async def test_a_storefront_key_sees_customer_email_only_on_its_own_channel(
    client: httpx.AsyncClient, tokens: dict[Role, str], world: DemoWorld
) -> None:
    query = "query($id: ID!) { order(id: $id) { channel customer { name email } } }"
    seen = {}
    for channel in ("web", "marketplace"):
        order = next(o for o in world.storefront_orders if o["channel"] == channel)
        gid = encode_global_id("Order", "web-store", order["id"])
        body = (await ask(client, tokens[Role.STOREFRONT], query, {"id": gid})).json()
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
    client: httpx.AsyncClient, tokens: dict[Role, str], ids: dict[str, Any]
) -> None:
    query = "query($order: ID!) { order(id: $order) { provenance { field source } } }"
    fields = {}
    for role in (Role.STOREFRONT, Role.SUPPORT):
        body = (await ask(client, tokens[role], query, {"order": ids["order"]})).json()
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


# -- existence side channels -------------------------------------------------------------------

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"


def _ways_in(sdl: str) -> tuple[bool, set[str]]:
    """Whether a served schema has ``node(id:)``, and the types its ``_entities`` resolves."""
    union = re.search(r"^union _Entity = (.+)$", sdl, re.MULTILINE)
    entities = {name.strip() for name in union.group(1).split("|")} if union else set()
    return "  node(id: ID!): Node" in sdl, entities


def _missing_like(global_id: str) -> str:
    """A well-formed id of the same type and source that names nothing."""
    type_name, parts = decode_global_id(global_id)
    last = parts[-1]
    last = str(10**9 + int(last)) if last.isdigit() else f"{last}-missing"
    return encode_global_id(type_name, *parts[:-1], last)


def _node_types() -> set[str]:
    return {
        name
        for name, (_, definition) in object_types(_roots()).items()
        if any(i.name == "Node" for i in definition.interfaces)
    }


async def _answers(
    client: httpx.AsyncClient, token: str, type_name: str, global_id: str, sdl: str
) -> list[dict[str, Any]]:
    """What ``node(id:)`` and ``_entities`` answer for ``global_id``, where the schema has them."""
    has_node, entities = _ways_in(sdl)
    asks: list[tuple[str, dict[str, Any]]] = []
    if has_node:
        for selection in ("__typename", f"__typename id ... on {type_name} {{ id }}"):
            asks.append(
                (f"query($id: ID!) {{ node(id: $id) {{ {selection} }} }}", {"id": global_id})
            )
    if type_name in entities:
        reps = [{"__typename": type_name, "id": global_id}]
        for selection in ("__typename", f"__typename ... on {type_name} {{ id }}"):
            asks.append(
                (
                    "query($reps: [_Any!]!) { _entities(representations: $reps) {"
                    f" {selection} }} }}",
                    {"reps": reps},
                )
            )
    answers = []
    for query, variables in asks:
        response = await ask(client, token, query, variables)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


def _existing(ids: dict[str, Any]) -> dict[str, str]:
    return {"Order": ids["order"], "Payout": ids["payout"], "Exception": ids["exception"]}


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
async def test_a_type_the_role_may_not_read_answers_as_an_id_that_does_not_exist(
    client: httpx.AsyncClient, tokens: dict[Role, str], ids: dict[str, Any], role: Role
) -> None:
    # storefront asked `node(id:) { __typename }` and learnt that a payout or an exception
    # existed; now, for every type the role may not read, an existing id and one that names
    # nothing get the same answer, by node(id:) and by _entities alike
    matrix = load_matrix()
    sdl = (SCHEMA_DIR / "omnigraph.graphql").read_text()
    existing = _existing(ids)
    closed = sorted(t for t in _node_types() if not matrix.may_read_type(_principal(role), t))
    for type_name in closed:
        assert type_name in existing, f"add an existing {type_name} id to _existing()"
        seen = await _answers(client, tokens[role], type_name, existing[type_name], sdl)
        missing = await _answers(
            client, tokens[role], type_name, _missing_like(existing[type_name]), sdl
        )
        assert seen == missing, (type_name, seen, missing)
        assert all(_as_missing(answer) for answer in seen), seen
    if role is Role.STOREFRONT:
        assert set(closed) == {"Payout", "Exception"}


async def test_a_role_that_may_read_a_type_still_tells_existing_from_missing(
    client: httpx.AsyncClient, tokens: dict[Role, str], ids: dict[str, Any]
) -> None:
    # the probe above can tell the two apart: a role allowed the type sees the difference
    sdl = (SCHEMA_DIR / "omnigraph.graphql").read_text()
    for type_name, global_id in _existing(ids).items():
        seen = await _answers(client, tokens[Role.ADMIN], type_name, global_id, sdl)
        missing = await _answers(
            client, tokens[Role.ADMIN], type_name, _missing_like(global_id), sdl
        )
        assert all(not _as_missing(answer) for answer in seen), (type_name, seen)
        assert all(_as_missing(answer) for answer in missing), (type_name, missing)


@pytest.mark.parametrize("subgraph", ["orders", "payouts", "exceptions"])
async def test_each_subgraph_answers_a_closed_type_as_a_missing_id(
    demo: DemoSystems,
    clean_database: str,
    tokens: dict[Role, str],
    ids: dict[str, Any],
    subgraph: str,
) -> None:
    matrix = load_matrix()
    storefront = _principal(Role.STOREFRONT)
    sdl = subgraph_files()[subgraph]
    async for _, graph in running_app(demo, clean_database, mode="production", subgraph=subgraph):
        for type_name, global_id in _existing(ids).items():
            if matrix.may_read_type(storefront, type_name):
                continue
            token = tokens[Role.STOREFRONT]
            seen = await _answers(graph.client, token, type_name, global_id, sdl)
            missing = await _answers(graph.client, token, type_name, _missing_like(global_id), sdl)
            assert seen == missing, (subgraph, type_name, seen, missing)
            assert all(_as_missing(answer) for answer in seen), (subgraph, seen)


ORDERS_FILTERED = """query($filter: OrderFilter) { orders(first: 3, filter: $filter) {
  edges { node { id } } } }"""


@pytest.mark.parametrize("value", [True, False])
async def test_a_filter_on_what_the_role_may_not_read_is_forbidden(
    client: httpx.AsyncClient, tokens: dict[Role, str], value: bool
) -> None:
    # choice: refused (FORBIDDEN, data null) whatever the data, rather than ignored, so a
    # client learns at once that the filter is not its to use

    async def orders(role: Role, filter: dict[str, Any]) -> dict[str, Any]:
        response = await ask(client, tokens[role], ORDERS_FILTERED, {"filter": filter})
        body: dict[str, Any] = response.json()
        return body

    refused = await orders(Role.STOREFRONT, {"hasOpenException": value})
    assert refused["data"] is None
    assert forbidden(refused)
    assert "hasOpenException" in refused["errors"][0]["message"]
    # a filter on what the role may read still works, and null is no filter
    for allowed in ({"channel": "web"}, {"hasOpenException": None}):
        answer = await orders(Role.STOREFRONT, allowed)
        assert "errors" not in answer, answer
    for role in (Role.SUPPORT, Role.FINANCE, Role.REPORTING, Role.ADMIN):
        answer = await orders(role, {"hasOpenException": value})
        assert "errors" not in answer, (role, answer)


def _filter_fields() -> list[tuple[str, str, StrawberryField]]:
    """(owner, Input.field, the owner's field) for every filter of a query or subscription,
    in the schema as served."""
    schema = build_schema()
    found = []
    for owner in (schema.query, schema.subscription):
        assert owner is not None
        definition = owner.__strawberry_definition__
        for name, field in graphql_fields(definition):
            for each in filter_inputs(field):
                found.append((f"{definition.name}.{name}", each.label, field))
    return found


def test_every_filter_names_the_field_it_filters_on() -> None:
    # a new filter must say what it reveals, so the matrix guards it as it guards that field
    matrix = load_matrix()
    types = object_types(_roots())
    filters = _filter_fields()
    assert filters, "the walk found no filters"
    for owner, label, _ in filters:
        assert label in matrix.inputs, f"{owner}: matrix.toml [inputs] does not name {label}"
    for label, target in matrix.inputs.items():
        assert label in {f for _, f, _ in filters}, f"matrix.toml [inputs] names unknown {label}"
        type_name, _, name = target.partition(".")
        assert type_name in types, target
        assert name in dict(graphql_fields(types[type_name][1])), target


def test_every_filter_on_something_restricted_carries_its_guard() -> None:
    matrix = load_matrix()
    for owner, label, field in _filter_fields():
        input_name, _, input_field = label.partition(".")
        needed = matrix.input_roles(input_name, input_field)
        guards = [
            p
            for e in field.extensions
            if getattr(e, "matrix_filter_guard", False)
            for p in e.permissions  # type: ignore[attr-defined]
            if isinstance(p, FilterGuard) and p.message.startswith(f"filtering on `{label}`")
        ]
        assert len(guards) == (0 if needed is None else 1), (owner, label)
        if needed is not None:
            assert guards[0].roles == needed, (owner, label)
