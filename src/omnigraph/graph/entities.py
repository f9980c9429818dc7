"""Federation ``_entities`` representations checked before strawberry reads them.

strawberry's ``_entities`` resolver trusts each representation: one that is not an object, has
no ``__typename`` or names no type fails the whole list with an internal error, and one without
its key, with a field the type does not take or a key of the wrong type raises inside the type's
``resolve_reference``. A gateway never sends such a thing, so it is a client's mistake:
``BAD_USER_INPUT`` at its own index (with ``index``), the others answered as usual.

A representation is an object with ``__typename`` naming an entity of this schema (a type with
a ``@key``), each of that key's fields, and no field but the key's and those its
``resolve_reference`` takes; a key field of type ``ID`` or ``String`` is a string.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from graphql import GraphQLNamedType, GraphQLObjectType, get_named_type
from strawberry.federation import Schema
from strawberry.federation.schema_directives import Key
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.utils.inspect import get_func_args

from omnigraph.core.errors import InvalidInput
from omnigraph.graph.overrides import graphql_schema

__all__ = ["EntityShape", "check_representations", "entity_shapes"]

_TEXT_SCALARS = frozenset({"ID", "String"})
_SHOWN = 40  # characters of a client's type name repeated in a message


@dataclass(frozen=True, slots=True)
class EntityShape:
    """What a representation of one entity type carries: its key fields (each with its
    GraphQL scalar's name), and every field it may carry."""

    keys: dict[str, str]
    allowed: frozenset[str]


def entity_shapes(schema: Schema) -> dict[str, EntityShape]:
    """Each entity type of ``schema`` by name (the members of its ``_Entity`` union)."""
    union = graphql_schema(schema).get_type("_Entity")
    members = getattr(union, "types", ())
    shapes = {}
    for member in members:
        definition = schema.schema_converter.type_map[member.name].definition
        assert isinstance(definition, StrawberryObjectDefinition)
        graphql_type = cast(GraphQLObjectType, member)
        keys: dict[str, str] = {}
        for directive in definition.directives or ():
            if isinstance(directive, Key):
                for name in str(directive.fields).replace("{", " ").replace("}", " ").split():
                    field = graphql_type.fields.get(name)
                    if field is not None:
                        named: GraphQLNamedType = get_named_type(field.type)
                        keys[name] = named.name
        allowed = set(keys)
        resolve = getattr(definition.origin, "resolve_reference", None)
        if resolve is not None:
            allowed |= set(get_func_args(resolve)) - {"cls", "self", "info"}
        shapes[member.name] = EntityShape(keys, frozenset(allowed))
    return shapes


def _check(
    shapes: dict[str, EntityShape], index: int, representation: object
) -> dict[str, Any] | InvalidInput:
    def refused(message: str, **extensions: Any) -> InvalidInput:
        return InvalidInput(f"representation {index}: {message}", index=index, **extensions)

    if not isinstance(representation, dict):
        return refused("a representation is an object with __typename and the type's key")
    typename = representation.get("__typename")
    if not isinstance(typename, str):
        return refused("__typename is missing")
    shape = shapes.get(typename)
    if shape is None:
        shown = typename if len(typename) <= _SHOWN else typename[:_SHOWN] + "..."
        return refused(f"{shown!r} is not an entity type of this graph")
    missing = [name for name in shape.keys if name not in representation]
    if missing:
        return refused(f"{typename} needs its key {', '.join(missing)}", typename=typename)
    extra = sorted(set(representation) - shape.allowed - {"__typename"})
    if extra:
        fields = ", ".join(name[:_SHOWN] for name in extra[:5])
        return refused(f"{typename} takes no field {fields}", typename=typename)
    for name, scalar in shape.keys.items():
        if scalar in _TEXT_SCALARS and not isinstance(representation[name], str):
            return refused(f"{typename}.{name} is a string", typename=typename)
    return dict(representation)


def check_representations(
    shapes: dict[str, EntityShape], representations: Sequence[object]
) -> list[dict[str, Any] | InvalidInput]:
    """Each representation checked against the entity ``shapes``, in order: a copy to hand
    strawberry, or the error that refuses it."""
    return [_check(shapes, index, item) for index, item in enumerate(representations)]
