"""What one row of an export holds: read off the query once, when the export starts
(``omnigraph.bulk.resolvers``), and kept with it as plain data, so the runner and the formats
need no GraphQL library.

A node of the root connection is one row. A nested list of objects (an order's ``lines``, a
payout's ``balanceTransactions``) is a level of its own, as Shopify flattens nested
connections: each of its items is a row after its parent's, with ``__parentId``, the ``id`` of
the row it belongs to. A row of a type without an ``id`` that has levels below it (an order
line with its provenance) gets ``__id``, its parent's id, the field and its index
(``<order id>/lines/0``), for its own children to name. Nested single objects (``totals``)
stay inside their row.

>>> shape = Shape.from_json({"columns": [
...     {"key": "id", "kind": "scalar", "type": "ID"},
...     {"key": "lines", "kind": "level", "shape": {"columns": [
...         {"key": "sku", "kind": "scalar", "type": "String"}]}}], "idKey": "id"})
>>> [(level.name, row) for level, row in flatten({"id": "O1", "lines": [{"sku": "A"}]},
...                                               Level.root("orders", shape))]
[('orders', {'id': 'O1'}), ('orders.lines', {'sku': 'A', '__parentId': 'O1'})]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ID_COLUMN",
    "PARENT_COLUMN",
    "Column",
    "Level",
    "Page",
    "Plan",
    "Shape",
    "count_rows",
    "flatten",
]

PARENT_COLUMN = "__parentId"
ID_COLUMN = "__id"
# the page's position, asked beside the user's selection under an alias of its own
PAGE_INFO_KEY = "_bulkPageInfo"
FIRST_VARIABLE = "bulkFirst"
AFTER_VARIABLE = "bulkAfter"

ColumnKind = Literal["scalar", "object", "level"]


@dataclass(frozen=True, slots=True)
class Column:
    """One selected field of a row, by its response key: a scalar (its GraphQL type's name;
    ``list`` for a list of them), an object kept inside the row, or a level of its own."""

    key: str
    kind: ColumnKind
    type: str = "String"
    list: bool = False
    shape: Shape | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "kind": self.kind}
        if self.kind == "scalar":
            out["type"] = self.type
            if self.list:
                out["list"] = True
        if self.shape is not None:
            out["shape"] = self.shape.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Column:
        shape = data.get("shape")
        return cls(
            key=str(data["key"]),
            kind=data["kind"],
            type=str(data.get("type", "String")),
            list=bool(data.get("list", False)),
            shape=Shape.from_json(shape) if shape is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Shape:
    """The columns of an object's selection; ``id_key`` is the response key of its ``id``
    when selected; ``synthetic_id`` when its rows carry ``__id`` (see the module)."""

    columns: tuple[Column, ...]
    id_key: str | None = None
    synthetic_id: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"columns": [c.to_json() for c in self.columns]}
        if self.id_key is not None:
            out["idKey"] = self.id_key
        if self.synthetic_id:
            out["syntheticId"] = True
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Shape:
        return cls(
            columns=tuple(Column.from_json(c) for c in data["columns"]),
            id_key=data.get("idKey"),
            synthetic_id=bool(data.get("syntheticId", False)),
        )

    def has_levels(self) -> bool:
        """Whether any level hangs below this object (inside its nested objects too)."""
        return any(
            c.kind == "level" or (c.shape is not None and c.shape.has_levels())
            for c in self.columns
        )


@dataclass(frozen=True, slots=True)
class Level:
    """The rows of one file (CSV) or one kind of JSONL line: the root connection's nodes, or a
    nested list of objects, named by its path (``orders.lines``)."""

    name: str
    shape: Shape
    path: tuple[str, ...] = ()  # response keys from the parent row down to the list
    children: tuple[Level, ...] = field(default=())

    @classmethod
    def root(cls, name: str, shape: Shape) -> Level:
        return cls(name, shape, (), _levels_below(name, shape, ()))

    def walk(self) -> Iterator[Level]:
        """This level and every level below it, parents first."""
        yield self
        for child in self.children:
            yield from child.walk()


def _levels_below(name: str, shape: Shape, path: tuple[str, ...]) -> tuple[Level, ...]:
    found: list[Level] = []
    for column in shape.columns:
        here = (*path, column.key)
        if column.shape is None:
            continue
        if column.kind == "level":
            level_name = f"{name}.{'.'.join(here)}"
            found.append(
                Level(level_name, column.shape, here, _levels_below(level_name, column.shape, ()))
            )
        else:
            found.extend(_levels_below(name, column.shape, here))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Page:
    """One page's answer, as the runner needs it."""

    nodes: list[dict[str, Any]]
    has_next: bool
    end_cursor: str | None


@dataclass(frozen=True, slots=True)
class Plan:
    """How to ask for a page and what its rows hold.

    ``document`` is the user's query with the paging added (``first: $bulkFirst, after:
    $bulkAfter`` on the root field, and its ``pageInfo`` under an alias); ``page_size`` is the
    largest ``first`` whose cost the limits allow."""

    document: str
    root_name: str
    root_key: str
    edges_key: str
    node_key: str
    page_size: int
    shape: Shape

    def to_json(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "rootName": self.root_name,
            "rootKey": self.root_key,
            "edgesKey": self.edges_key,
            "nodeKey": self.node_key,
            "pageSize": self.page_size,
            "shape": self.shape.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            document=str(data["document"]),
            root_name=str(data["rootName"]),
            root_key=str(data["rootKey"]),
            edges_key=str(data["edgesKey"]),
            node_key=str(data["nodeKey"]),
            page_size=int(data["pageSize"]),
            shape=Shape.from_json(data["shape"]),
        )

    @property
    def root(self) -> Level:
        return Level.root(self.root_name, self.shape)

    def variables(self, after: str | None) -> dict[str, Any]:
        return {FIRST_VARIABLE: self.page_size, AFTER_VARIABLE: after}

    def page_of(self, data: Mapping[str, Any]) -> Page:
        """The nodes and position of one page's ``data``."""
        connection = data.get(self.root_key) or {}
        edges = connection.get(self.edges_key) or []
        nodes = [edge[self.node_key] for edge in edges if edge and edge.get(self.node_key)]
        info = connection.get(PAGE_INFO_KEY) or {}
        return Page(nodes, bool(info.get("hasNextPage")), info.get("endCursor"))


def count_rows(node: Mapping[str, Any], shape: Shape) -> int:
    """The rows one node makes: itself and every item of the levels below it."""
    rows = 1
    for column in shape.columns:
        value = node.get(column.key)
        if value is None or column.shape is None:
            continue
        if column.kind == "level":
            rows += sum(count_rows(item, column.shape) for item in value if item is not None)
        else:
            rows += count_rows(value, column.shape) - 1
    return rows


def flatten(
    node: Mapping[str, Any], level: Level, parent: str | None = None, synthetic: str = ""
) -> Iterator[tuple[Level, dict[str, Any]]]:
    """The rows of ``node`` (a row of ``level``) and of everything below it, each after its
    parent: the row without its levels (``__parentId`` last, as Shopify writes it)."""
    children: list[tuple[Level, list[Any]]] = []
    row: dict[str, Any] = {}
    if level.shape.synthetic_id:
        row[ID_COLUMN] = synthetic
    row.update(_without_levels(node, level.shape, (), level, children))
    if parent is not None:
        row[PARENT_COLUMN] = parent
    yield level, row
    if not children:
        return
    key = synthetic if level.shape.synthetic_id else _id_of(node, level.shape)
    for child, items in children:
        where = "/".join(child.path)
        for index, item in enumerate(items):
            if item is not None:
                yield from flatten(item, child, key, f"{key}/{where}/{index}")


def _id_of(node: Mapping[str, Any], shape: Shape) -> str | None:
    value = node.get(shape.id_key) if shape.id_key else None
    return None if value is None else str(value)


def _without_levels(
    value: Mapping[str, Any],
    shape: Shape,
    path: tuple[str, ...],
    level: Level,
    children: list[tuple[Level, list[Any]]],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in shape.columns:
        if column.key not in value:
            continue
        item = value[column.key]
        here = (*path, column.key)
        if column.kind == "level":
            child = next(c for c in level.children if c.path == here)
            children.append((child, item or []))
        elif column.kind == "object" and column.shape is not None and item is not None:
            out[column.key] = _without_levels(item, column.shape, here, level, children)
        else:
            out[column.key] = item
    return out
