"""The permission matrix (``matrix.toml``) applied to the schema as strawberry permissions.

The matrix is data so that the answer to "who can see customer emails?" is one file a reviewer
reads, not a search through resolvers. At schema build time every object type reachable from
the roots is walked and each restricted field gets a ``PermissionExtension``; unrestricted
fields stay "basic" in strawberry's sense and cost nothing per resolve.

What a role may not read it may not learn of either:

- a type closed to the caller (``[types]``) answers ``node(id:)`` and ``_entities`` exactly as
  an id that does not exist does (:func:`may_read_type`): ``null``, no error, and nothing is
  looked up, so neither the answer nor its time tells whether the object exists;
- a filter (a field of an input a query or subscription takes) is guarded by the field it
  filters on (``[inputs]``): setting it without that field's roles is ``FORBIDDEN``, whatever
  the data, so ``orders(filter: {hasOpenException: true})`` cannot probe exceptions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema.name_converter import NameConverter
from strawberry.types import Info
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField
from strawberry.types.private import is_private
from strawberry.types.unset import UNSET

from omnigraph.core.data_files import load_toml
from omnigraph.graph.permissions import RequireRole, principal_in, principal_of
from omnigraph.security.principal import Principal, Role

__all__ = [
    "MATRIX_PATH",
    "FilterGuard",
    "InputField",
    "Matrix",
    "apply_matrix",
    "filter_inputs",
    "graphql_fields",
    "load_matrix",
    "may_read_type",
    "object_types",
]

MATRIX_PATH = Path(__file__).with_name("matrix.toml")


@dataclass(frozen=True, slots=True)
class Matrix:
    types: Mapping[str, frozenset[Role]]
    fields: Mapping[str, frozenset[Role]]
    own_channel: frozenset[str]
    # "Input.field" -> "Type.field": the output field an input field filters on
    inputs: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def roles_for(self, type_name: str, field_name: str) -> frozenset[Role] | None:
        """The roles allowed, or None when any authenticated caller may resolve it."""
        if type_name == "Mutation" and f"{type_name}.{field_name}" not in self.fields:
            return frozenset()
        field = self.fields.get(f"{type_name}.{field_name}")
        whole = self.types.get(type_name)
        if field is None:
            return whole
        return field if whole is None else field & whole

    def may_read_type(self, principal: Principal | None, type_name: str) -> bool:
        """Whether ``principal`` may read objects of ``type_name`` at all."""
        roles = self.types.get(type_name)
        return roles is None or (principal is not None and principal.has_any(roles))

    def input_roles(self, input_name: str, field_name: str) -> frozenset[Role] | None:
        """The roles setting ``input_name.field_name`` needs: those of the field it filters
        on, or None when any authenticated caller may."""
        target = self.inputs.get(f"{input_name}.{field_name}")
        if target is None:
            return None
        type_name, _, name = target.partition(".")
        return self.roles_for(type_name, name)


class _OwnChannelTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: frozenset[str] = frozenset()


class _MatrixFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    types: dict[str, frozenset[Role]] = Field(default_factory=dict)
    fields: dict[str, frozenset[Role]] = Field(default_factory=dict)
    own_channel: _OwnChannelTable = Field(default_factory=_OwnChannelTable)
    inputs: dict[str, str] = Field(default_factory=dict)


@cache
def load_matrix(path: Path = MATRIX_PATH) -> Matrix:
    """The matrix in ``path``; a role or table it does not know fails with its place."""
    document = load_toml(path, _MatrixFile, what="permission matrix")
    return Matrix(
        types=document.types,
        fields=document.fields,
        own_channel=document.own_channel.fields,
        inputs=document.inputs,
    )


def may_read_type(context: object, type_name: str, matrix: Matrix | None = None) -> bool:
    """Whether the caller of ``context`` (a request's context) may read ``type_name``: when
    not, ``node(id:)`` and ``_entities`` answer as for an id that does not exist."""
    return (matrix or load_matrix()).may_read_type(principal_in(context), type_name)


class OwnChannelOrRole(RequireRole):
    """``RequireRole``, or a storefront key reading a record of its own channel.

    The record says its channel with a ``sales_channel`` attribute (a private field).
    """

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        if super().has_permission(source, info, **kwargs):
            return True
        principal = principal_of(info)
        return (
            principal is not None
            and Role.STOREFRONT in principal.roles
            and principal.channel is not None
            and getattr(source, "sales_channel", None) == principal.channel
        )


class FilterGuard(RequireRole):
    """Refuses a field when its argument sets, anywhere inside it, an input field the caller
    may not filter on (``[inputs]`` of the matrix); an argument left out or null, or one whose
    guarded fields are all null, is no filter and passes.

    The guard looks for the input field by its input type wherever that type appears in the
    argument's value (a filter inside a filter, a list of them, a filter holding filters of its
    own kind), so no nesting of the same input hides it.
    """

    def __init__(self, found: InputField, roles: frozenset[Role]) -> None:
        super().__init__(*roles)
        self.found = found
        names = " or ".join(sorted(role.value for role in roles)) or Role.ADMIN.value
        self.message = f"filtering on `{found.label}` needs the {names} role"

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        if not self.found.is_set_in(kwargs.get(self.found.argument)):
            return True
        return super().has_permission(source, info, **kwargs)


@dataclass(frozen=True, slots=True)
class InputField:
    """A field of an input type a field's argument can hold, at any depth: the argument's
    Python name, the input type's GraphQL name, the field's Python attribute, and its name as
    ``Input.field``."""

    argument: str
    input_name: str
    attribute: str
    label: str

    def is_set_in(self, value: Any) -> bool:
        """Whether ``value`` (an argument's value) holds this input type with the field set
        (not null, and for a list not empty of set values), at any depth."""
        if value is None or value is UNSET:
            return False
        if isinstance(value, list | tuple):
            return any(self.is_set_in(item) for item in value)
        definition = getattr(type(value), "__strawberry_definition__", None)
        if not isinstance(definition, StrawberryObjectDefinition) or not definition.is_input:
            return False
        if definition.name == self.input_name and _present(getattr(value, self.attribute, None)):
            return True
        return any(
            self.is_set_in(getattr(value, field.python_name, None)) for field in definition.fields
        )


def _present(value: Any) -> bool:
    if value is None or value is UNSET:
        return False
    if isinstance(value, list | tuple):
        return any(_present(item) for item in value)
    return True


def filter_inputs(field: StrawberryField) -> Iterator[InputField]:
    """Each field of each input type reachable from ``field``'s arguments (lazily named, in
    lists, inside other inputs), once per argument."""
    for argument in field.arguments:
        seen: set[str] = set()
        stack: list[Any] = [argument.type]
        while stack:
            for definition in _unwrap_input(stack.pop()):
                if definition.name in seen:
                    continue
                seen.add(definition.name)
                for graphql_name, inner in graphql_fields(definition):
                    yield InputField(
                        argument.python_name,
                        definition.name,
                        inner.python_name,
                        f"{definition.name}.{graphql_name}",
                    )
                    stack.append(inner.type)


def _unwrap_input(annotation: Any) -> Iterator[StrawberryObjectDefinition]:
    for cls in _unwrap(annotation):
        definition = getattr(cls, "__strawberry_definition__", None)
        if isinstance(definition, StrawberryObjectDefinition) and definition.is_input:
            yield definition


def _unwrap(annotation: Any) -> Iterator[type]:
    while hasattr(annotation, "of_type"):
        annotation = annotation.of_type
    resolve = getattr(annotation, "resolve_type", None)
    if callable(resolve):
        annotation = resolve()
    for member in getattr(annotation, "types", None) or ():
        yield from _unwrap(member)
    if hasattr(annotation, "__strawberry_definition__"):
        yield annotation


def object_types(
    roots: Iterable[type | None],
) -> dict[str, tuple[type, StrawberryObjectDefinition]]:
    """Every strawberry object type reachable from ``roots``, by GraphQL name."""
    found: dict[str, tuple[type, StrawberryObjectDefinition]] = {}
    stack = [root for root in roots if root is not None]
    while stack:
        cls = stack.pop()
        definition = getattr(cls, "__strawberry_definition__", None)
        if not isinstance(definition, StrawberryObjectDefinition) or definition.is_input:
            continue
        if definition.name in found:
            continue
        found[definition.name] = (cls, definition)
        for _, field in graphql_fields(definition):
            stack.extend(_unwrap(field.type))
        for interface in definition.interfaces:
            stack.append(interface.origin)
    return found


def _guard(
    field: StrawberryField, permissions: list[BasePermission], kind: str = "matrix_guard"
) -> None:
    """Attach ``permissions`` once: ``matrix_guard`` for the field's own roles,
    ``matrix_filter_guard`` for its filters."""
    if any(getattr(e, kind, False) for e in field.extensions):
        return  # one schema per subgraph shares these types: guard each field once
    extension = PermissionExtension(permissions=permissions, use_directives=False)
    setattr(extension, kind, True)
    field.extensions.append(extension)


def apply_matrix(roots: Iterable[type | None], matrix: Matrix | None = None) -> None:
    """Attach the matrix's permissions to every reachable field it restricts, and a
    :class:`FilterGuard` to every field taking a filter on something restricted."""
    matrix = matrix or load_matrix()
    for name, (_, definition) in object_types(roots).items():
        for graphql_name, field in graphql_fields(definition):
            filters: list[BasePermission] = []
            for found in filter_inputs(field):
                needed = matrix.input_roles(found.input_name, found.label.partition(".")[2])
                if needed is not None:
                    filters.append(FilterGuard(found, needed))
            if filters:
                _guard(field, filters, "matrix_filter_guard")
            roles = matrix.roles_for(name, graphql_name)
            if roles is None:
                continue
            dotted = f"{name}.{graphql_name}"
            permission = (
                OwnChannelOrRole(*roles) if dotted in matrix.own_channel else RequireRole(*roles)
            )
            _guard(field, [permission])


_NAMES = NameConverter(auto_camel_case=True)


def graphql_fields(definition: StrawberryObjectDefinition) -> Iterator[tuple[str, StrawberryField]]:
    """The fields GraphQL exposes, by their GraphQL names (private attributes left out, as
    strawberry leaves them out: by the field's resolved type, which says ``Private`` also when
    its module writes annotations as text)."""
    for field in definition.fields:
        if is_private(field.type):
            continue
        yield _NAMES.from_field(field), field
