"""The matrix applied to a schema built in each test: a small shop whose types are reached every
way the graph reaches its own (a root's fields, lists, a union, a type another module names
lazily, an interface, arguments that are input objects holding input objects) with a matrix
written beside it. Each permission is asked from both sides: a role the matrix allows gets the
value and no error, a role it does not gets ``FORBIDDEN`` naming the roles it needs, and no
value. The same rules over HTTP for the real schema, field by field and role by role:
tests/graph/test_matrix.py (left out of mutation testing for its minutes a mutant)."""

# No ``from __future__ import annotations``: the shop's output types are built inside a
# function, and strawberry must read their annotations as objects.

import enum
import itertools
import sys
import types
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated, Any

import pytest
import strawberry
from graphql import GraphQLInterfaceType, GraphQLObjectType, build_schema

from omnigraph.graph.matrix import (
    InputField,
    Matrix,
    apply_matrix,
    filter_inputs,
    graphql_fields,
    object_types,
)
from omnigraph.security.principal import Principal, Role

FORBIDDEN = "FORBIDDEN"
_modules = itertools.count()


@strawberry.enum
class OrderState(enum.Enum):
    OPEN = "OPEN"
    SHIPPED = "SHIPPED"


# Inputs hold no guards (the field taking them does), so they may be shared by every shop.
@strawberry.input
class OwnerFilter:
    email: str | None = None
    name: str | None = None


@strawberry.input
class OrderFilter:
    channel: str | None = None
    paid: bool | None = None
    owner: OwnerFilter | None = None


@strawberry.input
class SearchFilter:
    text: str | None = None
    owner: OwnerFilter | None = None
    # a filter holding filters of its own kind
    any_of: list["SearchFilter"] | None = None


@strawberry.input
class PeopleFilter:
    owner: OwnerFilter | None = None
    # filters of its own kind: a guarded field may be set at any depth
    any_of: list["PeopleFilter"] | None = None


@strawberry.input
class AreaFilter:
    """Named lazily by the field taking it (as one domain names another's inputs)."""

    email: str | None = None


@strawberry.type
class Search:
    """In no shop: a field whose filter holds its own kind, walked on its own, so that a walk
    that never ended would fail its one test rather than hang the building of every shop."""

    @strawberry.field
    def hits(
        self, filter: SearchFilter | None = None, filters: list[SearchFilter] | None = None
    ) -> int:
        return 0


MATRIX = Matrix(
    types={
        "Payout": frozenset({Role.FINANCE, Role.REPORTING}),  # reached through a union only
        "Ledger": frozenset({Role.FINANCE}),  # named lazily, from another module
    },
    fields={
        "Query.customers": frozenset({Role.SUPPORT, Role.FINANCE}),
        "Order.payments": frozenset({Role.SUPPORT}),
        "Customer.email": frozenset({Role.SUPPORT}),
        "Customer.phone": frozenset({Role.SUPPORT}),
        "Payout.fees": frozenset({Role.FINANCE}),
        "Mutation.cancelOrder": frozenset({Role.SUPPORT}),
    },
    # a storefront key also reads a customer's email on its own channel's records
    own_channel=frozenset({"Customer.email"}),
    inputs={
        "OrderFilter.channel": "Order.channel",
        "OrderFilter.paid": "Order.payments",
        "OrderFilter.owner": "Order.customer",
        "OwnerFilter.email": "Customer.email",
        "OwnerFilter.name": "Customer.name",
        "AreaFilter.email": "Customer.email",
    },
)
NO_MATRIX = Matrix(types={}, fields={}, own_channel=frozenset())


@dataclass(frozen=True)
class Shop:
    """A shop's schema and what it was built from."""

    schema: strawberry.Schema
    roots: list[Any]
    query: Any

    async def ask(
        self, principal: Principal | None, query: str, **variables: Any
    ) -> tuple[dict[str, Any] | None, list[tuple[str, str | None, list[str | int]]]]:
        """The answer's data, and each error as (message, code, path)."""
        context = SimpleNamespace(request=SimpleNamespace(scope={"user": principal}))
        result = await self.schema.execute(query, variable_values=variables, context_value=context)
        errors = [
            (error.message, (error.extensions or {}).get("code"), list(error.path or []))
            for error in result.errors or []
        ]
        return result.data, errors


def build_shop(monkeypatch: pytest.MonkeyPatch, matrix: Matrix | None = MATRIX) -> Shop:
    """Fresh output types (a field is guarded once, so no test meets another's guards), the
    matrix applied to them as the service applies its own (none: not applied), the schema."""

    @strawberry.interface
    class Named:
        name: str

    @strawberry.type
    class Customer(Named):
        email: str | None
        phone: str | None
        # written as the service's modules write it (they read annotations as text)
        sales_channel: "strawberry.Private[str]"

    @strawberry.type
    class Payment:
        amount: int

    @strawberry.type
    class Order:
        number: str
        channel: str
        state: OrderState

        @strawberry.field
        def customer(self) -> Customer:
            return Customer(
                name="Ada", email="ada@example.com", phone="555-0100", sales_channel=self.channel
            )

        @strawberry.field
        def payments(self) -> list[Payment] | None:
            return [Payment(amount=1200)]

    @strawberry.type
    class Payout:
        status: str
        fees: int | None

    @strawberry.type
    class Refund:
        status: str

    @strawberry.type
    class Ledger:
        balance: int

    # a type another module declares, named lazily (as one domain names another's types)
    module = types.ModuleType(f"tests_graph_matrix_applied_{next(_modules)}")
    module.Ledger = Ledger  # type: ignore[attr-defined]
    module.AreaFilter = AreaFilter  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    lazy_ledger = Annotated["Ledger", strawberry.lazy(module.__name__)]
    lazy_area = Annotated["AreaFilter", strawberry.lazy(module.__name__)]
    payout_or_refund = Annotated[Payout | Refund, strawberry.union("Statement")]

    orders = [
        Order(number="W-1", channel="web", state=OrderState.OPEN),
        Order(number="M-1", channel="market", state=OrderState.SHIPPED),
    ]

    @strawberry.type
    class Query:
        @strawberry.field
        def orders(
            self, filter: OrderFilter | None = None, filters: list[OrderFilter] | None = None
        ) -> list[Order]:
            channel = filter.channel if filter is not None else None
            return [order for order in orders if channel in (None, order.channel)]

        @strawberry.field
        def customers(self, filter: OwnerFilter | None = None) -> list[Customer]:
            return [Customer(name="Ada", email=None, phone=None, sales_channel="web")]

        @strawberry.field
        def people(
            self,
            filter: PeopleFilter | None = None,
            area: lazy_area | None = None,  # type: ignore[valid-type]
        ) -> list[str]:
            return ["Ada"]

        @strawberry.field
        def statement(self) -> payout_or_refund:  # type: ignore[valid-type]
            return Payout(status="paid", fees=30)

        @strawberry.field
        def ledger(self) -> lazy_ledger:  # type: ignore[valid-type]
            return Ledger(balance=900)

    @strawberry.type
    class Mutation:
        @strawberry.mutation
        def cancel_order(self, number: str) -> str:
            return f"cancelled {number}"

        @strawberry.mutation
        def erase_everything(self) -> str:
            return "erased"

    roots = [Query, Mutation, None]
    if matrix is not None:
        apply_matrix(roots, matrix)
    return Shop(strawberry.Schema(query=Query, mutation=Mutation), roots, Query)


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Shop:
    return build_shop(monkeypatch)


def key(*roles: Role, channel: str | None = None) -> Principal:
    return Principal("test-key", frozenset(roles), channel=channel)


SUPPORT = key(Role.SUPPORT)
FINANCE = key(Role.FINANCE)
ADMIN = key(Role.ADMIN)
WEB_STOREFRONT = key(Role.STOREFRONT, channel="web")


def needs(roles: str, *path: str | int) -> tuple[str, str, list[str | int]]:
    return (f"this needs the {roles} role", FORBIDDEN, list(path))


async def test_a_restricted_field_answers_its_roles_and_refuses_the_rest(shop: Shop) -> None:
    query = "{ orders { number payments { amount } } }"
    data, errors = await shop.ask(SUPPORT, query)
    assert errors == []
    assert data == {
        "orders": [
            {"number": "W-1", "payments": [{"amount": 1200}]},
            {"number": "M-1", "payments": [{"amount": 1200}]},
        ]
    }
    data, errors = await shop.ask(FINANCE, query)
    assert data == {
        "orders": [{"number": "W-1", "payments": None}, {"number": "M-1", "payments": None}]
    }
    assert errors == [
        needs("support", "orders", 0, "payments"),
        needs("support", "orders", 1, "payments"),
    ]
    # the open fields of the same type answer every caller
    data, errors = await shop.ask(FINANCE, "{ orders { number channel state } }")
    assert errors == []
    assert data == {
        "orders": [
            {"number": "W-1", "channel": "web", "state": "OPEN"},
            {"number": "M-1", "channel": "market", "state": "SHIPPED"},
        ]
    }


async def test_a_storefront_key_reads_an_own_channel_field_on_its_own_channels_records_only(
    shop: Shop,
) -> None:
    query = "{ orders { number customer { name email phone } } }"
    data, errors = await shop.ask(WEB_STOREFRONT, query)
    assert data == {
        "orders": [
            {
                "number": "W-1",
                "customer": {"name": "Ada", "email": "ada@example.com", "phone": None},
            },
            {"number": "M-1", "customer": {"name": "Ada", "email": None, "phone": None}},
        ]
    }
    # the phone is no own-channel field: refused on the key's own channel too
    assert errors == [
        needs("support", "orders", 0, "customer", "phone"),
        needs("support", "orders", 1, "customer", "email"),
        needs("support", "orders", 1, "customer", "phone"),
    ]
    data, errors = await shop.ask(SUPPORT, query)
    assert errors == []
    assert data is not None
    assert [o["customer"]["email"] for o in data["orders"]] == ["ada@example.com"] * 2
    assert [o["customer"]["phone"] for o in data["orders"]] == ["555-0100"] * 2


async def test_a_closed_type_reached_through_a_union_answers_only_its_roles(shop: Shop) -> None:
    query = "{ statement { ... on Payout { status fees } ... on Refund { status } } }"
    assert await shop.ask(FINANCE, query) == ({"statement": {"status": "paid", "fees": 30}}, [])
    # reporting may read the payout, not its fees
    assert await shop.ask(key(Role.REPORTING), query) == (
        {"statement": {"status": "paid", "fees": None}},
        [needs("finance", "statement", "fees")],
    )
    # a payout's status is not nullable: the refusal nulls the whole answer
    assert await shop.ask(SUPPORT, query) == (
        None,
        [needs("finance or reporting", "statement", "status")],
    )


async def test_a_closed_type_named_lazily_answers_only_its_roles(shop: Shop) -> None:
    query = "{ ledger { balance } }"
    assert await shop.ask(FINANCE, query) == ({"ledger": {"balance": 900}}, [])
    assert await shop.ask(ADMIN, query) == ({"ledger": {"balance": 900}}, [])
    assert await shop.ask(SUPPORT, query) == (None, [needs("finance", "ledger", "balance")])


async def test_a_mutation_runs_for_the_roles_named_and_one_not_named_only_for_admin(
    shop: Shop,
) -> None:
    cancel = 'mutation { cancelOrder(number: "W-1") }'
    erase = "mutation { eraseEverything }"
    assert await shop.ask(SUPPORT, cancel) == ({"cancelOrder": "cancelled W-1"}, [])
    assert await shop.ask(FINANCE, cancel) == (None, [needs("support", "cancelOrder")])
    assert await shop.ask(ADMIN, erase) == ({"eraseEverything": "erased"}, [])
    assert await shop.ask(SUPPORT, erase) == (None, [needs("admin", "eraseEverything")])


FILTERED = "query($filter: OrderFilter) { orders(filter: $filter) { number } }"
LISTED = "query($filters: [OrderFilter!]) { orders(filters: $filters) { number } }"


def filtering(label: str, roles: str, field: str = "orders") -> tuple[str, str, list[str | int]]:
    return (f"filtering on `{label}` needs the {roles} role", FORBIDDEN, [field])


@pytest.mark.parametrize(
    ("filter", "label"),
    [
        ({"paid": True}, "OrderFilter.paid"),  # a field of the filter itself
        ({"paid": False}, "OrderFilter.paid"),  # whatever its value
        ({"owner": {"email": "ada@example.com"}}, "OwnerFilter.email"),  # an input in an input
    ],
)
async def test_a_filter_on_what_the_role_may_not_read_is_forbidden_and_answers_nothing(
    shop: Shop, filter: dict[str, Any], label: str
) -> None:
    assert await shop.ask(FINANCE, FILTERED, filter=filter) == (
        None,
        [filtering(label, "support")],
    )
    assert await shop.ask(SUPPORT, FILTERED, filter=filter) == (
        {"orders": [{"number": "W-1"}, {"number": "M-1"}]},
        [],
    )


@pytest.mark.parametrize(
    ("filter", "numbers"),
    [
        ({"channel": "web"}, ["W-1"]),  # on what every role may read
        ({"owner": {"name": "Ada"}}, ["W-1", "M-1"]),
        # null, left out, or an input whose guarded fields are null: no filter
        ({"paid": None}, ["W-1", "M-1"]),
        ({"owner": None}, ["W-1", "M-1"]),
        ({"owner": {"email": None}}, ["W-1", "M-1"]),
        (None, ["W-1", "M-1"]),
    ],
)
async def test_a_filter_on_what_the_role_may_read_or_no_filter_answers(
    shop: Shop, filter: dict[str, Any] | None, numbers: list[str]
) -> None:
    assert await shop.ask(FINANCE, FILTERED, filter=filter) == (
        {"orders": [{"number": number} for number in numbers]},
        [],
    )


async def test_a_list_of_filters_is_refused_when_any_of_them_sets_a_guarded_field(
    shop: Shop,
) -> None:
    everyone = {"orders": [{"number": "W-1"}, {"number": "M-1"}]}
    unset = [{"channel": "web"}, {"owner": {"name": "Ada"}}, {"paid": None}]
    assert await shop.ask(FINANCE, LISTED, filters=unset) == (everyone, [])
    one_set = [{"channel": "web"}, {"owner": {"email": "ada@example.com"}}]
    assert await shop.ask(FINANCE, LISTED, filters=one_set) == (
        None,
        [filtering("OwnerFilter.email", "support")],
    )
    assert await shop.ask(SUPPORT, LISTED, filters=one_set) == (everyone, [])


async def test_a_restricted_field_taking_a_guarded_filter_keeps_both_guards(shop: Shop) -> None:
    query = "query($filter: OwnerFilter) { customers(filter: $filter) { name } }"
    ada = {"customers": [{"name": "Ada"}]}
    assert await shop.ask(SUPPORT, query, filter={"email": "ada@example.com"}) == (ada, [])
    assert await shop.ask(FINANCE, query, filter={"name": "Ada"}) == (ada, [])
    # finance may list customers, not filter them by what it may not read
    assert await shop.ask(FINANCE, query, filter={"email": "ada@example.com"}) == (
        None,
        [filtering("OwnerFilter.email", "support", "customers")],
    )
    # a key without the field's roles is refused with or without a filter
    for filter in (None, {"name": "Ada"}):
        assert await shop.ask(WEB_STOREFRONT, query, filter=filter) == (
            None,
            [needs("finance or support", "customers")],
        )


@pytest.mark.parametrize(
    "filter",
    [
        {"owner": {"email": "ada@example.com"}},
        {"anyOf": [{"owner": {"name": "Ada"}}, {"owner": {"email": "ada@example.com"}}]},
        # the same input kind twice over: the guard looks wherever the input appears
        {"anyOf": [{"anyOf": [{"owner": {"email": "ada@example.com"}}]}]},
    ],
)
async def test_a_guarded_filter_is_refused_however_deep_it_is_nested(
    shop: Shop, filter: dict[str, Any]
) -> None:
    query = "query($filter: PeopleFilter) { people(filter: $filter) }"
    assert await shop.ask(FINANCE, query, filter=filter) == (
        None,
        [filtering("OwnerFilter.email", "support", "people")],
    )
    assert await shop.ask(SUPPORT, query, filter=filter) == ({"people": ["Ada"]}, [])
    unset = {"anyOf": [{"anyOf": [{"owner": {"name": "Ada", "email": None}}]}]}
    assert await shop.ask(FINANCE, query, filter=unset) == ({"people": ["Ada"]}, [])


async def test_a_filter_named_lazily_is_guarded_as_any_other(shop: Shop) -> None:
    query = "query($area: AreaFilter) { people(area: $area) }"
    area = {"email": "ada@example.com"}
    assert await shop.ask(FINANCE, query, area=area) == (
        None,
        [filtering("AreaFilter.email", "support", "people")],
    )
    assert await shop.ask(SUPPORT, query, area=area) == ({"people": ["Ada"]}, [])
    assert await shop.ask(FINANCE, query, area={"email": None}) == ({"people": ["Ada"]}, [])


def test_a_filter_holding_filters_of_its_own_kind_is_walked_once() -> None:
    """Each input object once per argument: the walk ends at a filter that holds its own kind
    (its ``anyOf`` is guarded by what the matrix names for ``SearchFilter.anyOf``)."""
    hits = dict(graphql_fields(Search.__strawberry_definition__))["hits"]
    walked = list(itertools.islice(filter_inputs(hits), 100))
    each = [
        ("SearchFilter", "text", "SearchFilter.text"),
        ("SearchFilter", "owner", "SearchFilter.owner"),
        ("OwnerFilter", "email", "OwnerFilter.email"),
        ("OwnerFilter", "name", "OwnerFilter.name"),
        ("SearchFilter", "any_of", "SearchFilter.anyOf"),
    ]
    assert sorted(walked, key=repr) == sorted(
        (InputField(argument, *found) for argument in ("filter", "filters") for found in each),
        key=repr,
    )


def test_the_walk_finds_every_object_type_however_it_is_reached(shop: Shop) -> None:
    found = object_types(shop.roots)
    assert sorted(found) == [
        "Customer",
        "Ledger",  # named lazily
        "Mutation",
        "Named",  # an interface no field returns
        "Order",
        "Payment",
        "Payout",  # through a union
        "Query",
        "Refund",
    ]
    assert found["Query"][0] is shop.query


def test_the_walk_passes_over_what_is_not_an_object_type(shop: Shop) -> None:
    # roots may name any of the schema's types; inputs, enums and plain classes are left out
    found = object_types([shop.query, OrderState, int, OrderFilter])
    assert "Query" in found
    assert "Order" in found
    assert not {"OrderFilter", "OwnerFilter", "OrderState"} & set(found)


def test_the_fields_walked_are_the_fields_graphql_exposes(shop: Shop) -> None:
    """Per type: the field names the matrix can name are those the schema serves (a private
    attribute, such as the customer's channel, is none)."""
    served = build_schema(shop.schema.as_str())  # the schema as a client reads it
    for name, (_, definition) in object_types(shop.roots).items():
        graphql_type = served.get_type(name)
        assert isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType), name
        assert sorted(dict(graphql_fields(definition))) == sorted(graphql_type.fields), name


def test_guards_add_nothing_to_the_schema_a_client_or_gateway_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    guarded = build_shop(monkeypatch).schema.as_str()
    assert guarded == build_shop(monkeypatch, matrix=None).schema.as_str()
    assert "@" not in guarded
