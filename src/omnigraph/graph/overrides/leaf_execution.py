"""Plain leaf fields read straight from their object, without graphql-core's per-field machinery.

Most fields of a large answer are plain leaves: a strawberry field with no resolver and no
extension (``sku``, ``quantity``, ``amount``, every provenance entry's six fields), whose value
is the attribute of the same name, serialised by its scalar or enum. graphql-core still gives
each one a ``Path``, a ``GraphQLResolveInfo``, an argument check, strawberry's resolver wrapper
and ``complete_value``'s type dispatch: about three quarters of a 100-order reporting page's
field resolutions, and most of its execution time (docs/PERFORMANCE.md, optimisation 8).

``LeafExecutionContext`` answers those fields with one ``getattr`` and one ``serialize``, the
same two steps strawberry's default resolver and graphql-core's ``complete_leaf_value`` take.
Anything else takes the ordinary path, and so does a plain leaf in every case where the
ordinary path could answer differently: arguments present, a field middleware installed (it
must see every field), a missing attribute, ``None`` in a non-null field, an ``Exception`` value,
or a serialiser that fails or returns nothing. Those errors are raised and located by
graphql-core exactly as before. An object of a type implementing an interface (strawberry gives
it an ``is_type_of``: every answer of an availability read, every order) is checked as
graphql-core checks it before its leaves are read; a value of another type is graphql-core's to
refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

__all__ = ["LeafExecutionContext", "LeafRead", "leaf_reads"]

DEFINITION: Final = GraphQLCoreConverter.DEFINITION_BACKREF


class LeafRead(NamedTuple):
    """How to answer a plain leaf field: the attribute, the serialiser, whether null is allowed."""

    attribute: str
    serialize: Callable[[Any], Any]
    nullable: bool


_LeafPlan = list[tuple[str, LeafRead]]
# strawberry's check that a value is of an object type (types implementing an interface have
# one), called as graphql-core calls it; None: the type has no check
_TypeCheck = Callable[[Any, Any], Any] | None
_PLAIN: Final = frozenset({str, int, float, bool})
_READS: WeakKeyDictionary[GraphQLSchema, dict[str, Mapping[str, LeafRead]]] = WeakKeyDictionary()


def _leaf_read(field: Any) -> LeafRead | None:
    definition = field.extensions.get(DEFINITION) if field.extensions else None
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    if field.args or definition.default_resolver is not getattr:
        return None
    field_type = field.type
    nullable = not isinstance(field_type, GraphQLNonNull)
    named = field_type if nullable else field_type.of_type
    if not isinstance(named, GraphQLScalarType | GraphQLEnumType):
        return None  # lists and objects complete through graphql-core
    return LeafRead(definition.python_name, named.serialize, nullable)


def leaf_reads(schema: GraphQLSchema) -> dict[str, Mapping[str, LeafRead]]:
    """Per object type name, its plain leaf fields by name; worked out once per schema."""
    found = _READS.get(schema)
    if found is None:
        found = {}
        for name, named_type in schema.type_map.items():
            if isinstance(named_type, GraphQLObjectType) and not name.startswith("__"):
                reads = {
                    field_name: read
                    for field_name, field in named_type.fields.items()
                    if (read := _leaf_read(field)) is not None
                }
                if reads:
                    found[name] = reads
        _READS[schema] = found
    return found


class LeafExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """strawberry's execution context, answering plain leaf fields in one step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        middleware = self.middleware_manager  # strawberry always passes one, often empty
        watched = middleware is not None and bool(middleware.middlewares)
        self._leaf_reads = {} if watched else leaf_reads(self.schema)
        # per selection of an object type: its plain leaves, when that is all it selects
        self._all_leaves: dict[tuple[str, int], tuple[object, _LeafPlan | None]] = {}
        self._type_checks: dict[str, tuple[bool, _TypeCheck]] = {}

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """An object whose selection is only plain leaves (a provenance entry, an amount) is
        built in one loop; anything else, or any leaf the short path declines, completes as
        graphql-core completes it."""
        plan = self._leaf_plan(return_type, field_details_list)
        if plan is not None and self._is_of_type(return_type, result, info):
            answered: dict[str, Any] = {}
            for response_name, read in plan:
                value = _read(result, read)
                if value is Undefined:
                    break
                answered[response_name] = value
            else:
                return answered
        return super().complete_object_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        """A list of plain leaves (an explanation's lines, allowed resolutions) or of objects
        selecting only plain leaves (buckets, provenance entries) built in one loop, without a
        ``Path`` per item; a list the short path declines anywhere, one streamed (any directive
        on the field), or anything but a ``list``/``tuple``, completes as graphql-core
        completes it."""
        if type(result) is list or type(result) is tuple:
            answered = self._list_in_one_loop(return_type.of_type, field_details_list, result, info)
            if answered is not None:
                return answered
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _list_in_one_loop(
        self,
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        items: Any,
        info: GraphQLResolveInfo[Any],
    ) -> list[Any] | None:
        for details in field_details_list:
            if details.node.directives:
                return None  # @stream, @skip or @include: graphql-core decides
        nullable = not isinstance(item_type, GraphQLNonNull)
        named = item_type if nullable else item_type.of_type  # type: ignore[union-attr]
        answered: list[Any] = []
        append = answered.append
        if isinstance(named, GraphQLScalarType | GraphQLEnumType):
            serialize = named.serialize
            for item in items:
                if item is None:
                    if not nullable:
                        return None
                    append(None)
                    continue
                if type(item) not in _PLAIN and (
                    isinstance(item, Exception) or self.is_awaitable(item)
                ):
                    return None  # graphql-core awaits or raises it
                try:
                    serialized = serialize(item)
                except Exception:  # graphql-core raises and locates it on the ordinary path
                    return None
                if serialized is None:
                    return None
                append(serialized)
            return answered
        if not isinstance(named, GraphQLObjectType):
            return None  # lists of lists, interfaces and unions: graphql-core
        plan = self._leaf_plan(named, field_details_list)
        if plan is None:
            return None
        # each item's type checked as graphql-core checks it, with the list's info (the one
        # graphql-core hands every item); a value of another type is graphql-core's to refuse
        check = self._type_check(named)[1]
        for item in items:
            if item is None:
                if not nullable:
                    return None
                append(None)
                continue
            if isinstance(item, Exception):
                return None
            if check is not None and check(item, info) is not True:
                return None
            built: dict[str, Any] = {}
            for response_name, read in plan:
                value = _read(item, read)
                if value is Undefined:
                    return None
                built[response_name] = value
            append(built)
        return answered

    def _leaf_plan(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> _LeafPlan | None:
        reads = self._leaf_reads.get(return_type.name)
        if reads is None or not self._type_check(return_type)[0]:
            return None
        key = (return_type.name, id(field_details_list))
        known = self._all_leaves.get(key)
        if known is not None and known[0] is field_details_list:
            return known[1]
        grouped, deferred, _ = self.collect_subfields(return_type, field_details_list)
        leaves: _LeafPlan = []
        for response_name, details in grouped.items():
            node = details[0].node
            read = reads.get(node.name.value)
            if read is None or node.arguments:
                break
            leaves.append((response_name, read))
        plan = leaves if len(leaves) == len(grouped) and not deferred else None
        # the list is kept with its plan, so its id is not reused while this context lives
        self._all_leaves[key] = (field_details_list, plan)
        return plan

    def _type_check(self, return_type: GraphQLObjectType) -> tuple[bool, _TypeCheck]:
        """Whether objects of ``return_type`` may take the short path, and the check of each
        value's type to run first. strawberry's own check (made for a type implementing an
        interface) is an ``isinstance`` that returns a bool and never reads its ``info``; a
        check of the type's own (``is_type_of`` on its definition), which may await or read
        the info, keeps the type on graphql-core's path."""
        known = self._type_checks.get(return_type.name)
        if known is None:
            check = return_type.is_type_of
            if check is None:
                known = (True, None)
            else:
                definition = (return_type.extensions or {}).get(DEFINITION)
                strawberry_s = (
                    isinstance(definition, StrawberryObjectDefinition)
                    and definition.is_type_of is None
                )
                known = (strawberry_s, check if strawberry_s else None)
            self._type_checks[return_type.name] = known
        return known

    def _is_of_type(
        self, return_type: GraphQLObjectType, value: Any, info: GraphQLResolveInfo[Any]
    ) -> bool:
        check = self._type_check(return_type)[1]
        return check is None or check(value, info) is True

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        reads = self._leaf_reads.get(parent_type.name)
        if reads is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        answered: dict[str, Any] = {}
        rest: GroupedFieldSet = {}
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            read = reads.get(node.name.value)
            value = Undefined if read is None or node.arguments else _read(source_value, read)
            if value is Undefined:
                rest[response_name] = details
            else:
                answered[response_name] = value
        if not rest:
            return answered
        executed = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if self.is_awaitable(executed):
            return _merged(answered, executed, grouped_field_set)
        return _in_order(answered, executed, grouped_field_set)  # type: ignore[arg-type]


def _read(source: Any, read: LeafRead) -> Any:
    """The serialised value, or ``Undefined`` when the ordinary path must answer."""
    value = getattr(source, read.attribute, Undefined)
    if value is None:
        return None if read.nullable else Undefined
    if value is Undefined or isinstance(value, Exception):
        return Undefined
    try:
        serialized = read.serialize(value)
    except Exception:  # graphql-core raises and locates it on the ordinary path
        return Undefined
    return Undefined if serialized is None else serialized


def _in_order(
    answered: dict[str, Any], executed: dict[str, Any], fields: GroupedFieldSet
) -> dict[str, Any]:
    """Both halves in the order the query asked for them, as the specification requires."""
    return {
        name: answered[name] if name in answered else executed[name]
        for name in fields
        if name in answered or name in executed
    }


async def _merged(
    answered: dict[str, Any], executed: Any, fields: GroupedFieldSet
) -> dict[str, Any]:
    return _in_order(answered, await executed, fields)
