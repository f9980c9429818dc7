"""The permission matrix (``matrix.toml``) applied to the schema as strawberry permissions.

The matrix is data so that the answer to "who can see customer emails?" is one file a reviewer
reads, not a search through resolvers. At schema build time every object type reachable from
the roots is walked and each restricted field gets a ``PermissionExtension``; unrestricted
fields stay "basic" in strawberry's sense and cost nothing per resolve.
"""

from __future__ import annotations

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

from omnigraph.core.data_files import load_toml
from omnigraph.graph.permissions import RequireRole, principal_of
from omnigraph.security.principal import Role

__all__ = [
    "MATRIX_PATH",
    "Matrix",
    "apply_matrix",
    "graphql_fields",
    "load_matrix",
    "object_types",
]

MATRIX_PATH = Path(__file__).with_name("matrix.toml")


@dataclass(frozen=True, slots=True)
class Matrix:
    types: Mapping[str, frozenset[Role]]
    fields: Mapping[str, frozenset[Role]]
    own_channel: frozenset[str]

    def roles_for(self, type_name: str, field_name: str) -> frozenset[Role] | None:
        """The roles allowed, or None when any authenticated caller may resolve it."""
        if type_name == "Mutation" and f"{type_name}.{field_name}" not in self.fields:
            return frozenset()
        field = self.fields.get(f"{type_name}.{field_name}")
        whole = self.types.get(type_name)
        if field is None:
            return whole
        return field if whole is None else field & whole


class _OwnChannelTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: frozenset[str] = frozenset()


class _MatrixFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    types: dict[str, frozenset[Role]] = Field(default_factory=dict)
    fields: dict[str, frozenset[Role]] = Field(default_factory=dict)
    own_channel: _OwnChannelTable = Field(default_factory=_OwnChannelTable)


@cache
def load_matrix(path: Path = MATRIX_PATH) -> Matrix:
    """The matrix in ``path``; a role or table it does not know fails with its place."""
    document = load_toml(path, _MatrixFile, what="permission matrix")
    return Matrix(
        types=document.types, fields=document.fields, own_channel=document.own_channel.fields
    )


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


def _guard(field: StrawberryField, permission: BasePermission) -> None:
    if any(getattr(e, "matrix_guard", False) for e in field.extensions):
        return  # one schema per subgraph shares these types: guard each field once
    extension = PermissionExtension(permissions=[permission], use_directives=False)
    extension.matrix_guard = True  # type: ignore[attr-defined]
    field.extensions.append(extension)


def apply_matrix(roots: Iterable[type | None], matrix: Matrix | None = None) -> None:
    """Attach the matrix's permissions to every reachable field it restricts."""
    matrix = matrix or load_matrix()
    for name, (_, definition) in object_types(roots).items():
        for graphql_name, field in graphql_fields(definition):
            roles = matrix.roles_for(name, graphql_name)
            if roles is None:
                continue
            dotted = f"{name}.{graphql_name}"
            permission = (
                OwnChannelOrRole(*roles) if dotted in matrix.own_channel else RequireRole(*roles)
            )
            _guard(field, permission)


_NAMES = NameConverter(auto_camel_case=True)


def graphql_fields(definition: StrawberryObjectDefinition) -> Iterator[tuple[str, StrawberryField]]:
    """The fields GraphQL exposes, by their GraphQL names (private attributes left out)."""
    for field in definition.fields:
        if field.python_name.startswith("_") or is_private(field.type_annotation):
            continue
        yield _NAMES.from_field(field), field
