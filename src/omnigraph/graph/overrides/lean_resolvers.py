"""Resolvers without arguments or extensions called straight, not through strawberry's wrapper.

strawberry wraps every resolver for the general case: it converts arguments, lets field
extensions reshape them and chain around the call (``get_arguments``, a ``functools.reduce`` of
partials), then calls ``StrawberryField.get_result``, which calls the ``StrawberryResolver``,
which calls the function. For a resolver that takes only ``self`` (or
``root``, or a ``strawberry.Parent``) and ``info`` and has no extension (``Order.state``,
``Order.totals``, ``OrderLine.shipped``: 476 calls a reporting page; every availability
answer's ``buckets`` and ``explanation``) all of that ends in the same call:
``resolver(source, info=Info(...))``. ``lighten`` points graphql-core at that call directly. A
field with arguments, an extension (every permission guard is one), or a schema with exception
handlers keeps strawberry's wrapper. Errors propagate from the function exactly as they did
through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLField, GraphQLObjectType, GraphQLResolveInfo
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

__all__ = ["lighten"]

Resolve = Callable[..., Any]


def lighten(schema: Any) -> list[tuple[GraphQLField, Resolve]]:
    """Give each eligible field of ``schema`` (a ``strawberry.Schema``) a direct resolver;
    answer the fields changed with their previous resolvers."""
    converter = schema.schema_converter
    if getattr(converter, "_exception_handler_specs", None):
        return []  # handlers must see every resolver's exceptions
    info_class = schema.config.info_class
    changed: list[tuple[GraphQLField, Resolve]] = []
    for name, named_type in schema._schema.type_map.items():
        if not isinstance(named_type, GraphQLObjectType) or name.startswith("__"):
            continue
        for field in named_type.fields.values():
            direct = _direct(field, info_class)
            if direct is not None and field.resolve is not None:
                changed.append((field, field.resolve))
                field.resolve = direct
    return changed


def _direct(field: GraphQLField, info_class: type[Any]) -> Resolve | None:
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or field.args:
        return None
    resolver = definition.base_resolver
    if resolver is None or definition.extensions or definition.arguments:
        return None
    wrapped = resolver.wrapped_func
    if not callable(wrapped):
        return None  # a bare staticmethod or classmethod: strawberry's wrapper refuses it
    function: Resolve = wrapped
    info_parameter = resolver.info_parameter
    # strawberry passes the source as ``self`` positionally and as ``root``/``parent`` by name
    by_name = [p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p]
    if by_name or not resolver.self_parameter:
        return _general(
            function,
            resolver.self_parameter is not None,
            by_name,
            info_parameter,
            info_class,
            definition,
        )
    if info_parameter is None:

        def resolve_plain(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
            return function(source)

        return resolve_plain
    info_name = info_parameter.name

    def resolve(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
        return function(source, **{info_name: info_class(_raw_info=info, _field=definition)})

    return resolve


def _general(
    function: Resolve,
    positional: bool,
    by_name: list[str],
    info_parameter: Any,
    info_class: type[Any],
    definition: StrawberryField,
) -> Resolve:
    """The call strawberry's ``get_arguments`` makes for a resolver with no argument: the
    source as ``self`` (positionally) and under each ``root``/``parent`` name, ``Info`` under
    its name."""
    info_name = None if info_parameter is None else info_parameter.name

    def resolve_general(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
        named = dict.fromkeys(by_name, source)
        if info_name is not None:
            named[info_name] = info_class(_raw_info=info, _field=definition)
        return function(source, **named) if positional else function(**named)

    return resolve_general
