"""The Shopify connector against Shopify's published Admin GraphQL schema (2026-10, pinned in
``tests/definitions/shopify/``), not against anything written here: every document it sends is
valid there and selects no deprecated field; what the mapping reads is what those documents
select, and it survives every field the schema lets be null; the fake shop's schema is a part of
the real one; and the docs' scope table names every scope the documents need."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_client_schema,
    build_schema,
    get_named_type,
    parse,
    specified_rules,
    validate,
    visit,
)
from graphql.validation import NoDeprecatedCustomRule
from tests.fakes.shopify import SCHEMA_SDL

from omnigraph.settings import ShopifyOptions
from omnigraph.sources.shopify import commands, feed, queries
from omnigraph.sources.shopify.client import DEFAULT_API_VERSION
from omnigraph.sources.shopify.mapping import order_record

ROOT = Path(__file__).resolve().parents[3]
PINNED = ROOT / "tests" / "definitions" / "shopify" / f"admin_{DEFAULT_API_VERSION}.json.gz"


@cache
def published() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(gzip.decompress(PINNED.read_bytes()))
    return loaded


@cache
def schema() -> GraphQLSchema:
    # Shopify deprecates some fields of interface implementations, which graphql-core's schema
    # check refuses; the schema is Shopify's as published, so it is taken as valid
    return build_client_schema(published()["data"], assume_valid=True)


def documents() -> dict[str, str]:
    """Every GraphQL document the connector sends, as it sends them."""
    found = {
        name: value
        for module in (queries, feed, commands)
        for name, value in vars(module).items()
        if isinstance(value, str)
        and re.match(r"\s*(query|mutation)\s+Omnigraph", value)
        and name.isupper()
    }
    for name in ("ORDERS_BY_IDS", "ORDERS_PAGE"):
        found[name] = queries.order_document(getattr(queries, name), 20, DEFAULT_API_VERSION)
    return found


def test_the_pinned_schema_is_the_configured_api_version() -> None:
    assert PINNED.exists(), f"no pinned Admin schema for {DEFAULT_API_VERSION}"
    assert "Order" in schema().type_map
    assert len(documents()) >= 14


@pytest.mark.parametrize("name", sorted(documents()))
def test_every_document_is_valid_against_shopifys_schema(name: str) -> None:
    problems = validate(schema(), parse(documents()[name]), [*specified_rules])
    assert [p.message for p in problems] == []


@pytest.mark.parametrize("name", sorted(documents()))
def test_no_document_selects_a_deprecated_field(name: str) -> None:
    """A deprecated field (``authorizationCode`` since 2026-01) may go in a later version."""
    problems = validate(schema(), parse(documents()[name]), [NoDeprecatedCustomRule])
    assert [p.message for p in problems] == []


# -- what the mapping reads, against what the schema answers ----------------------------------


def _sample(scalar: GraphQLNamedType, field: str) -> Any:
    if isinstance(scalar, GraphQLEnumType):
        return next(iter(scalar.values))
    name = scalar.name
    if name == "ID":
        return f"gid://shopify/Thing/{abs(hash(field)) % 10_000 + 1}"
    return {
        "String": "text",
        "Int": 1,
        "Float": 1.5,
        "Boolean": False,
        "DateTime": "2026-11-18T09:15:00Z",
        "Decimal": "12.50",
        "Money": "12.50",
        "UnsignedInt64": "4501",
        "URL": "https://example.com",
        "JSON": "{}",
        "FormattedString": "text",
        "HTML": "text",
    }.get(name, "text")


class Answer:
    """A response ``data`` Shopify could send for a document: every selected field, with
    ``nulls`` every field the schema lets be null set to null (lists hold one item)."""

    def __init__(self, document: DocumentNode, *, nulls: bool) -> None:
        self.nulls = nulls
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.operation = next(
            d for d in document.definitions if isinstance(d, OperationDefinitionNode)
        )

    def data(self) -> dict[str, Any]:
        root = schema().query_type
        assert root is not None
        return self._object(root, self.operation.selection_set, top=True)

    def _object(
        self, parent: GraphQLObjectType, selections: SelectionSetNode, *, top: bool = False
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for selection in self._flatten(parent, selections):
            name = selection.name.value
            key = selection.alias.value if selection.alias else name
            if name == "__typename":
                out[key] = parent.name
                continue
            field = parent.fields[name]
            out[key] = self._value(field.type, selection, name, nullable_root=not top)
        return out

    def _flatten(self, parent: GraphQLObjectType, selections: SelectionSetNode) -> Iterator[Any]:
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or self._applies(condition.name.value, parent):
                    yield from self._flatten(parent, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                if self._applies(fragment.type_condition.name.value, parent):
                    yield from self._flatten(parent, fragment.selection_set)

    def _applies(self, condition: str, parent: GraphQLObjectType) -> bool:
        target = schema().type_map[condition]
        if isinstance(target, GraphQLAbstractType):
            return schema().is_sub_type(target, parent)
        return target.name == parent.name

    def _value(
        self, kind: GraphQLOutputType, node: FieldNode, name: str, *, nullable_root: bool
    ) -> Any:
        if not isinstance(kind, GraphQLNonNull):
            if self.nulls and nullable_root:
                return None
            return self._value_of(kind, node, name)
        return self._value_of(kind.of_type, node, name)

    def _value_of(self, kind: Any, node: FieldNode, name: str) -> Any:
        if isinstance(kind, GraphQLList):
            # one item, never null itself: a null item is a record not there at all
            item = kind.of_type
            return [self._value_of(getattr(item, "of_type", item), node, name)]
        named = get_named_type(kind)
        if isinstance(named, GraphQLScalarType | GraphQLEnumType):
            return _sample(named, name)
        assert node.selection_set is not None, name
        concrete = self._concrete(named, node.selection_set)
        return self._object(concrete, node.selection_set)

    def _concrete(self, named: Any, selections: SelectionSetNode) -> GraphQLObjectType:
        if isinstance(named, GraphQLObjectType):
            return named
        # an interface or union: the type the selection asks about
        for selection in selections.selections:
            condition = None
            if isinstance(selection, InlineFragmentNode) and selection.type_condition:
                condition = selection.type_condition.name.value
            elif isinstance(selection, FragmentSpreadNode):
                condition = self.fragments[selection.name.value].type_condition.name.value
            found = schema().type_map.get(condition or "")
            if isinstance(found, GraphQLObjectType):
                return found
        possible = schema().get_possible_types(named)
        return possible[0]


class Reads(dict[str, Any]):
    """A JSON object that records every key read from it, present or not."""

    def __init__(self, value: Mapping[str, Any], log: set[str], path: str) -> None:
        super().__init__({k: _track(v, log, f"{path}.{k}") for k, v in value.items()})
        self.log = log
        self.path = path

    def __getitem__(self, key: str) -> Any:
        self.log.add(f"{self.path}.{key}" if key in self else f"MISSING {self.path}.{key}")
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.log.add(f"{self.path}.{key}" if key in self else f"MISSING {self.path}.{key}")
        return super().get(key, default)


def _track(value: Any, log: set[str], path: str) -> Any:
    if isinstance(value, dict):
        return Reads(value, log, path)
    if isinstance(value, list):
        return [_track(v, log, f"{path}[]") for v in value]
    return value


def _order_and_returns(*, nulls: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    orders = Answer(parse(documents()["ORDERS_BY_IDS"]), nulls=nulls).data()
    returns = Answer(parse(documents()["RETURNS_BY_IDS"]), nulls=nulls).data()
    order = orders["nodes"][0]
    found = returns["nodes"][0]
    assert order is not None
    assert found is not None  # nodes(ids:) items are nullable: the sample keeps them
    found["status"] = "OPEN"  # a status the mapping keeps, to read all of the return
    order["returns"]["nodes"] = [{"id": found["id"]}]
    for txn in order["transactions"]:
        txn["kind"], txn["status"] = "SALE", "SUCCESS"  # money that moved: read all of it
    return order, {found["id"]: found}


OPTIONS = ShopifyOptions(order_id_prefix="SF-", location_map={"4501": "store-london"})


def test_the_mapping_reads_only_what_the_documents_select() -> None:
    order, returns = _order_and_returns(nulls=False)
    log: set[str] = set()
    record = order_record(
        _track(order, log, "order"),
        {key: _track(value, log, "return") for key, value in returns.items()},
        OPTIONS,
    )
    missing = sorted(entry for entry in log if entry.startswith("MISSING"))
    # optional keys the mapping asks for but Shopify's answer to our documents never has
    assert missing == []
    assert record["lines"]
    assert record["transactions"]
    assert record["returns"]


def test_the_mapping_takes_every_null_the_schema_allows() -> None:
    """Every field Shopify may answer null (a guest's customer, a totalTaxSet, an unlocated
    pickup ...) null at once: the order still maps, with nothing made up."""
    order, returns = _order_and_returns(nulls=True)
    record = order_record(order, returns, OPTIONS)
    assert record["lines"]
    assert record["totals"]["tax"] == "0.00"
    assert record["totals"]["discount"] == "0.00"
    assert record["customer"] is None


# -- the fake shop is a part of the real schema --------------------------------------------------

_ROOTS = {"Query": "QueryRoot", "Mutation": "Mutation"}


def test_the_fake_shops_schema_is_a_part_of_shopifys() -> None:
    fake = build_schema(SCHEMA_SDL)
    real = schema()
    drift = []
    for name, kind in fake.type_map.items():
        if name.startswith("__"):
            continue
        target = real.type_map.get(_ROOTS.get(name, name))
        if target is None:
            drift.append(f"{name}: no such type")
            continue
        if isinstance(kind, GraphQLEnumType):
            extra = set(kind.values) - set(getattr(target, "values", {}))
            if extra:
                drift.append(f"{name}: no values {sorted(extra)}")
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in kind.fields.items():
                theirs = getattr(target, "fields", {}).get(field_name)
                if theirs is None:
                    drift.append(f"{name}.{field_name}: no such field")
                elif str(field.type) != str(theirs.type):
                    drift.append(f"{name}.{field_name}: {field.type}, Shopify says {theirs.type}")
                for arg, spec in getattr(field, "args", {}).items():
                    real_arg = theirs.args.get(arg) if theirs is not None else None
                    if theirs is None or str(getattr(real_arg, "type", None)) == str(spec.type):
                        continue
                    drift.append(f"{name}.{field_name}({arg}: {spec.type}) differs")
    assert drift == []


# -- the docs' scope table ------------------------------------------------------------------


def _required_scopes() -> dict[str, set[str]]:
    """For each type or field the documents touch that requires access: the scopes that grant
    it (any one of them)."""
    table = {
        (item["typeName"], item.get("fieldName")): set(item.get("offlineScopes") or ())
        for item in published()["offline_scopes"]["items"]
    }
    needed: dict[str, set[str]] = {}

    class Collect(Visitor):
        def __init__(self, name: str, info: TypeInfo) -> None:
            super().__init__()
            self.name, self.info = name, info

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            parent, field = self.info.get_parent_type(), self.info.get_field_def()
            if parent is None or field is None:
                return
            touched = get_named_type(field.type).name
            for key in ((parent.name, node.name.value), (touched, None)):
                if table.get(key):
                    where = f"{key[0]}.{key[1]}" if key[1] else key[0]
                    needed[f"{self.name}: {where}"] = table[key]

    for name, text in documents().items():
        info = TypeInfo(schema())
        visit(parse(text), TypeInfoVisitor(info, Collect(name, info)))
    return needed


def test_the_scope_table_names_a_scope_for_everything_the_documents_touch() -> None:
    doc = (ROOT / "docs" / "sources" / "shopify.md").read_text()
    table = doc[doc.index("### Access scopes") : doc.index("### Webhooks")]
    listed = set(re.findall(r"`((?:read|write)_\w+)`", table))
    unlisted = {
        touched: sorted(scopes)
        for touched, scopes in _required_scopes().items()
        if not scopes & listed
    }
    assert unlisted == {}
    assert {"read_orders", "read_locations", "read_customers", "read_returns"} <= listed
