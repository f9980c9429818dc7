"""What an operation costs, counted from the document before it runs, and the limit on it.

The cost model (also in docs/SECURITY.md):

- every selected field costs 1; introspection fields (``__typename``, ``__schema``) cost 0;
- a field that takes ``first`` (a connection or paged list) multiplies the cost of its
  selection by ``first``: the literal, the variable's value, or the argument's default when it
  is absent, and never more than the page-size cap (a larger ``first`` is refused anyway);
  the ``edges`` under it are that page and are not multiplied again;
- federation's ``_entities`` multiplies the cost of its selection by the number of entity
  references it is given (and refuses more than ``max_representations``);
- any other list of objects multiplies the cost of its selection by an assumed list size;
- every fragment is counted, even when only one type condition can match, and as often as it
  is spread: a fragment spreading another twice costs twice that one. Each fragment is counted
  once all the same (``count_operation``), so the work is linear in the document's size however
  large the cost; a cost past 2^53 - 1 is reported as 2^53 - 1.

So ``{ orders(first: 100) { edges { node { id lines { sku } } } } }`` costs
``1 + 100 * (1 + 1 + 1 + 1 + 10 * 1) = 1401``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_list_type,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

from omnigraph.graph.limits.shape import capped, fragments_in_order
from omnigraph.graph.overrides import graphql_schema
from omnigraph.settings import QueryLimits

__all__ = ["CostVerdicts", "Count", "QueryCostLimiter", "count_operation", "operation_cost"]

# the argument of federation's ``_entities`` holding the entity references
REPRESENTATIONS: Final = "representations"


@dataclass(frozen=True, slots=True)
class Count:
    """An operation's cost, the most entity references one ``_entities`` field of it is given,
    and how many selections were visited to count them (each selection of the document at most
    twice: a fragment is counted once inside a page and once outside)."""

    cost: int
    representations: int = 0
    visits: int = 0


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
    limits: QueryLimits | None = None,
) -> int:
    """The cost of the operation ``operation_name`` selects from a valid ``document``, with
    the page sizes and list size of ``limits`` (by default, the settings' defaults).

    >>> from omnigraph.api.schema import build_schema
    >>> from graphql import parse
    >>> from omnigraph.graph.overrides import graphql_schema
    >>> schema = graphql_schema(build_schema())
    >>> operation_cost(schema, parse("{ orders(first: 2) { edges { node { id } } } }"))
    7
    """
    return count_operation(
        schema, document, operation_name=operation_name, variables=variables, limits=limits
    ).cost


def count_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
    limits: QueryLimits | None = None,
) -> Count:
    """``operation_cost`` with the representations and the work it took, in time linear in the
    document's size: each fragment is counted once (twice: inside a page and outside) before the
    selections that spread it, and a spread adds its fragment's count."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return Count(0)
    root = schema.get_root_type(operation.operation)
    if root is None:
        return Count(0)
    counter = _Counter(schema, operation, variables or {}, limits or QueryLimits())
    for fragment in fragments_in_order(document):
        counter.count_fragment(fragment)
    cost = counter.selections(root, operation.selection_set, in_page=False)
    return Count(cost, counter.representations, counter.visits)


class _Counter:
    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
        limits: QueryLimits,
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.variables = dict(variables)
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and definition.default_value is not None:
                self.variables[name] = value_from_ast_untyped(definition.default_value)
        # the cost of each fragment's selection (on its type condition), outside and inside a page
        self.fragments: dict[tuple[str, bool], int] = {}
        self.representations = 0
        self.visits = 0

    def count_fragment(self, fragment: FragmentDefinitionNode) -> None:
        on_type = self.schema.get_type(fragment.type_condition.name.value)
        if on_type is None:
            return
        for in_page in (False, True):
            cost = self.selections(on_type, fragment.selection_set, in_page=in_page)
            self.fragments[fragment.name.value, in_page] = cost

    def selections(
        self, parent: GraphQLNamedType, selection_set: SelectionSetNode, *, in_page: bool
    ) -> int:
        total = 0
        for selection in selection_set.selections:
            self.visits += 1
            if isinstance(selection, FieldNode):
                total += self.field(parent, selection, in_page=in_page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on_type = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selections(
                    on_type or parent, selection.selection_set, in_page=in_page
                )
            elif isinstance(selection, FragmentSpreadNode):
                # a fragment spreading itself, round a cycle, adds nothing where the cycle closes
                total += self.fragments.get((selection.name.value, in_page), 0)
        return capped(total)

    def field(self, parent: GraphQLNamedType, node: FieldNode, *, in_page: bool) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        definition = (
            parent.fields.get(name)
            if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
            else None
        )
        if definition is None or node.selection_set is None:
            return 1
        paged = "first" in definition.args
        if paged:
            size = self._first(node, definition.args["first"].default_value)
        elif REPRESENTATIONS in definition.args:
            size = self._representations(node)
        elif is_list_type(get_nullable_type(definition.type)) and not in_page:
            size = self.limits.cost_list_size
        else:
            size = 1
        inner = self.selections(get_named_type(definition.type), node.selection_set, in_page=paged)
        return capped(1 + size * inner)

    def _argument(self, node: FieldNode, name: str) -> tuple[bool, Any]:
        """Whether ``node`` is given the argument ``name``, and its value (a variable's value as
        sent, or its default; a literal as written, list and object literals as Python values).
        """
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            if isinstance(argument.value, VariableNode):
                variable = argument.value.name.value
                return variable in self.variables, self.variables.get(variable)
            if isinstance(argument.value, ListValueNode):
                return True, argument.value.values  # only their number is read
            return True, value_from_ast_untyped(argument.value)
        return False, None

    def _first(self, node: FieldNode, default: Any) -> int:
        given, value = self._argument(node, "first")
        if not given:
            value = default
        size = value if isinstance(value, int) and not isinstance(value, bool) else None
        if size is None:
            size = self.limits.default_page_size
        return max(0, min(size, self.limits.max_page_size))

    def _representations(self, node: FieldNode) -> int:
        """The number of entity references ``_entities`` is given (a single value counts as a
        list of one, as GraphQL coerces it); the largest is remembered for the cap."""
        _, value = self._argument(node, REPRESENTATIONS)
        if value is None:
            size = 0
        elif isinstance(value, list | tuple):
            size = len(value)
        else:
            size = 1
        self.representations = max(self.representations, size)
        return size


class CostVerdicts:
    """The count of recently seen operations, so a repeated one is not walked again.

    The key is the document text, the operation's name and what the cost model reads of the
    variables: each integer (``first``) and the length of each list (``representations``); the
    text's hash is computed in C, where the parsed document's would walk the whole tree.

    >>> verdicts = CostVerdicts(maxsize=8)
    >>> verdicts.lookup("{ a }", None, {"first": 5, "skus": ["X"]}) is None
    True
    """

    def __init__(self, maxsize: int = 1024) -> None:
        self._counts: LRUCache[Any, Count] = LRUCache(maxsize=maxsize)

    @staticmethod
    def _key(query: str, operation_name: str | None, variables: Mapping[str, Any] | None) -> Any:
        # A variable that is sent but is neither an integer nor a list counts as the default
        # page size (or one reference), one that is absent as its declared default: both are
        # told apart, every other value is not.
        numbers = tuple(sorted((name, _read(value)) for name, value in (variables or {}).items()))
        return (query, operation_name, numbers)

    def lookup(
        self, query: str, operation_name: str | None, variables: Mapping[str, Any] | None
    ) -> Count | None:
        return self._counts.get(self._key(query, operation_name, variables))

    def remember(
        self,
        query: str,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        count: Count,
    ) -> None:
        self._counts[self._key(query, operation_name, variables)] = count


def _read(value: Any) -> Any:
    """What the cost model reads of a variable's value."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, list):
        return ("list", len(value))
    return None


class QueryCostLimiter(SchemaExtension):
    """Refuse an operation whose cost exceeds ``limits.max_cost``, or whose ``_entities`` is
    given more than ``limits.max_representations`` references, before any resolver runs.

    The errors are ``TOO_MANY_REPRESENTATIONS`` (with ``representations`` and
    ``maxRepresentations``) and ``QUERY_TOO_COSTLY`` with ``cost`` and ``maxCost`` in its
    extensions, so a client can see by how much to shrink its ``first`` arguments. With
    ``verdicts`` the count of an operation seen before is remembered, not made again.
    """

    def __init__(self, *, limits: QueryLimits, verdicts: CostVerdicts | None = None) -> None:
        self.limits = limits
        self.verdicts = verdicts

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            count = self._count(context.query, document)
            if count.representations > self.limits.max_representations:
                context.result = _too_many_representations(
                    count.representations, self.limits.max_representations
                )
            elif count.cost > self.limits.max_cost:
                context.result = _refusal(count.cost, self.limits.max_cost)
        yield

    def _count(self, query: str | None, document: DocumentNode) -> Count:
        context = self.execution_context
        name, variables = context.operation_name, context.variables
        if self.verdicts is not None and query is not None:
            known = self.verdicts.lookup(query, name, variables)
            if known is not None:
                return known
        count = count_operation(
            graphql_schema(context.schema),
            document,
            operation_name=name,
            variables=variables,
            limits=self.limits,
        )
        if self.verdicts is not None and query is not None:
            self.verdicts.remember(query, name, variables, count)
        return count


def _refusal(cost: int, max_cost: int) -> ExecutionResult:
    error = GraphQLError(
        f"this operation costs {cost}, more than the {max_cost} allowed: ask for smaller pages"
        " (`first`) or fewer nested lists",
        extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "maxCost": max_cost},
    )
    return ExecutionResult(data=None, errors=[error])


def _too_many_representations(representations: int, limit: int) -> ExecutionResult:
    error = GraphQLError(
        f"`_entities` is given {representations} references, more than the {limit} allowed:"
        " ask for fewer at a time",
        extensions={
            "code": "TOO_MANY_REPRESENTATIONS",
            "representations": representations,
            "maxRepresentations": limit,
        },
    )
    return ExecutionResult(data=None, errors=[error])
