"""The cost model, counted on the real schema, and QUERY_TOO_COSTLY over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query, parse

from omnigraph.api.schema import build_schema
from omnigraph.core.ids import encode_global_id
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.graph.limits import cost as cost_module
from omnigraph.graph.limits.cost import CostVerdicts, operation_cost
from omnigraph.graph.overrides import graphql_schema
from omnigraph.settings import QueryLimits
from tests.graph.limits.budget import call_budget
from tests.security.conftest import serve

SCHEMA = graphql_schema(build_schema())
LIMITS = QueryLimits(default_page_size=50, max_page_size=100, cost_list_size=10)


def cost(query: str, **variables: Any) -> int:
    return operation_cost(SCHEMA, parse(query), variables=variables, limits=LIMITS)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # each field 1
        ('{ orderByRef(source: "web-store", ref: "SF-1") { id name state } }', 4),
        # a connection multiplies its selection by `first`; `edges` is that page, not again
        ("{ orders(first: 2) { edges { node { id } } } }", 1 + 2 * 3),
        # `first` absent: the argument's default page (50)
        ("{ orders { edges { node { id } } } }", 1 + 50 * 3),
        # a list without `first` counts as the assumed list size (10)
        ("{ orders(first: 100) { edges { node { id lines { sku } } } } }", 1 + 100 * 14),
        # a list of scalars is one field
        ('{ orderByRef(source: "s", ref: "r") { lines { sku } } }', 1 + 1 + 10),
        # fragments count like the fields they hold
        (
            "{ orders(first: 2) { ...page } }"
            " fragment page on OrderConnection { edges { node { id } } }",
            1 + 2 * 3,
        ),
        # introspection costs nothing (and is off in production)
        ("{ __typename orders(first: 1) { __typename } }", 1),
        # a `first` beyond the page cap counts as the cap (the resolver refuses it anyway)
        ("{ orders(first: 100000) { edges { node { id } } } }", 1 + 100 * 3),
    ],
)
def test_the_documented_cost_model(query: str, expected: int) -> None:
    assert cost(query) == expected


def test_first_from_a_variable_or_its_default() -> None:
    query = "query($n: Int! = 5) { orders(first: $n) { edges { node { id } } } }"
    assert cost(query, n=20) == 1 + 20 * 3
    assert cost(query) == 1 + 5 * 3


ENTITIES = (
    "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Payout { id status } } }"
)


def references(count: int, payout_id: str = "UGF5b3V0OnBzcDpwb18w") -> list[dict[str, str]]:
    return [{"__typename": "Payout", "id": payout_id}] * count


@pytest.mark.parametrize("count", [0, 1, 7, 1000, 12_000])
def test_entities_cost_each_reference_they_are_given(count: int) -> None:
    # `_entities`, then per reference its selection: id and status
    assert cost(ENTITIES, reps=references(count)) == 1 + count * 2


def test_references_written_in_the_document_count_too() -> None:
    inline = (
        '{ _entities(representations: [{__typename: "Payout", id: "a"},'
        ' {__typename: "Payout", id: "b"}, {__typename: "Payout", id: "c"}]) {'
        " ... on Payout { id } } }"
    )
    assert cost(inline) == 1 + 3 * 1


def test_the_introspection_graphiql_sends_is_free() -> None:
    assert cost(get_introspection_query()) == 0


@pytest.fixture(scope="module")
async def service(demo: DemoSystems, clean_database: str) -> AsyncIterator[httpx.AsyncClient]:
    async for _, client in serve(demo, clean_database, limits=QueryLimits(max_cost=500)):
        yield client


async def test_an_operation_over_the_cost_limit_is_refused_with_its_cost(
    service: httpx.AsyncClient,
) -> None:
    costly = "{ orders(first: 100) { edges { node { id lines { sku } } } } }"
    response = await service.post("/graphql", json={"query": costly})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 1401, "maxCost": 500}

    cheap = "{ orders(first: 100) { edges { node { id } } } }"
    body = (await service.post("/graphql", json={"query": cheap})).json()
    assert "errors" not in body
    assert len(body["data"]["orders"]["edges"]) == 100


async def test_entities_given_too_many_references_are_refused_before_any_is_resolved(
    service: httpx.AsyncClient, world: DemoWorld
) -> None:
    """12,000 references took 16 s and 18 MB while every other request waited (issue 18)."""
    payout = next(p for p in world.payouts if p["status"] == "paid")
    payout_id = encode_global_id("Payout", "psp", payout["id"])
    for count in (12_000, 1_001):  # the default cap is 1,000
        with call_budget(1_000_000):
            sent = {"query": ENTITIES, "variables": {"reps": references(count, payout_id)}}
            response = await service.post("/graphql", json=sent)
        assert response.status_code == 200
        body = response.json()
        assert body["data"] is None
        assert [e["extensions"] for e in body["errors"]] == [
            {
                "code": "TOO_MANY_REPRESENTATIONS",
                "representations": count,
                "maxRepresentations": 1_000,
            }
        ]


async def test_entities_cost_grows_with_their_references(
    service: httpx.AsyncClient, world: DemoWorld
) -> None:
    """The same document, first with 3 references (cost 7, answered), then 300 (cost 601,
    over the 500 allowed): the remembered cost follows the number of references."""
    payout = next(p for p in world.payouts if p["status"] == "paid")
    payout_id = encode_global_id("Payout", "psp", payout["id"])
    few = {"query": ENTITIES, "variables": {"reps": references(3, payout_id)}}
    body = (await service.post("/graphql", json=few)).json()
    assert "errors" not in body
    assert body["data"]["_entities"] == [{"id": payout_id, "status": payout["status"]}] * 3

    many = {"query": ENTITIES, "variables": {"reps": references(300, payout_id)}}
    body = (await service.post("/graphql", json=many)).json()
    assert body["data"] is None
    assert [e["extensions"] for e in body["errors"]] == [
        {"code": "QUERY_TOO_COSTLY", "cost": 1 + 300 * 2, "maxCost": 500}
    ]


async def test_a_remembered_cost_follows_the_variables(service: httpx.AsyncClient) -> None:
    """The same document is costed again for another `first` (the verdict cache keys on it)."""
    query = "query($n: Int = 100) { orders(first: $n) { edges { node { id lines { sku } } } } }"
    # 10 -> 141, allowed; null -> the default page size (50): 701; absent -> the declared 100
    for variables, cost in (
        ({"n": 100}, 1401),
        ({"n": 10}, None),
        ({"n": 100}, 1401),
        ({"n": None}, 701),
        ({}, 1401),
        ({"n": 10}, None),
    ):
        sent = {"query": query, "variables": variables}
        body = (await service.post("/graphql", json=sent)).json()
        costs = [e["extensions"].get("cost") for e in body.get("errors") or []]
        assert costs == ([] if cost is None else [cost]), (variables, body)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # an inline fragment on a type counts its fields on that type
        ('{ node(id: "x") { ... on Order { id name lines { sku } } } }', 1 + 2 + 1 + 10),
        # one without a type condition counts them on the enclosing type
        ("{ orders(first: 2) { edges { node { ... { id name } } } } }", 1 + 2 * 4),
        # a named fragment on another type than the field's (an interface's implementation)
        ('{ node(id: "x") { ...order } } fragment order on Order { id lines { sku } }', 1 + 1 + 11),
        # a root list without `first` is the assumed list size
        ('{ availability(skus: ["A"], channel: "web") { sku } }', 1 + 10 * 1),
    ],
)
def test_fragments_and_root_lists_count_like_their_fields(query: str, expected: int) -> None:
    assert cost(query) == expected


def test_the_named_operation_of_a_document_is_the_one_costed() -> None:
    document = parse(
        'query Cheap { orderByRef(source: "s", ref: "r") { id } }'
        " query Dear { orders(first: 2) { edges { node { id } } } }"
    )
    assert operation_cost(SCHEMA, document, operation_name="Cheap", limits=LIMITS) == 2
    assert operation_cost(SCHEMA, document, operation_name="Dear", limits=LIMITS) == 7
    assert operation_cost(SCHEMA, document, operation_name="Neither", limits=LIMITS) == 0


def test_without_limits_the_settings_defaults_apply() -> None:
    defaults = QueryLimits()
    query = parse("{ orders { edges { node { id lines { sku } } } } }")
    expected = 1 + defaults.default_page_size * (3 + defaults.cost_list_size + 1)
    assert operation_cost(SCHEMA, query) == expected


def test_a_verdict_is_remembered_for_its_document_name_and_page_sizes() -> None:
    verdicts = CostVerdicts(maxsize=8)
    verdicts.remember("{ a }", "A", {"n": 5, "skus": ["X"]}, 42)
    assert verdicts.lookup("{ a }", "A", {"n": 5, "skus": ["Y"]}) == 42  # not a page size
    assert verdicts.lookup("{ a }", "A", {"n": 6, "skus": ["X"]}) is None
    assert verdicts.lookup("{ a }", "A", {"n": True, "skus": ["X"]}) is None  # not an integer
    assert verdicts.lookup("{ a }", "B", {"n": 5, "skus": ["X"]}) is None
    assert verdicts.lookup("{ b }", "A", {"n": 5, "skus": ["X"]}) is None
    verdicts.remember("{ a }", None, {"flag": True}, 7)
    assert verdicts.lookup("{ a }", None, {"flag": False}) == 7
    assert verdicts.lookup("{ a }", None, {}) is None  # absent is not sent


async def test_an_operation_at_the_limit_is_served_and_one_over_is_told_by_how_much(
    service: httpx.AsyncClient,
) -> None:
    at_limit = (
        "{ a: orders(first: 100) { edges { node { id } } }"  # 1 + 100 * 3 = 301
        " b: orders(first: 65) { edges { node { id } } }"  # 1 + 65 * 3 = 196
        ' orderByRef(source: "web-store", ref: "SF-100001") { id name } }'  # 3
    )
    body = (await service.post("/graphql", json={"query": at_limit})).json()
    assert "errors" not in body, body
    over = at_limit.replace("{ id name }", "{ id name state }")
    body = (await service.post("/graphql", json={"query": over})).json()
    assert body == {
        "data": None,
        "errors": [
            {
                "message": "this operation costs 501, more than the 500 allowed: ask for smaller"
                " pages (`first`) or fewer nested lists",
                "extensions": {"code": "QUERY_TOO_COSTLY", "cost": 501, "maxCost": 500},
            }
        ],
    }


async def test_a_repeated_operation_is_costed_once(
    service: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    walks: list[str | None] = []

    count_operation = cost_module.count_operation

    def counted(*args: Any, **kwargs: Any) -> Any:
        walks.append(kwargs.get("operation_name"))
        return count_operation(*args, **kwargs)

    monkeypatch.setattr(cost_module, "count_operation", counted)
    query = "query Once($n: Int) { orders(first: $n) { edges { node { id } } } }"
    for n in (3, 3, 4, 3):
        sent = {"query": query, "variables": {"n": n}, "operationName": "Once"}
        body = (await service.post("/graphql", json=sent)).json()
        assert len(body["data"]["orders"]["edges"]) == n
    assert walks == ["Once", "Once"]  # n=3 once, n=4 once


# limits unlike the settings' defaults, so a count that ignores the ones it is given shows
ODD = QueryLimits(default_page_size=7, max_page_size=30, cost_list_size=3)


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        # the page cap and the list size given: 30 a page, 3 a list
        ("{ orders(first: 100) { edges { node { id lines { sku } } } } }", {}, 1 + 30 * 7),
        # `first` absent: the argument's own default (20 for bulk operations), not the page size
        ("{ bulkOperations { edges { node { id } } } }", {}, 1 + 20 * 3),
        # `first` after another argument is still read
        ("{ orders(after: null, first: 2) { edges { node { id } } } }", {}, 1 + 2 * 3),
        # an empty page costs its field only
        ("{ orders(first: 0) { edges { node { id } } } }", {}, 1),
        # a variable sent as something other than an integer: the default page size
        ("query($n: Int) { orders(first: $n) { edges { node { id } } } }", {"n": "9"}, 1 + 7 * 3),
        ("query($n: Int) { orders(first: $n) { edges { node { id } } } }", {"n": True}, 1 + 7 * 3),
        # one reference written without a list is a list of one, as GraphQL coerces it
        (
            '{ _entities(representations: {__typename: "Payout", id: "a"})'
            " { ... on Payout { id } } }",
            {},
            1 + 1 * 1,
        ),
        # references not sent at all: none to resolve
        (ENTITIES, {}, 1),
        # fields beside an inline fragment or a spread count with it
        ('{ node(id: "x") { id ... on Order { name } } }', {}, 1 + 1 + 1),
        ('{ orderByRef(source: "s", ref: "r") { id ...o } } fragment o on Order { name }', {}, 3),
        # an inline fragment inside a page is in that page: its edges are not a list again
        ("{ orders(first: 2) { ... on OrderConnection { edges { node { id } } } } }", {}, 7),
    ],
)
def test_the_cost_model_reads_the_limits_and_arguments_it_is_given(
    query: str, variables: dict[str, Any], expected: int
) -> None:
    assert operation_cost(SCHEMA, parse(query), variables=variables, limits=ODD) == expected
