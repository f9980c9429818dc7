"""Resolvers without arguments or extensions called straight, not through strawberry's wrapper.

strawberry wraps every resolver for the general case: it converts arguments, lets field
extensions reshape them and chain around the call (``get_arguments``, a ``functools.reduce`` of
partials), then calls ``StrawberryField.get_result``, which calls the ``StrawberryResolver``,
which calls the function. For a resolver that takes only ``self`` (or
``root``, or a ``strawberry.Parent``) and ``info`` and has no extension (``Order.state``,
``Order.totals``, ``OrderLine.shipped``: 476 calls a reporting page; every availability
answer's ``buckets`` and ``explanation``) all of that ends in the same call:
``resolver(source, info=Info(...))``. ``lighten`` points graphql-core at that call directly. A
field with arguments, an extension, or a schema with exception handlers keeps strawberry's
wrapper. Errors propagate from the function exactly as they did through it.

A field whose one extension is a permission guard (strawberry's ``PermissionExtension``: the
matrix puts one on every field of a closed type, ``Payment``'s and ``Exception``'s, and on the
money fields) is called the same way once every one of its permissions answers ``True``
(strawberry's ``has_permission``, with the same ``Info``); any other answer hands the field to
strawberry's own wrapper, which asks again and refuses, fails silently or raises as it always
does. A permission whose check is a coroutine function keeps the wrapper.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any

from graphql import GraphQLField, GraphQLObjectType, GraphQLResolveInfo
from strawberry.permission import PermissionExtension
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

__all__ = ["info_free", "lighten"]

Resolve = Callable[..., Any]

# the direct calls made here whose resolver takes no ``info``: they never read the one they
# are handed, so an executor may hand them ``None`` and build an info only if it needs one
_INFO_FREE: weakref.WeakSet[Resolve] = weakref.WeakSet()


def info_free(resolve: Resolve | None) -> bool:
    """Whether ``resolve`` is a direct call of a resolver that takes no ``info`` (it never
    reads the one it is handed)."""
    return resolve is not None and resolve in _INFO_FREE


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
            original = field.resolve
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if original is None or not isinstance(definition, StrawberryField) or field.args:
                continue  # arguments: strawberry's wrapper converts them
            direct = (
                _direct_call(definition, info_class)
                if not definition.extensions
                else _guarded(definition, info_class, original)
            )
            if direct is not None:
                changed.append((field, original))
                field.resolve = direct
    return changed


def _direct_call(definition: StrawberryField, info_class: type[Any]) -> Resolve | None:
    """The call strawberry's wrapper ends in for ``definition``'s resolver (no arguments)."""
    resolver = definition.base_resolver
    if resolver is None:
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

        def resolve_plain(source: Any, info: GraphQLResolveInfo[Any] | None) -> Any:
            return function(source)

        _INFO_FREE.add(resolve_plain)
        return resolve_plain
    info_name = info_parameter.name

    def resolve(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
        return function(source, **{info_name: info_class(_raw_info=info, _field=definition)})

    return resolve


def _guarded(
    definition: StrawberryField, info_class: type[Any], original: Resolve
) -> Resolve | None:
    """A field without arguments whose one extension is strawberry's permission guard: its
    permissions asked as the guard asks them, then the attribute read or the resolver called
    as ``_direct_call`` calls it; anything but ``True`` from a permission goes to ``original``
    (strawberry's wrapper), which decides as it always does."""
    extensions = definition.extensions
    if len(extensions) != 1 or type(extensions[0]) is not PermissionExtension:
        return None
    permissions = tuple(extensions[0].permissions)
    if any(inspect.iscoroutinefunction(type(p).has_permission) for p in permissions):
        return None
    if definition.base_resolver is None:
        if definition.default_resolver is not getattr:
            return None
        name = definition.python_name

        def read(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
            return getattr(source, name)

        answered: Resolve = read
    else:
        call = _direct_call(definition, info_class)
        if call is None:
            return None
        answered = call

    def resolve_guarded(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
        guarded_info = info_class(_raw_info=info, _field=definition)
        for permission in permissions:
            allowed = permission.has_permission(source, guarded_info)
            if allowed is not True:
                if inspect.iscoroutine(allowed):
                    allowed.close()  # strawberry's wrapper makes its own and refuses it
                return original(source, info)
        return answered(source, info)

    return resolve_guarded


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
    if info_name is None and not positional and _only_parameter(function, by_name):

        def resolve_root(source: Any, info: GraphQLResolveInfo[Any] | None) -> Any:
            return function(source)  # its one parameter, which may be passed by position

        _INFO_FREE.add(resolve_root)
        return resolve_root

    def resolve_general(source: Any, info: GraphQLResolveInfo[Any] | None) -> Any:
        named = dict.fromkeys(by_name, source)
        if info_name is not None:
            named[info_name] = info_class(_raw_info=info, _field=definition)
        return function(source, **named) if positional else function(**named)

    if info_name is None:
        _INFO_FREE.add(resolve_general)
    return resolve_general


def _only_parameter(function: Resolve, names: list[str]) -> bool:
    """Whether ``function`` takes exactly one parameter, named ``names``' one, which a call may
    pass by position (``def _buckets(root)``): then ``function(source)`` is strawberry's call."""
    if len(names) != 1:
        return False
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    # one parameter: the one ``names`` holds (strawberry found it among them)
    return len(parameters) == 1 and parameters[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
