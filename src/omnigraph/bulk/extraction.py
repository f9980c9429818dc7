"""An export page's rows without executing GraphQL field by field: the query's node selection
compiled once into an extraction over the objects the resolvers already build.

A page runs the root field through the schema as the caller, as a direct query would (its
guards, its filters, its cost and depth limits, its batch loads and the truths it preloads for
the whole selection), but its ``edges`` are taken aside (:class:`EdgesAside`) instead of being
completed field by field. The compiled extraction then reads each node's fields by calling the
same resolvers with the same context, and serialises each value with its GraphQL type's own
``serialize``, so a row is the same, byte for byte, as the GraphQL answer's.

What it does not express it leaves to GraphQL: a selection with an abstract type, a field with
a guard other than a role (checked once for the caller when compiled), an argument that is not
a scalar, or a resolver taking its parent or root makes :func:`compile_nodes` answer None, and
the export's pages run through the schema. A page whose extraction meets anything unexpected
(a resolver raising, an answer served degraded because a source was down, a null where the
schema promises a value) is run again through the schema, which answers it with its errors.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from strawberry.extensions import SchemaExtension
from strawberry.permission import PermissionExtension
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from omnigraph.graph.matrix import OwnChannelOrRole
from omnigraph.graph.overrides.resolver_info import resolver_info
from omnigraph.graph.permissions import RequireRole
from omnigraph.security.principal import Principal

__all__ = ["EdgesAside", "Extraction", "NotExtractable", "compile_nodes"]


class NotExtractable(Exception):
    """This page's rows cannot be read without GraphQL: run it through the schema."""


Row = dict[str, Any]
Value = Callable[[Any, Any], Any]  # (source, context) -> the serialised value


@dataclass(frozen=True, slots=True)
class Extraction:
    """The node selection compiled: ``rows`` reads a page of nodes (awaitable when a resolver
    below is a coroutine)."""

    read: Callable[[Sequence[Any], Any], list[Row] | Awaitable[list[Row]]]

    async def rows(self, nodes: Sequence[Any], context: Any) -> list[Row]:
        found = self.read(nodes, context)
        if inspect.isawaitable(found):
            rows: list[Row] = await found
            return rows
        return found


class EdgesAside(SchemaExtension):
    """Takes the root connection's ``edges`` aside into ``taken`` (the connection answers none),
    so the page's nodes are extracted rather than completed by GraphQL."""

    def __init__(self, taken: dict[int, Any]) -> None:
        self.taken = taken

    def resolve(
        self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any
    ) -> Any:
        result = _next(root, info, *args, **kwargs)
        path = info.path
        if path.prev is None or path.prev.prev is not None or info.field_name != "edges":
            return result
        if inspect.isawaitable(result):
            return self._aside_later(result, info.context)
        self.taken[id(info.context)] = result
        return []

    async def _aside_later(self, result: Awaitable[Any], context: Any) -> list[Any]:
        self.taken[id(context)] = await result
        return []


def compile_nodes(
    schema: GraphQLSchema,
    document: DocumentNode,
    principal: Principal,
    info_class: type[Any],
    path: Sequence[str],
) -> Extraction | None:
    """The extraction of the nodes the one operation of ``document`` selects at ``path``
    (response keys: root, edges, node), or None when it cannot express them (see the module)."""
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    compiler = _Compiler(schema, fragments, operation, principal, info_class)
    assert schema.query_type is not None
    parent: GraphQLObjectType = schema.query_type
    selection_sets: list[SelectionSetNode] = [operation.selection_set]
    for key in path:
        fields = compiler.collect(parent, selection_sets)
        if key not in fields:
            return None
        nodes = fields[key]
        named = get_named_type(parent.fields[nodes[0].name.value].type)
        if not isinstance(named, GraphQLObjectType):
            return None
        parent = named
        selection_sets = [n.selection_set for n in nodes if n.selection_set is not None]
    try:
        row = compiler.object_reader(parent, selection_sets)
        awaiting = compiler.object_reader(parent, selection_sets, awaits=True)
    except NotExtractable:
        return None
    if row.is_async:

        async def read_async(nodes: Sequence[Any], context: Any) -> list[Row]:
            return [await awaiting.read(node, context) for node in nodes]

        return Extraction(read_async)
    read_plain = row.read

    def read(nodes: Sequence[Any], context: Any) -> list[Row] | Awaitable[list[Row]]:
        rows: list[Row] = []
        for index, node in enumerate(nodes):
            try:
                rows.append(read_plain(node, context))
            except _Awaited:  # a value not at hand: this node and the rest, awaiting
                return _read_rest(rows, nodes[index:], context)
        return rows

    async def _read_rest(rows: list[Row], rest: Sequence[Any], context: Any) -> list[Row]:
        return rows + [await awaiting.read(node, context) for node in rest]

    return Extraction(read)


class _Awaited(Exception):
    """A resolver answered an awaitable where the plain reading expected a value."""


@dataclass(frozen=True, slots=True)
class _RawInfo:
    """What a resolver reads of graphql-core's ``GraphQLResolveInfo`` (through strawberry's
    ``Info``): the field, where it is, the operation, and the page's context."""

    field_name: str
    field_nodes: list[FieldNode]
    return_type: GraphQLOutputType
    parent_type: GraphQLObjectType
    path: Path
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    operation: OperationDefinitionNode
    context: Any
    root_value: Any = None
    variable_values: Any = None


@dataclass(frozen=True, slots=True)
class _Reader:
    read: Value
    is_async: bool


class _Compiler:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        principal: Principal,
        info_class: type[Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.operation = operation
        self.principal = principal
        self.info_class = info_class

    def collect(
        self, parent: GraphQLObjectType, selection_sets: Iterable[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        """The field nodes of ``selection_sets`` on ``parent`` by response key, in the order
        GraphQL answers them (each key where it first appears)."""
        found: dict[str, list[FieldNode]] = {}

        def visit(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if not _included(selection.directives or ()):
                    continue
                if isinstance(selection, FieldNode):
                    found.setdefault((selection.alias or selection.name).value, []).append(
                        selection
                    )
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    if condition is None or self._applies(condition.name.value, parent):
                        visit(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments[selection.name.value]
                    if self._applies(fragment.type_condition.name.value, parent):
                        visit(fragment.selection_set)

        for selection_set in selection_sets:
            visit(selection_set)
        return found

    def _applies(self, condition: str, parent: GraphQLObjectType) -> bool:
        if condition == parent.name:
            return True
        named = self.schema.get_type(condition)
        if not isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            return False
        return self.schema.is_sub_type(named, parent)

    def object_reader(
        self,
        parent: GraphQLObjectType,
        selection_sets: Sequence[SelectionSetNode],
        *,
        awaits: bool = False,
    ) -> _Reader:
        """The reader of an object's row: plain calls, unless a resolver below is a coroutine
        function or ``awaits`` (every value awaited when it is awaitable)."""
        fields = [
            (key, self.field_reader(parent, key, nodes, awaits))
            for key, nodes in self.collect(parent, selection_sets).items()
        ]
        if not any(reader.is_async for _, reader in fields):
            plain = [(key, reader.read) for key, reader in fields]

            def read(source: Any, context: Any) -> Row:
                return {key: value(source, context) for key, value in plain}

            return _Reader(read, False)

        async def read_async(source: Any, context: Any) -> Row:
            row: Row = {}
            for key, reader in fields:
                value = reader.read(source, context)
                row[key] = await value if reader.is_async else value
            return row

        return _Reader(read_async, True)

    def field_reader(
        self, parent: GraphQLObjectType, key: str, nodes: list[FieldNode], awaits: bool
    ) -> _Reader:
        name = nodes[0].name.value
        if name == "__typename":
            typename = parent.name
            return _Reader(lambda source, context: typename, False)
        field = parent.fields[name]
        definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if not isinstance(definition, StrawberryField):
            raise NotExtractable(f"{parent.name}.{name}")
        self._check_guards(definition, parent.name, name)
        resolve = self._resolver(parent, field, definition, nodes)
        complete = self._completer(field.type, nodes, awaits)
        resolver_async = awaits or (definition.base_resolver is not None and definition.is_async)
        if not resolver_async and not complete.is_async:
            finish = complete.read

            def read(source: Any, context: Any) -> Any:
                value = resolve(source, context)
                if inspect.isawaitable(value):  # a truth not made for the page: unexpected
                    getattr(value, "close", lambda: None)()  # not started: nothing is lost
                    raise _Awaited(f"{parent.name}.{name}")
                return finish(value, context)

            return _Reader(read, False)

        async def read_async(source: Any, context: Any) -> Any:
            value = resolve(source, context)
            if inspect.isawaitable(value):
                value = await value
            done = complete.read(value, context)
            return await done if complete.is_async else done

        return _Reader(read_async, True)

    def _check_guards(self, definition: StrawberryField, type_name: str, name: str) -> None:
        """A field's role guard, checked for the caller once; any other guard: not extracted."""
        for extension in definition.extensions:
            if not isinstance(extension, PermissionExtension):
                raise NotExtractable(f"{type_name}.{name} has {type(extension).__name__}")
            for permission in extension.permissions:
                # a role is the same for every row; a storefront key's own channel is not
                if type(permission) not in (RequireRole, OwnChannelOrRole):
                    raise NotExtractable(f"{type_name}.{name} is guarded per row")
                assert isinstance(permission, RequireRole)
                if not self.principal.has_any(permission.roles):
                    raise NotExtractable(f"{type_name}.{name} is refused to the caller")

    def _resolver(
        self,
        parent: GraphQLObjectType,
        field: GraphQLField,
        definition: StrawberryField,
        nodes: list[FieldNode],
    ) -> Callable[[Any, Any], Any]:
        resolver = definition.base_resolver
        if resolver is None:
            attribute = definition.python_name
            return lambda source, context: getattr(source, attribute)
        if resolver.parent_parameter or resolver.root_parameter or not resolver.self_parameter:
            raise NotExtractable(f"{parent.name}.{definition.python_name}")
        function = resolver.wrapped_func
        if not callable(function):
            raise NotExtractable(f"{parent.name}.{definition.python_name}")
        arguments = self._arguments(field, definition, nodes[0])
        info_parameter = resolver.info_parameter
        if info_parameter is None:
            return lambda source, context: function(source, **arguments)
        info_name = info_parameter.name
        infos: dict[int, Any] = {}  # one per page's context, made on first use

        def info_for(context: Any) -> Any:
            info = infos.get(id(context))
            if info is None:
                infos.clear()
                raw = _RawInfo(
                    field_name=nodes[0].name.value,
                    field_nodes=nodes,
                    return_type=field.type,
                    parent_type=parent,
                    path=Path(None, (nodes[0].alias or nodes[0].name).value, parent.name),
                    schema=self.schema,
                    fragments=self.fragments,
                    operation=self.operation,
                    context=context,
                )
                info = infos[id(context)] = resolver_info(self.info_class, raw, definition)
            return info

        def call(source: Any, context: Any) -> Any:
            return function(source, **{info_name: info_for(context)}, **arguments)

        return call

    def _arguments(
        self, field: GraphQLField, definition: StrawberryField, node: FieldNode
    ) -> dict[str, Any]:
        if not field.args:
            return {}
        for name, argument in field.args.items():
            if not isinstance(get_named_type(argument.type), GraphQLScalarType):
                raise NotExtractable(f"the argument {name} is not a scalar")
        values = get_argument_values(field, node, None)
        python_names = {
            (argument.graphql_name or argument.python_name): argument.python_name
            for argument in definition.arguments
        }
        out: dict[str, Any] = {}
        for name, value in values.items():
            python = python_names.get(name)
            if python is None:
                python = next(
                    (a.python_name for a in definition.arguments if _camel(a.python_name) == name),
                    None,
                )
            if python is None:
                raise NotExtractable(f"the argument {name}")
            out[python] = value
        return out

    def _completer(self, type_: GraphQLOutputType, nodes: list[FieldNode], awaits: bool) -> _Reader:
        if isinstance(type_, GraphQLNonNull):
            inner = self._completer(type_.of_type, nodes, awaits)
            if inner.is_async:

                async def required_async(value: Any, context: Any) -> Any:
                    if value is None:
                        raise NotExtractable("a null where a value is promised")
                    return await inner.read(value, context)

                return _Reader(required_async, True)
            read_inner = inner.read

            def required(value: Any, context: Any) -> Any:
                if value is None:
                    raise NotExtractable("a null where a value is promised")
                return read_inner(value, context)

            return _Reader(required, False)
        if isinstance(type_, GraphQLList):
            item = self._completer(type_.of_type, nodes, awaits)
            if item.is_async:

                async def many_async(value: Any, context: Any) -> Any:
                    if value is None:
                        return None
                    return [await item.read(v, context) for v in value]

                return _Reader(many_async, True)
            read_item = item.read

            def many(value: Any, context: Any) -> Any:
                return None if value is None else [read_item(v, context) for v in value]

            return _Reader(many, False)
        if isinstance(type_, GraphQLScalarType | GraphQLEnumType):
            serialize = type_.serialize
            return _Reader(
                lambda value, context: None if value is None else serialize(value), False
            )
        if not isinstance(type_, GraphQLObjectType):
            raise NotExtractable(f"{type_} is abstract")
        row = self.object_reader(
            type_, [n.selection_set for n in nodes if n.selection_set is not None], awaits=awaits
        )
        if row.is_async:
            read_row_async = row.read

            async def object_async(value: Any, context: Any) -> Any:
                return None if value is None else await read_row_async(value, context)

            return _Reader(object_async, True)
        read_row = row.read
        return _Reader(
            lambda value, context: None if value is None else read_row(value, context), False
        )


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _included(directives: Iterable[DirectiveNode]) -> bool:
    for directive in directives:
        name = directive.name.value
        if name not in ("skip", "include"):
            continue
        for argument in directive.arguments or ():
            literal = argument.value
            if (
                argument.name.value == "if"
                and isinstance(literal, BooleanValueNode)
                and literal.value == (name == "skip")
            ):
                return False
    return True
