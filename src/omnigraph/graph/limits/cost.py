"""What an operation costs, counted from the document before it runs, and the limit on it.

The cost model (also in docs/SECURITY.md and the README):

- every selected field costs 1; introspection fields (``__typename``, ``__schema``) cost 0;
- a field that takes ``first`` (a connection or paged list) multiplies the cost of its
  selection by ``first``: the literal, the variable's value, or the argument's default when it
  is absent, and never more than the page-size cap (a larger ``first`` is refused anyway);
  the ``edges`` under it are that page and are not multiplied again;
- any other list of objects multiplies the cost of its selection by an assumed list size;
- every fragment is counted, even when only one type condition can match.

So ``{ orders(first: 100) { edges { node { id lines { sku } } } } }`` costs
``1 + 100 * (1 + 1 + 1 + 1 + 10 * 1) = 1401``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

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
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_list_type,
)
from strawberry.extensions import SchemaExtension

from omnigraph.graph.overrides import graphql_schema
from omnigraph.settings import QueryLimits

__all__ = ["CostVerdicts", "QueryCostLimiter", "operation_cost"]


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
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    counter = _Counter(schema, document, operation, variables or {}, limits or QueryLimits())
    return counter.selections(root, operation.selection_set, in_page=False)


class _Counter:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
        limits: QueryLimits,
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.variables = dict(variables)
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and isinstance(definition.default_value, IntValueNode):
                self.variables[name] = int(definition.default_value.value)
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }

    def selections(
        self, parent: GraphQLNamedType, selection_set: SelectionSetNode, *, in_page: bool
    ) -> int:
        return sum(
            self.field(on_type, node, in_page=in_page)
            for on_type, node in self._fields(parent, selection_set)
        )

    def _fields(
        self, parent: GraphQLNamedType, selection_set: SelectionSetNode
    ) -> Iterator[tuple[GraphQLNamedType, FieldNode]]:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield parent, selection
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on_type = self.schema.get_type(condition.name.value) if condition else parent
                yield from self._fields(on_type or parent, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    on_type = self.schema.get_type(fragment.type_condition.name.value)
                    yield from self._fields(on_type or parent, fragment.selection_set)

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
        elif is_list_type(get_nullable_type(definition.type)) and not in_page:
            size = self.limits.cost_list_size
        else:
            size = 1
        inner = self.selections(get_named_type(definition.type), node.selection_set, in_page=paged)
        return 1 + size * inner

    def _first(self, node: FieldNode, default: Any) -> int:
        value: Any = default
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value, default)
        size = value if isinstance(value, int) and not isinstance(value, bool) else None
        if size is None:
            size = self.limits.default_page_size
        return max(0, min(size, self.limits.max_page_size))


class CostVerdicts:
    """The cost of recently seen operations, so a repeated one is not walked again.

    The key is the document text, the operation's name and the integer variables (the only
    values the cost model reads: ``first``); the text's hash is computed in C, where the parsed
    document's would walk the whole tree.

    >>> verdicts = CostVerdicts(maxsize=8)
    >>> verdicts.lookup("{ a }", None, {"first": 5, "skus": ["X"]}) is None
    True
    """

    def __init__(self, maxsize: int = 1024) -> None:
        self._costs: LRUCache[Any, int] = LRUCache(maxsize=maxsize)

    @staticmethod
    def _key(query: str, operation_name: str | None, variables: Mapping[str, Any] | None) -> Any:
        # A variable that is sent but is not an integer counts as the default page size, one
        # that is absent as its declared default: both are told apart, every other value is not.
        numbers = tuple(
            sorted(
                (name, value if isinstance(value, int) and not isinstance(value, bool) else None)
                for name, value in (variables or {}).items()
            )
        )
        return (query, operation_name, numbers)

    def lookup(
        self, query: str, operation_name: str | None, variables: Mapping[str, Any] | None
    ) -> int | None:
        return self._costs.get(self._key(query, operation_name, variables))

    def remember(
        self,
        query: str,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        cost: int,
    ) -> None:
        self._costs[self._key(query, operation_name, variables)] = cost


class QueryCostLimiter(SchemaExtension):
    """Refuse an operation whose cost exceeds ``limits.max_cost`` before any resolver runs.

    The error is ``QUERY_TOO_COSTLY`` with ``cost`` and ``maxCost`` in its extensions, so a
    client can see by how much to shrink its ``first`` arguments. With ``verdicts`` the cost of
    an operation seen before is remembered, not counted again.
    """

    def __init__(self, *, limits: QueryLimits, verdicts: CostVerdicts | None = None) -> None:
        self.limits = limits
        self.verdicts = verdicts

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            cost = self._cost(context.query, document)
            if cost > self.limits.max_cost:
                context.result = _refusal(cost, self.limits.max_cost)
        yield

    def _cost(self, query: str | None, document: DocumentNode) -> int:
        context = self.execution_context
        name, variables = context.operation_name, context.variables
        if self.verdicts is not None and query is not None:
            known = self.verdicts.lookup(query, name, variables)
            if known is not None:
                return known
        cost = operation_cost(
            graphql_schema(context.schema),
            document,
            operation_name=name,
            variables=variables,
            limits=self.limits,
        )
        if self.verdicts is not None and query is not None:
            self.verdicts.remember(query, name, variables, cost)
        return cost


def _refusal(cost: int, max_cost: int) -> ExecutionResult:
    error = GraphQLError(
        f"this operation costs {cost}, more than the {max_cost} allowed: ask for smaller pages"
        " (`first`) or fewer nested lists",
        extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "maxCost": max_cost},
    )
    return ExecutionResult(data=None, errors=[error])
