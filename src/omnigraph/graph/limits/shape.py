"""A document's shape, counted in one pass: depth, aliases and fields, each fragment once.

strawberry's depth and alias limiters walk into a fragment every time it is spread, so a
document whose fragments each spread the previous one twice costs them twice the work per
fragment: a 1 KB document of 22 fragments held the event loop for 24 s. Here each fragment's
shape is worked out once, fragments before the ones that spread them, and a spread adds the
shape of its fragment, so the work is linear in the document's size while the counts are those
of the expanded document (a fragment spread twice counts twice). A fragment that spreads itself,
round any cycle, adds nothing where the cycle closes (graphql-core's ``NoFragmentCyclesRule``
refuses the document anyway).

Counts past ``CEILING`` (2^53 - 1, the largest integer a JSON client reads exactly) stay at it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

from omnigraph.settings import QueryLimits

__all__ = [
    "CEILING",
    "DocumentShape",
    "Shape",
    "document_shape",
    "fragments_in_order",
    "shape_rule",
]

CEILING: Final = 2**53 - 1


def capped(value: int) -> int:
    """``value``, or ``CEILING`` past it.

    >>> capped(2**60) == CEILING
    True
    """
    return value if value < CEILING else CEILING


@dataclass(frozen=True, slots=True)
class Shape:
    """What a selection set holds once every fragment spread in it is expanded.

    ``depth`` is counted as strawberry's depth limiter counts it: a leaf field, and an
    introspection field with everything under it, is 0, any other field one more than the
    deepest field it selects. ``aliases`` and ``fields`` count every aliased field and every
    field, a fragment's as often as it is spread.
    """

    depth: int = 0
    aliases: int = 0
    fields: int = 0


EMPTY: Final = Shape()


@dataclass(frozen=True, slots=True)
class DocumentShape:
    """The shape of each operation of a document, by name (``None`` for an anonymous one), and
    how many selections were visited to work it out: each selection of the document once."""

    operations: tuple[tuple[str | None, Shape], ...]
    visits: int

    def operation(self, name: str | None) -> Shape:
        return next(shape for named, shape in self.operations if named == name)

    @property
    def aliases(self) -> int:
        return capped(sum(shape.aliases for _, shape in self.operations))

    @property
    def fields(self) -> int:
        return capped(sum(shape.fields for _, shape in self.operations))


def fragments_in_order(document: DocumentNode) -> list[FragmentDefinitionNode]:
    """The document's fragments (the first of each name), each after every fragment it spreads,
    except where a cycle closes; without recursion, so a long chain of fragments cannot exhaust
    the stack.

    >>> from graphql import parse
    >>> doc = parse("fragment A on Q { ...B } fragment B on Q { x } query { ...A }")
    >>> [f.name.value for f in fragments_in_order(doc)]
    ['B', 'A']
    """
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragments.setdefault(definition.name.value, definition)
    order: list[FragmentDefinitionNode] = []
    state: dict[str, bool] = {}  # False: being visited (on the stack), True: placed
    for root in fragments:
        if root in state:
            continue
        state[root] = False
        stack = [(root, iter(_spread_names(fragments[root].selection_set)))]
        while stack:
            name, spreads = stack[-1]
            for spread in spreads:
                if spread in fragments and spread not in state:
                    state[spread] = False
                    stack.append((spread, iter(_spread_names(fragments[spread].selection_set))))
                    break
            else:
                stack.pop()
                state[name] = True
                order.append(fragments[name])
    return order


def _spread_names(selection_set: SelectionSetNode) -> Iterator[str]:
    """The names of the fragments spread anywhere in ``selection_set`` (without entering them)."""
    pending = [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                yield selection.name.value
            elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                pending.append(selection.selection_set)


class _Walker:
    """Shapes selection sets, with the shapes of the fragments worked out so far."""

    def __init__(self) -> None:
        self.fragments: dict[str, Shape] = {}
        self.visits = 0

    def shape(self, selection_set: SelectionSetNode) -> Shape:
        depth = aliases = fields = 0
        for selection in selection_set.selections:
            self.visits += 1
            if isinstance(selection, FieldNode):
                fields += 1
                if selection.alias is not None:
                    aliases += 1
                if selection.selection_set is None:
                    continue
                inner = self.shape(selection.selection_set)
                aliases += inner.aliases
                fields += inner.fields
                if not selection.name.value.startswith("__"):
                    depth = max(depth, 1 + inner.depth)
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = self.shape(selection.selection_set)
            else:
                assert isinstance(selection, FragmentSpreadNode)
                inner = self.fragments.get(selection.name.value, EMPTY)
            depth = max(depth, inner.depth)
            aliases += inner.aliases
            fields += inner.fields
        return Shape(depth, capped(aliases), capped(fields))


def document_shape(document: DocumentNode) -> DocumentShape:
    """The shape of each operation of ``document``, in time linear in its size.

    >>> from graphql import parse
    >>> doc = parse(
    ...     "query Q { ...F2 } fragment F2 on Query { ...F1 ...F1 }"
    ...     " fragment F1 on Query { ...F0 ...F0 } fragment F0 on Query { a: orders { id } }"
    ... )
    >>> document_shape(doc).operation("Q")
    Shape(depth=1, aliases=4, fields=8)
    """
    walker = _Walker()
    for fragment in fragments_in_order(document):
        walker.fragments[fragment.name.value] = walker.shape(fragment.selection_set)
    operations = tuple(
        (definition.name.value if definition.name else None, walker.shape(definition.selection_set))
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    )
    return DocumentShape(operations, walker.visits)


def shape_rule(limits: QueryLimits) -> type[ValidationRule]:
    """A validation rule refusing a document past ``limits``: its depth (per operation, the
    message strawberry's ``QueryDepthLimiter`` gives), its aliases (all operations together, as
    strawberry's ``MaxAliasesLimiter`` counts them) and its fields (``TOO_MANY_NODES``).

    Made once per process: the validation verdicts are remembered per rule set."""

    class DocumentShapeRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            _check(context.document, limits, context.report_error)

    return DocumentShapeRule


def _check(
    document: DocumentNode, limits: QueryLimits, report: Callable[[GraphQLError], None]
) -> None:
    shape = document_shape(document)
    for name, operation in shape.operations:
        if operation.depth > limits.max_depth:
            report(
                GraphQLError(
                    f"'{name or 'anonymous'}' exceeds maximum operation depth of {limits.max_depth}"
                )
            )
    if shape.aliases > limits.max_aliases:
        report(GraphQLError(f"{shape.aliases} aliases found. Allowed: {limits.max_aliases}"))
    if shape.fields > limits.max_nodes:
        report(
            GraphQLError(
                f"this document selects {shape.fields} fields, each fragment counted every time"
                f" it is spread: more than the {limits.max_nodes} allowed",
                extensions={
                    "code": "TOO_MANY_NODES",
                    "nodes": shape.fields,
                    "maxNodes": limits.max_nodes,
                },
            )
        )
