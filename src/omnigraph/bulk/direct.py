"""Export pages a domain answers itself, without executing GraphQL field by field.

An export page run through the schema builds an object per order, per line and per provenance
entry and completes each field through graphql-core: for a page of orders with their
provenance that is most of what the page costs beside the truth itself (docs/PERFORMANCE.md,
"Bulk exports"). A domain may instead offer a :class:`DirectRoot` for its root connection: it
compiles the export's node selection once (or declines it) into a :class:`DirectQuery`, which
answers a page as plain rows straight from its records and truths, each leaf serialised by
its GraphQL type, so the rows are those the schema would give.

It declines (and the page runs through the schema, as before) whenever it could not be sure to
answer exactly as the schema would: a selection with arguments, directives or fragments, or a
field it does not know; a caller the permission matrix restricts on any field read (the schema
then answers ``FORBIDDEN`` as it would directly); a page whose sources did not all answer (the
schema then reports them, and the runner retries).

>>> node_selection("query BulkPage($bulkFirst: Int!, $bulkAfter: String) { orders(first:"
...     " $bulkFirst, after: $bulkAfter) { edges { node { id lines { sku } } }"
...     " _bulkPageInfo: pageInfo { hasNextPage endCursor } } }")
(Selected(key='id', name='id', children=()), Selected(key='lines', name='lines', \
children=(Selected(key='sku', name='sku', children=()),)))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    parse,
)

from omnigraph.bulk.plan import AFTER_VARIABLE, FIRST_VARIABLE, PAGE_INFO_KEY
from omnigraph.graph.context import RequestContext
from omnigraph.graph.matrix import Matrix
from omnigraph.security.principal import Principal

__all__ = [
    "DirectPage",
    "DirectQuery",
    "DirectRoot",
    "Selected",
    "may_read_directly",
    "node_selection",
]


@dataclass(frozen=True, slots=True)
class Selected:
    """One field of the node's selection: its response key, its name, and what it selects."""

    key: str
    name: str
    children: tuple[Selected, ...] = ()


@dataclass(frozen=True, slots=True)
class DirectPage:
    """A page's nodes (as the schema would answer them), where the listing goes on, and how
    many rows its nodes make (the runner's object count)."""

    nodes: list[dict[str, Any]]
    has_next: bool
    end_cursor: str | None
    rows: int


class DirectQuery(Protocol):
    """A node selection compiled to answer pages itself."""

    @property
    def fields(self) -> frozenset[tuple[str, str]]:
        """Every ``(type, field)`` it reads, for the permission matrix."""

    async def page(
        self, ctx: RequestContext, principal: Principal, first: int, after: str | None
    ) -> DirectPage | None:
        """Up to ``first`` nodes after ``after``; None when this page must run through the
        schema (a source did not answer)."""


class DirectRoot(Protocol):
    """What a domain offers for its root connection (``orders``)."""

    def compile(self, schema: GraphQLSchema, node: tuple[Selected, ...]) -> DirectQuery | None:
        """The compiled selection, or None: not one this domain answers exactly."""


def node_selection(document: str) -> tuple[Selected, ...] | None:
    """The node selection of an export page's document (``omnigraph.bulk.resolvers`` wrote
    it: the root field paged by the bulk variables), or None when anything in it is more than
    plain fields: arguments (but the root's paging), directives, fragments, or a field of the
    connection or its edges besides ``edges``, ``node`` and the page's position."""
    try:
        parsed = parse(document)
    except GraphQLError:
        return None
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or len(parsed.definitions) != 1 or operations[0].directives:
        return None
    roots = operations[0].selection_set.selections
    if len(roots) != 1 or not isinstance(roots[0], FieldNode):
        return None
    root = roots[0]
    paging = {
        a.name.value: a.value.name.value
        for a in root.arguments or ()
        if isinstance(a.value, VariableNode)
    }
    if (
        root.directives
        or len(root.arguments or ()) != 2
        or paging != {"first": FIRST_VARIABLE, "after": AFTER_VARIABLE}
    ):
        return None
    connection = _plain(root.selection_set, allow_arguments=False)
    if connection is None:
        return None
    edges = [f for f in connection if (f.alias.value if f.alias else None) != PAGE_INFO_KEY]
    if len(edges) != 1 or edges[0].name.value != "edges":
        return None
    nodes = _plain(edges[0].selection_set, allow_arguments=False)
    if nodes is None or len(nodes) != 1 or nodes[0].name.value != "node":
        return None
    return _selected(nodes[0].selection_set)


def _plain(
    selection_set: SelectionSetNode | None, *, allow_arguments: bool
) -> list[FieldNode] | None:
    if selection_set is None:
        return None
    fields: list[FieldNode] = []
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives:
            return None
        if selection.arguments and not allow_arguments:
            return None
        fields.append(selection)
    return fields


def _selected(selection_set: SelectionSetNode | None) -> tuple[Selected, ...] | None:
    fields = _plain(selection_set, allow_arguments=False)
    if fields is None:
        return None
    out: list[Selected] = []
    seen: set[str] = set()
    for field in fields:
        key = (field.alias or field.name).value
        if key in seen:  # a key selected twice is merged by GraphQL: left to the schema
            return None
        seen.add(key)
        children: tuple[Selected, ...] = ()
        if field.selection_set is not None:
            inner = _selected(field.selection_set)
            if inner is None:
                return None
            children = inner
        out.append(Selected(key, field.name.value, children))
    return tuple(out)


def may_read_directly(
    fields: Iterable[tuple[str, str]], principal: Principal, matrix: Matrix
) -> bool:
    """Whether ``principal`` may read every field with no check left to the row: each one the
    matrix leaves open, or restricts to roles the principal holds (never one it opens to a
    storefront key on its own channel's records only, which is checked row by row)."""
    for type_name, field_name in fields:
        roles = matrix.roles_for(type_name, field_name)
        if roles is None:
            continue
        if f"{type_name}.{field_name}" in matrix.own_channel or not principal.has_any(roles):
            return False
    return True
