"""The permission rules one by one, as a resolver's guard meets them: who a request acts as,
which roles a field, a type or a filter needs (read off matrix.toml as data), a storefront key's
own channel, money provenance. The same rules over HTTP, for every field and role:
tests/graph/test_matrix.py."""

from __future__ import annotations

import tomllib
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from strawberry.types.unset import UNSET

from omnigraph.graph.matrix import (
    MATRIX_PATH,
    FilterGuard,
    InputField,
    Matrix,
    OwnChannelOrRole,
    load_matrix,
    may_read_type,
)
from omnigraph.graph.permissions import (
    RequireRole,
    principal_in,
    traceable,
)
from omnigraph.security.principal import DEVELOPER, Principal, Role


def key(*roles: Role, channel: str | None = None) -> Principal:
    return Principal("test-key", frozenset(roles), channel=channel)


def info(user: object) -> Any:
    """What a guard is given: the request's context, whose scope holds the principal."""
    return SimpleNamespace(context=SimpleNamespace(request=SimpleNamespace(scope={"user": user})))


def test_a_request_acts_as_the_principal_in_its_scope_or_nobody() -> None:
    finance = key(Role.FINANCE)
    assert principal_in(info(finance).context) is finance
    assert principal_in(info("not a principal").context) is None
    assert principal_in(SimpleNamespace(request=SimpleNamespace(scope=None))) is None
    assert principal_in(object()) is None  # outside a request


@pytest.mark.parametrize(
    ("user", "allowed"),
    [
        (key(Role.FINANCE), True),
        (key(Role.REPORTING, Role.STOREFRONT), True),
        (key(Role.ADMIN), True),  # admin holds every role
        (DEVELOPER, True),
        (key(Role.SUPPORT), False),
        (key(), False),
        (None, False),
        ("finance", False),
    ],
)
def test_a_role_guard_lets_through_the_roles_it_names_and_admin(
    user: object, allowed: bool
) -> None:
    guard = RequireRole(Role.FINANCE, Role.REPORTING)
    assert guard.has_permission(None, info(user)) is allowed
    assert guard.message == "this needs the finance or reporting role"
    assert guard.error_extensions == {"code": "FORBIDDEN"}
    assert RequireRole().message == "this needs the admin role"
    assert RequireRole().has_permission(None, info(key(Role.SUPPORT))) is False


@pytest.mark.parametrize(
    ("field", "money"),
    [
        ("totals", True),
        ("totals.total", True),
        ("lines[SKU-1].unitPrice", True),
        ("payments", True),
        ("creditMemos", True),
        ("financialStatus", True),
        ("terms", True),
        ("state", False),
        ("lines[SKU-1].shipped", False),
        ("shipments", False),
    ],
)
def test_money_provenance_is_hidden_from_all_but_support_finance_and_reporting(
    field: str, money: bool
) -> None:
    # decided once for all of an answer's fields, the verdict per field
    for user in (key(Role.SUPPORT), key(Role.FINANCE), key(Role.REPORTING), key(Role.ADMIN)):
        assert traceable(info(user))(field) is True
    for user in (key(Role.STOREFRONT, channel="web"), None):
        assert traceable(info(user))(field) is not money


def toml_roles(table: dict[str, list[str]]) -> dict[str, frozenset[Role]]:
    return {name: frozenset(Role(role) for role in roles) for name, roles in table.items()}


def test_the_matrix_is_the_file_as_written() -> None:
    written = tomllib.loads(MATRIX_PATH.read_text())
    matrix = load_matrix()
    assert dict(matrix.types) == toml_roles(written["types"])
    assert dict(matrix.fields) == toml_roles(written["fields"])
    assert matrix.own_channel == frozenset(written.get("own_channel", {}).get("fields", []))
    assert dict(matrix.inputs) == written.get("inputs", {})


MATRIX = Matrix(
    types={"Payout": frozenset({Role.FINANCE, Role.REPORTING})},
    fields={
        "Payout.fees": frozenset({Role.FINANCE}),
        "Order.customer": frozenset({Role.SUPPORT}),
        "Mutation.resolve": frozenset({Role.SUPPORT}),
    },
    own_channel=frozenset({"Order.customer"}),
    inputs={"PayoutFilter.status": "Payout.status", "OrderFilter.email": "Order.customer"},
)


@pytest.mark.parametrize(
    ("type_name", "field", "roles"),
    [
        ("Payout", "fees", {Role.FINANCE}),  # the field's roles within the type's
        ("Payout", "status", {Role.FINANCE, Role.REPORTING}),  # the type's
        ("Order", "customer", {Role.SUPPORT}),
        ("Order", "state", None),  # open to every authenticated caller
        ("Mutation", "resolve", {Role.SUPPORT}),
        ("Mutation", "unnamed", set()),  # a mutation not named is admin-only
    ],
)
def test_a_fields_roles_are_its_own_within_its_types(
    type_name: str, field: str, roles: set[Role] | None
) -> None:
    expected = None if roles is None else frozenset(roles)
    assert MATRIX.roles_for(type_name, field) == expected


def test_a_closed_type_is_read_only_by_its_roles() -> None:
    assert MATRIX.may_read_type(key(Role.REPORTING), "Payout")
    assert MATRIX.may_read_type(key(Role.ADMIN), "Payout")
    assert not MATRIX.may_read_type(key(Role.SUPPORT), "Payout")
    assert not MATRIX.may_read_type(None, "Payout")
    assert MATRIX.may_read_type(None, "Order")  # no [types] entry: open
    assert may_read_type(info(key(Role.FINANCE)).context, "Payout", MATRIX)
    assert not may_read_type(info(key(Role.STOREFRONT)).context, "Payout", MATRIX)
    assert not may_read_type(info(key(Role.STOREFRONT)).context, "Payout")  # the real file


def test_a_filter_needs_the_roles_of_what_it_filters_on() -> None:
    assert MATRIX.input_roles("PayoutFilter", "status") == {Role.FINANCE, Role.REPORTING}
    assert MATRIX.input_roles("OrderFilter", "email") == {Role.SUPPORT}
    assert MATRIX.input_roles("OrderFilter", "channel") is None


@pytest.mark.parametrize(
    ("user", "channel", "allowed"),
    [
        (key(Role.SUPPORT), "web", True),  # by role
        (key(Role.STOREFRONT, channel="web"), "web", True),  # its own channel
        (key(Role.STOREFRONT, channel="web"), "marketplace", False),
        (key(Role.STOREFRONT, channel="web"), None, False),
        (key(Role.STOREFRONT), "web", False),  # a storefront key with no channel
        (key(Role.REPORTING, channel="web"), "web", False),  # a channel is not a role
        (None, "web", False),
    ],
)
def test_a_storefront_key_reads_its_own_channels_records(
    user: Principal | None, channel: str | None, allowed: bool
) -> None:
    record = SimpleNamespace(sales_channel=channel)
    guard = OwnChannelOrRole(Role.SUPPORT)
    assert guard.has_permission(record, info(user)) is allowed


@strawberry.input
class EmailFilter:
    email: str | None = None
    emails: list[str] | None = None


@strawberry.input
class PersonFilter:
    owner: EmailFilter | None = None
    # filters of its own kind: the email may be set at any depth
    any_of: list[PersonFilter] | None = None


EMAIL = InputField("filter", "EmailFilter", "email", "EmailFilter.email")
EMAILS = InputField("filter", "EmailFilter", "emails", "EmailFilter.emails")
SET_DEEP = PersonFilter(owner=EmailFilter(email="x"))


@pytest.mark.parametrize(
    ("argument", "set_"),
    [
        (None, False),
        (UNSET, False),
        ([], False),
        (PersonFilter(), False),
        (PersonFilter(owner=EmailFilter()), False),
        (PersonFilter(owner=EmailFilter(email="a@b")), True),
        (EmailFilter(email="a@b"), True),  # the input type itself as the argument
        ([PersonFilter(), SET_DEEP], True),
        (PersonFilter(any_of=[PersonFilter(), PersonFilter(owner=EmailFilter())]), False),
        # the same input type again, deeper: found wherever it is
        (PersonFilter(any_of=[PersonFilter(), SET_DEEP]), True),
        (PersonFilter(any_of=[PersonFilter(any_of=[SET_DEEP])]), True),
        # another field of the same input does not count
        (PersonFilter(owner=EmailFilter(emails=["x"])), False),
        # not an input at all
        (SimpleNamespace(owner=SimpleNamespace(email="a@b")), False),
    ],
)
def test_a_filter_guard_refuses_only_a_filter_that_is_set(argument: object, set_: bool) -> None:
    guard = FilterGuard(EMAIL, frozenset({Role.SUPPORT}))
    assert guard.message == "filtering on `EmailFilter.email` needs the support role"
    storefront = info(key(Role.STOREFRONT, channel="web"))
    assert guard.has_permission(None, storefront, filter=argument) is (not set_)
    assert guard.has_permission(None, info(key(Role.SUPPORT)), filter=argument) is True
    assert guard.has_permission(None, storefront) is True  # not given at all


@pytest.mark.parametrize(("emails", "set_"), [(None, False), ([], False), (["x"], True)])
def test_a_list_filter_is_set_only_when_it_holds_something(
    emails: list[str] | None, set_: bool
) -> None:
    guard = FilterGuard(EMAILS, frozenset({Role.SUPPORT}))
    argument = PersonFilter(owner=EmailFilter(emails=emails))
    assert guard.has_permission(None, info(key(Role.FINANCE)), filter=argument) is (not set_)


@pytest.mark.parametrize(
    ("field", "money"),
    [
        # a SKU is any string: dots and brackets inside a line's index change nothing
        ("lines[SHIRT[M].v2].unitPrice", True),
        ("lines[SHIRT[M].v2].shipped", False),
        ("lines[a.b.c].quantity", False),
        # an indexed money field at the head of the path
        ("creditMemos[CM-1].amount", True),
        ("creditMemos[CM[1]].amount", True),
        ("payments[ch_1]", True),
        ("state", False),
        # or at its end, indexed too
        ("order.payments[ch_1]", True),
        ("order.payments[a[b]]", True),
        ("creditMemos.lines.amount", True),
        ("order.lines.amount", False),
    ],
)
def test_money_is_told_by_its_field_whatever_the_sku_holds(field: str, money: bool) -> None:
    assert traceable(info(key(Role.STOREFRONT, channel="web")))(field) is not money


def test_a_filter_guard_names_every_role_that_may_filter() -> None:
    guard = FilterGuard(EMAIL, frozenset({Role.SUPPORT, Role.FINANCE}))
    assert guard.message == "filtering on `EmailFilter.email` needs the finance or support role"
    assert FilterGuard(EMAILS, frozenset()).message == (
        "filtering on `EmailFilter.emails` needs the admin role"
    )


def test_a_field_of_a_closed_type_needs_a_role_both_allow() -> None:
    matrix = Matrix(
        types={"Payout": frozenset({Role.FINANCE, Role.SUPPORT})},
        fields={"Payout.fees": frozenset({Role.FINANCE, Role.REPORTING})},
        own_channel=frozenset(),
    )
    assert matrix.roles_for("Payout", "fees") == frozenset({Role.FINANCE})
    assert matrix.roles_for("Payout", "id") == frozenset({Role.FINANCE, Role.SUPPORT})
