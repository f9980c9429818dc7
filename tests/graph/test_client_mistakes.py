"""A client's mistake is ``BAD_USER_INPUT`` (or a more precise code), never an internal error
masked as "Unexpected error." (issue 18, point 5): a variable of the wrong type, a moment without
a UTC offset wherever the schema takes a ``DateTime``, a malformed ``_entities`` representation,
a filter too long for a source's URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLSchema,
    get_named_type,
    is_composite_type,
    is_enum_type,
    is_input_object_type,
    is_list_type,
    is_non_null_type,
    is_required_argument,
    is_required_input_field,
    parse,
    validate,
)
from starlette.applications import Starlette

from omnigraph.api.schema import build_schema
from omnigraph.core.errors import InvalidInput
from omnigraph.core.ids import encode_global_id
from omnigraph.demo import DemoWorld
from omnigraph.graph.overrides import graphql_schema
from omnigraph.security.principal import Role
from omnigraph.settings import SourceConfig
from omnigraph.sources.contract import CHANNELS, MAX_FILTER_LENGTH
from omnigraph.sources.upstream import MAX_URL_LENGTH, Upstream
from tests.conftest import Graph, Sources
from tests.security.conftest import production_service

NAIVE = "2026-11-01T00:00:00"
AWARE = "2026-11-01T00:00:00Z"


production = production_service(*Role)


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


# -- variables of the wrong type --------------------------------------------------------------

WRONG_VARIABLES = [
    ("query($n: Int!) { orders(first: $n) { edges { node { id } } } }", {"n": "abc"}),
    ("query($n: Int!) { orders(first: $n) { edges { node { id } } } }", {"n": 1.5}),
    ("query($n: Int!) { orders(first: $n) { edges { node { id } } } }", {"n": 2**40}),
    ("query($id: ID!) { order(id: $id) { id } }", {"id": {"a": 1}}),
    (
        "query($f: OrderFilter) { orders(first: 1, filter: $f) { edges { node { id } } } }",
        {"f": {"states": ["NOT_A_STATE"]}},
    ),
    (
        "query($f: OrderFilter) { orders(first: 1, filter: $f) { edges { node { id } } } }",
        {"f": {"nope": 1}},
    ),
]


@pytest.mark.parametrize(("query", "variables"), WRONG_VARIABLES)
async def test_a_variable_of_the_wrong_type_is_bad_user_input(
    graph: Graph,
    production: tuple[Starlette, httpx.AsyncClient],
    query: str,
    variables: dict[str, Any],
) -> None:
    _, client = production
    for body in (
        await graph.query(query, **variables),
        (await client.post("/graphql", json={"query": query, "variables": variables})).json(),
    ):
        assert body["data"] is None
        assert codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["message"].startswith("Variable '$"), body


# -- DateTime: every argument and input field of that type ----------------------------------


def dummy(type_: GraphQLInputType) -> str:
    """A literal of ``type_`` that validates (required input fields filled in)."""
    if is_non_null_type(type_):
        return dummy(type_.of_type)
    if is_list_type(type_):
        return "[]"
    if is_enum_type(type_):
        return next(iter(type_.values))
    if is_input_object_type(type_):
        required = [
            f"{name}: {dummy(field.type)}"
            for name, field in type_.fields.items()
            if is_required_input_field(field)
        ]
        return "{" + ", ".join(required) + "}"
    literals = {"Int": "1", "Float": "1.0", "Boolean": "true", "DateTime": f'"{AWARE}"'}
    return literals.get(get_named_type(type_).name, '"x"')


def with_variable(type_: GraphQLInputType, depth: int = 0) -> Iterator[str]:
    """Each literal of ``type_`` with ``$d`` where a ``DateTime`` goes (itself, an element of
    a list, a field of an input object, at any depth), the rest filled in by :func:`dummy`."""
    if depth > 4:
        return
    inner = type_.of_type if is_non_null_type(type_) else type_
    if is_list_type(inner):
        for element in with_variable(inner.of_type, depth + 1):
            yield f"[{element}]"
    elif get_named_type(inner).name == "DateTime":
        yield "$d"
    elif is_input_object_type(inner):
        assert isinstance(inner, GraphQLInputObjectType)
        for name, field in inner.fields.items():
            for value in with_variable(field.type, depth + 1):
                others = [
                    f"{other}: {dummy(f.type)}"
                    for other, f in inner.fields.items()
                    if other != name and is_required_input_field(f)
                ]
                yield "{" + ", ".join([f"{name}: {value}", *others]) + "}"


def datetime_operations(schema: GraphQLSchema) -> Iterator[tuple[str, str]]:
    """``(where, operation)`` for each place the schema's roots take a ``DateTime``, read off the
    built schema: an operation with ``$d: DateTime!`` there and every other required argument
    filled in."""
    roots = [("query", schema.query_type), ("mutation", schema.mutation_type)]
    for keyword, root in roots:
        if root is None:
            continue
        for field_name, field in root.fields.items():
            assert isinstance(field, GraphQLField)
            selection = " { __typename }" if is_composite_type(get_named_type(field.type)) else ""
            for arg_name, arg in field.args.items():
                for value in with_variable(arg.type):
                    others = [
                        f"{other}: {dummy(a.type)}"
                        for other, a in field.args.items()
                        if other != arg_name and is_required_argument(a)
                    ]
                    arguments = ", ".join([f"{arg_name}: {value}", *others])
                    yield (
                        f"{root.name}.{field_name}({arg_name}: {value})",
                        f"{keyword}($d: DateTime!) {{ {field_name}({arguments}){selection} }}",
                    )


def test_the_walk_finds_every_datetime_the_schema_takes() -> None:
    """Each operation the walk below builds is valid (so the refusals it meets are the naive
    moment's) and uses ``$d`` (invalid without it); it reaches the places the issue names,
    arguments and input fields alike."""
    schema = graphql_schema(build_schema())
    places = dict(datetime_operations(schema))
    for operation in places.values():
        assert validate(schema, parse(operation)) == [], operation
        undeclared = operation.replace("($d: DateTime!)", "")
        assert validate(schema, parse(undeclared)) != []
    assert subscription_takes_no_datetime(schema)
    for expected in (
        "Query.exceptionOperations(resolvedFrom: $d)",
        "Query.exceptionOperations(resolvedTo: $d)",
        "Query.reconciliationSummary(from: $d)",
        "Query.availability(at: $d)",
    ):
        assert expected in places, sorted(places)
    for root_field, input_field in (
        ("exceptions", "openedBefore"),
        ("orders", "placedFrom"),
        ("payouts", "arrivalTo"),
    ):
        assert any(
            where.startswith(f"Query.{root_field}(filter: {{") and f"{input_field}: $d" in where
            for where in places
        ), (root_field, input_field, sorted(places))


def subscription_takes_no_datetime(schema: GraphQLSchema) -> bool:
    root = schema.subscription_type
    fields = root.fields.values() if root is not None else []
    return not any(list(with_variable(arg.type)) for field in fields for arg in field.args.values())


async def test_every_datetime_argument_refuses_a_moment_without_offset(graph: Graph) -> None:
    schema = graphql_schema(build_schema())
    for where, operation in datetime_operations(schema):
        for naive in (NAIVE, "2026-11-01", "tomorrow", 1_700_000_000):
            body = await graph.query(operation, d=naive)
            assert codes(body) == ["BAD_USER_INPUT"], (where, naive, body)
            assert "Unexpected" not in body["errors"][0]["message"]
        literal = operation.replace("($d: DateTime!)", "").replace("$d", f'"{NAIVE}"')
        body = await graph.query(literal)
        assert codes(body) == ["BAD_USER_INPUT"], (where, body)
        assert "has no UTC offset" in body["errors"][0]["message"]


async def test_a_moment_without_offset_is_bad_user_input_in_production(
    production: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = production
    for query, variables in [
        ("query($d: DateTime) { exceptionOperations(resolvedFrom: $d) { asOf } }", {"d": NAIVE}),
        (
            "query($d: DateTime) { exceptions(first: 1, filter: {openedBefore: $d})"
            " { edges { node { id } } } }",
            {"d": NAIVE},
        ),
        (f'{{ exceptionOperations(resolvedFrom: "{NAIVE}") {{ asOf }} }}', {}),
    ]:
        body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
        assert codes(body) == ["BAD_USER_INPUT"], body
        assert "has no UTC offset" in body["errors"][0]["message"]


async def test_a_moment_with_an_offset_is_taken(graph: Graph) -> None:
    for moment in (AWARE, "2026-11-01T01:00:00+01:00", "2026-11-01T00:00:00.123456-05:30"):
        body = await graph.query(
            "query($d: DateTime) { exceptionOperations(resolvedFrom: $d) { resolvedFrom } }",
            d=moment,
        )
        assert "errors" not in body, body


# -- _entities representations --------------------------------------------------------------

ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }"
MALFORMED = {
    "not an object": "Order",
    "a number": 5,
    "no __typename": {"id": "x"},
    "__typename not a string": {"__typename": ["Order"], "id": "x"},
    "an unknown type": {"__typename": "Nope", "id": "x"},
    "a value type": {"__typename": "Money", "amount": "1", "currency": "EUR"},
    "a root type": {"__typename": "Query"},
    "no key": {"__typename": "Order"},
    "a key of a wrong type": {"__typename": "Order", "id": 5},
    "an object key": {"__typename": "Payout", "id": {"a": 1}},
    "a field the type does not take": {"__typename": "Order", "id": "x", "extra": 1},
}


@pytest.mark.parametrize("representation", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_representation_is_bad_user_input_at_its_index(
    graph: Graph,
    production: tuple[Starlette, httpx.AsyncClient],
    world: DemoWorld,
    representation: object,
) -> None:
    order = next(o for o in world.storefront_orders if o["channel"] == "web")
    good = {"__typename": "Order", "id": encode_global_id("Order", "web-store", order["id"])}
    _, client = production
    variables = {"r": [good, representation, good]}
    for body in (
        await graph.query(ENTITIES, **variables),
        (await client.post("/graphql", json={"query": ENTITIES, "variables": variables})).json(),
    ):
        # the malformed one is refused where it stands; the others are answered
        assert body["data"]["_entities"] == [{"__typename": "Order"}, None, {"__typename": "Order"}]
        (error,) = body["errors"]
        assert error["path"] == ["_entities", 1]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"]["index"] == 1
        assert error["message"].startswith("representation 1: ")


# -- filters that travel in a source's URL ---------------------------------------------------


def orders_filtered_by(field: str) -> str:
    return (
        f"query($v: String) {{ orders(first: 1, filter: {{{field}: $v}})"
        " { edges { node { id } } } }"
    )


@pytest.mark.parametrize("field", ["sku", "channel"])
async def test_a_filter_too_long_for_the_source_url_is_refused_before_asking_it(
    graph: Graph, sources: Sources, field: str
) -> None:
    await sources.reset()
    for length in (MAX_FILTER_LENGTH + 1, 100_000):
        body = await graph.query(orders_filtered_by(field), v="x" * length)
        assert body["data"] is None
        (error,) = body["errors"]
        assert error["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": field,
            "maxLength": MAX_FILTER_LENGTH,
        }
    assert (await sources.totals())["storefront"] == 0
    at_the_cap = await graph.query(orders_filtered_by("sku"), v="x" * MAX_FILTER_LENGTH)
    assert "errors" not in at_the_cap, at_the_cap
    assert at_the_cap["data"]["orders"]["edges"] == []


async def test_a_channel_the_contract_does_not_name_is_refused_before_asking(
    graph: Graph, sources: Sources
) -> None:
    await sources.reset()
    body = await graph.query(orders_filtered_by("channel"), v="telepathy")
    (error,) = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "channel",
        "allowed": list(CHANNELS),
    }
    assert (await sources.totals())["storefront"] == 0
    web = await graph.query(orders_filtered_by("channel"), v="web")
    assert "errors" not in web, web
    assert web["data"]["orders"]["edges"]


async def test_a_url_past_the_cap_is_refused_before_the_source_is_asked() -> None:
    """Whatever the value (an id in a path, a filter), a URL longer than a source would take is
    the client's mistake, coded, and the source is not called."""
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"data": []})

    upstream = Upstream(
        SourceConfig(name="psp", kind="payments", base_url="http://psp.invalid"),
        transport=httpx.MockTransport(answer),
        redis_key_prefix="test",
        timeout_seconds=1,
        cache_ttl_seconds=0,
        cache_max_entries=0,
    )
    try:
        for params, path in [
            ({"sku": "x" * MAX_URL_LENGTH}, "/orders"),
            ({"sku": "x" * 100_000}, "/orders"),
            (None, "/v1/charges/" + "c" * MAX_URL_LENGTH),
        ]:
            with pytest.raises(InvalidInput) as refused:
                await upstream.request("GET", path, params=params)
            assert refused.value.extensions == {
                "code": "BAD_USER_INPUT",
                "source": "psp",
                "maxUrlLength": MAX_URL_LENGTH,
            }
        assert calls == []
        await upstream.request("GET", "/orders", params={"sku": "x" * 1000})
        assert len(calls) == 1
    finally:
        await upstream.aclose()
