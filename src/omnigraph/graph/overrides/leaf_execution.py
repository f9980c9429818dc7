"""graphql-core's execution with each selection's steps worked out once, not per object.

Most fields of a large answer are plain leaves: a strawberry field with no resolver and no
extension (``sku``, ``quantity``, ``amount``, every provenance entry's six fields), whose value
is the attribute of the same name, serialised by its scalar or enum. graphql-core still gives
each one a ``Path``, a ``GraphQLResolveInfo``, an argument check, strawberry's resolver wrapper
and ``complete_value``'s type dispatch: about three quarters of a 100-order reporting page's
field resolutions, and most of its execution time (docs/PERFORMANCE.md, optimisation 8).

``LeafExecutionContext`` answers those fields with one ``getattr`` and one
``coerce_output_value``, the same two steps strawberry's default resolver and graphql-core's
``complete_leaf_value`` take.
Anything else takes the ordinary path, and so does a plain leaf in every case where the
ordinary path could answer differently: arguments present, a field middleware installed (it
must see every field), a missing attribute, ``None`` in a non-null field, an ``Exception`` value,
or a serialiser that fails or returns nothing. Those errors are raised and located by
graphql-core exactly as before. An object of a type implementing an interface (strawberry gives
it an ``is_type_of``: every answer of an availability read, every order) is checked as
graphql-core checks it before its leaves are read; a value of another type is graphql-core's to
refuse.

The other fields without arguments (``Order.state``, ``OrderLine.shipped``, an edge's ``node``)
run from a step made once per selection (optimisation 30): the field's definition, nodes,
resolver and how its type completes, which graphql-core's ``execute_field`` and
``complete_value`` look up again for every object; a leaf's serialiser is found with its step.
An object field without a resolver (an edge's ``node``, ``totals.total``: strawberry reads the
attribute) is read and completed without a resolve info or strawberry's resolver. A list of
objects has each item's sub-fields executed straight, without ``complete_value``'s dispatch per
item, when every item is a plain object of the type (or null where null is allowed); anything
else is graphql-core's. Errors are handled, nulls propagated and awaitables gathered by
graphql-core's own methods, at the same paths.

How an object of a type completes for a selection (its check, its collected fields, its plain
leaves or its steps) is worked out once per selection (an object plan, optimisation 36), and
all of it once per document: a document without directives runs on the plan its first request
made (optimisation 34), which the schema keeps (``GraphQLSchema.extensions``, for the 256
documents used last) for the next request of the same document, since the parser cache hands
out the same nodes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple, TypeVar
from weakref import WeakKeyDictionary

from cachetools import LRUCache
from graphql import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
)
from graphql.execution.collect_fields import (
    CollectedFields,
    FieldDetailsList,
    FragmentDetails,
    GroupedFieldSet,
)
from graphql.language import FieldNode, OperationDefinitionNode, SelectionSetNode
from graphql.pyutils import AwaitableOrValue, Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

from omnigraph.graph.overrides.compiled_selection import (
    COMPILE_AFTER,
    NO_KEY,
    FieldSpec,
    Leaf,
    compile_selection,
)
from omnigraph.graph.overrides.lean_resolvers import info_free

__all__ = ["LeafExecutionContext", "LeafRead", "leaf_reads", "serializer"]

DEFINITION: Final = GraphQLCoreConverter.DEFINITION_BACKREF


class LeafRead(NamedTuple):
    """How to answer a plain leaf field: the attribute, the serialiser, whether null is
    allowed, and the Python type whose values the serialiser hands back unchanged (``str`` for
    graphql-core's own ``String`` and ``ID``, ``bool`` for ``Boolean``, ``int`` within 32 bits
    for ``Int``; ``None``: always serialise)."""

    attribute: str
    serialize: Callable[[Any], Any]
    nullable: bool
    unchanged: type | None = None


# per plain leaf (``Leaf``): its response name, attribute, the type passed through unchanged,
# its read
_LeafPlan = list[Leaf]
# a selection's answer or a list's items, some of them awaitables to await in place
_Awaiting = TypeVar("_Awaiting", dict[str, Any], list[Any])
# how a field's value completes, by its type without non-null
_LEAF, _OBJECT, _LIST, _OTHER = 1, 2, 3, 4


# per field of an object type: its plain-leaf read, how its type completes (the code above),
# whether it is non-null, the attribute a plain object field reads; nothing that leads back to
# the schema, which the cache must not keep
_FieldKind = tuple[LeafRead | None, int, bool, str | None]
_UNKNOWN: Final = object()
_UNRESOLVED: Final = object()  # a step's resolver is still to be called
_KINDS: WeakKeyDictionary[GraphQLSchema, dict[tuple[str, str], _FieldKind | None]] = (
    WeakKeyDictionary()
)


class _Plan(NamedTuple):
    """What executing one operation of a document without directives worked out, kept for
    the next request of the same document (the parser cache hands out the same nodes): its
    root selection, graphql-core's sub-selections and the steps and object plans made from
    them; ``root`` None: the operation is not planned (directives, fragment variables)."""

    operation: OperationDefinitionNode
    root: GroupedFieldSet | None
    sub_fields: dict[Any, Any]
    field_steps: dict[tuple[str, int], tuple[object, list[tuple[str, _Step]]]]
    object_plans: dict[tuple[str, int], _ObjectPlan]
    type_checks: dict[str, tuple[bool, _TypeCheck]]


class _ObjectPlan(NamedTuple):
    """How an object of one type completes for one selection, worked out once: ``details``
    (kept: its id is the key), the check of each value the short paths run first
    (``_type_check``), graphql-core's collection of the selection, and its plain leaves when
    that is all it selects, else each field's step (neither: a field middleware watches, or
    the type has a check of its own, and graphql-core's path completes it)."""

    details: FieldDetailsList
    check: _TypeCheck
    collected: CollectedFields
    leaves: _LeafPlan | None
    steps: list[tuple[str, _Step]] | None
    # the objects it has completed, until its steps are compiled (``compiled_selection``):
    # then the compiled function, or False where they cannot be
    compiled: list[Any]


# where a schema keeps its plans (``GraphQLSchema.extensions``, graphql-core's place for its
# users' data): with the schema, so they go when it goes, however much of it they reach
PLANS: Final = "omnigraph.execution_plans"
PLANS_KEPT: Final = 256  # documents per schema; the parser cache keeps 512


def _plannable(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDetails]
) -> bool:
    """Whether collecting ``operation``'s fields cannot depend on a request's variables: no
    directive on any selection (``@skip``, ``@include``, ``@defer``, ``@stream``) and no
    fragment taking variables (graphql-core's experimental fragment arguments)."""
    sets: list[SelectionSetNode] = [operation.selection_set]
    for fragment in fragments.values():
        if fragment.variable_signatures:
            return False
        sets.append(fragment.definition.selection_set)
    while sets:
        for selection in sets.pop().selections:
            if selection.directives:
                return False
            inner = getattr(selection, "selection_set", None)
            if inner is not None:
                sets.append(inner)
    return True


class _Step(NamedTuple):
    """One field of one selection: its plain-leaf read if it has one, else (``field`` set)
    what graphql-core's ``execute_field`` looks up for it on every object; ``field`` None:
    graphql-core's ``execute_field`` answers it."""

    details: FieldDetailsList
    read: LeafRead | None
    field: GraphQLField | None
    nodes: list[FieldNode]
    resolve: Callable[..., Any] | None  # None: the executor's field resolver
    kind: int
    named: GraphQLOutputType | None
    non_null: bool
    # a leaf's: its serialiser and the type of the values it hands back unchanged
    serialize: Callable[[Any], Any] | None = None
    unchanged: type | None = None
    # a plain object field's (no resolver: strawberry reads the attribute): the attribute
    attribute: str | None = None
    # its resolver takes no info (``lean_resolvers.info_free``): one is built only if needed
    info_free: bool = False


# strawberry's check that a value is of an object type (types implementing an interface have
# one), called as graphql-core calls it; None: the type has no check
_TypeCheck = Callable[[Any, Any], Any] | None
_PLAIN: Final = frozenset({str, int, float, bool})
# graphql-core's own scalars (by identity: a schema's replacement is serialised) and the type
# of the values each hands back unchanged (an Int only within 32 bits; bool is no int here)
_UNCHANGED: Final = (
    (GraphQLString, str),
    (GraphQLID, str),
    (GraphQLBoolean, bool),
    (GraphQLInt, int),
)
_MIN_INT: Final = GRAPHQL_MIN_INT
_MAX_INT: Final = GRAPHQL_MAX_INT
# what a resolver or a completion hands back that no ``is_awaitable`` takes for awaitable
_NEVER_AWAITED: Final = frozenset({dict, list, tuple, str, int, float, bool, type(None)})
_READS: WeakKeyDictionary[GraphQLSchema, dict[str, Mapping[str, LeafRead]]] = WeakKeyDictionary()
# per leaf type name, its serialiser (``serializer``): bound to the type, never to the schema
_SERIALIZERS: WeakKeyDictionary[GraphQLSchema, dict[str, Callable[[Any], Any]]] = (
    WeakKeyDictionary()
)


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
    return LeafRead(definition.python_name, serializer(named), nullable, _unchanged(named))


def _unchanged(named: Any) -> type | None:
    """The type of the values ``named``'s serialiser hands back unchanged, if it is one of
    graphql-core's own scalars (``_UNCHANGED``)."""
    return next((kind for scalar, kind in _UNCHANGED if named is scalar), None)


def serializer(named: GraphQLScalarType | GraphQLEnumType) -> Callable[[Any], Any]:
    """``named.coerce_output_value``, or for one of strawberry's enums a function answering
    the same: strawberry's serialiser compares a member's value with each of the enum's values
    in turn and answers the first name that matches; this finds each member's name so once,
    and looks a member up by identity (an enum's members live as long as it does, so no other
    object has one's id). Anything else (not a member, a member whose value no name matches)
    is answered by the serialiser itself, errors included."""
    coerce = named.coerce_output_value
    if (
        not isinstance(named, CustomGraphQLEnumType)
        or type(named).coerce_output_value is not CustomGraphQLEnumType.coerce_output_value
    ):
        return coerce
    wrapped: Any = named.wrapped_cls  # the Python enum
    by_member: dict[int, str] = {}
    try:
        for member in wrapped:
            for name, value in named.values.items():
                if member.value == value.value:
                    by_member[id(member)] = name
                    break
    except Exception:  # no enum, or a value that cannot be compared: the serialiser answers
        return coerce

    def serialize(value: Any) -> Any:
        found = by_member.get(id(value))  # ``coerce`` holds the enum, and so its members
        return coerce(value) if found is None else found

    return serialize


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
        self._watched = watched
        self._leaf_reads = {} if watched else leaf_reads(self.schema)
        # per field of a type, what its steps need: worked out once per schema
        self._field_kinds: dict[tuple[str, str], Any] = _KINDS.setdefault(self.schema, {})
        # per selection set executed: each field's step
        self._field_steps: dict[tuple[str, int], tuple[object, list[tuple[str, _Step]]]] = {}
        # per selection of an object type: how its objects complete
        self._object_plans: dict[tuple[str, int], _ObjectPlan] = {}
        self._type_checks: dict[str, tuple[bool, _TypeCheck]] = {}
        # the types of this request's plain object fields' values found neither exceptions
        # nor awaitable
        self._plain_types: set[type] = set()
        self._serializers = _SERIALIZERS.setdefault(self.schema, {})
        # whether this request's object plans are the document's kept plan: only those are
        # compiled (a plan made for one request would be compiled for each); and whether an
        # earlier request of the document made it: only then do its objects count towards
        # compiling, so a document asked once is never compiled, however many objects it has
        self._plans_kept = False
        self._plan_reused = False

    def _serializer(self, named: GraphQLScalarType | GraphQLEnumType) -> Callable[[Any], Any]:
        found = self._serializers.get(named.name)
        if found is None:
            found = self._serializers[named.name] = serializer(named)
        return found

    def complete_leaf_value(  # type: ignore[override]  # a static method in graphql-core
        self, return_type: GraphQLScalarType | GraphQLEnumType, result: Any
    ) -> Any:
        """graphql-core's ``complete_leaf_value``, an enum member named by ``serializer``;
        what it would refuse is graphql-core's to refuse, with its message."""
        if type(result) is str and (return_type is GraphQLString or return_type is GraphQLID):
            return result  # what the serialiser would hand back
        coerced = self._serializer(return_type)(result)
        if coerced is Undefined or coerced is None:
            return super().complete_leaf_value(return_type, result)
        return coerced

    def execute_root_grouped_field_set(
        self,
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: GroupedFieldSet,
        serially: bool,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core's, on the plan of an earlier request of the same document when it has
        one (``_Plan``): its root selection, whose lists are the keys of every selection below
        it, and what was worked out from them; else this request's plan starts one."""
        plan = self._plan(grouped_field_set)
        if plan.root is not None:
            self._plans_kept = True
            grouped_field_set = plan.root
            self._relevant_sub_fields = plan.sub_fields
            self._field_steps = plan.field_steps
            self._object_plans = plan.object_plans
            self._type_checks = plan.type_checks
        return super().execute_root_grouped_field_set(
            root_type, root_value, grouped_field_set, serially, position_context
        )

    def _plan(self, grouped_field_set: GroupedFieldSet) -> _Plan:
        """The operation's plan, made now (from this request's root selection and this
        context's memos) if the schema keeps none for it."""
        extensions = self.schema.extensions
        plans: LRUCache[int, _Plan] | None = extensions.get(PLANS)
        if plans is None:
            plans = extensions[PLANS] = LRUCache(maxsize=PLANS_KEPT)
        operation = self.operation
        # a plan holds its operation: no other has its id while the plan is kept
        plan = plans.get(id(operation))
        self._plan_reused = plan is not None
        if plan is None:
            if _plannable(operation, self.fragments):
                plan = _Plan(
                    operation,
                    grouped_field_set,
                    self._relevant_sub_fields,
                    self._field_steps,
                    self._object_plans,
                    self._type_checks,
                )
            else:
                plan = _Plan(operation, None, {}, {}, {}, {})
            plans[id(operation)] = plan
        return plan

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
        built in one loop, any other has its fields run from their steps; a value the type's
        check refuses, a leaf the short path declines, or a type or selection the plan leaves
        to graphql-core completes as graphql-core completes it."""
        plan = self._object_plan(return_type, field_details_list)
        check = plan.check
        if check is None or check(result, info) is True:
            leaves = plan.leaves
            if leaves is not None:
                answered = _built(result, leaves)
                if answered is not Undefined:
                    return answered
            elif plan.steps is not None:
                grouped, new_defer_usages, _ = plan.collected
                if position_context is None and not new_defer_usages:
                    compiled = plan.compiled[0]
                    if type(compiled) is int:  # not yet compiled, or now
                        compiled = self._compiled(plan, return_type, 1)
                    if compiled:
                        return compiled(self, result, path, NO_KEY)  # type: ignore[no-any-return]
                    return self._run_steps(plan.steps, return_type, result, path, None)
                # graphql-core's collect_and_execute_subfields, once the type is checked
                return self.execute_collected_subfields(
                    return_type, result, path, grouped, new_defer_usages, position_context
                )
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
            answered = self._list_in_one_loop(
                return_type.of_type, field_details_list, result, info, path, position_context
            )
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
        info: GraphQLResolveInfo[Any] | None,  # None: a check never reads it
        path: Path,
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]] | None:
        for details in field_details_list:
            if details.node.directives:
                return None  # @stream, @skip or @include: graphql-core decides
        nullable = not isinstance(item_type, GraphQLNonNull)
        named = item_type if nullable else item_type.of_type  # type: ignore[union-attr]
        answered: list[Any] = []
        append = answered.append
        if isinstance(named, GraphQLScalarType | GraphQLEnumType):
            serialize = self._serializer(named)
            text = named is GraphQLString or named is GraphQLID
            for item in items:
                if text and type(item) is str:
                    append(item)  # what the serialiser would hand back
                    continue
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
                if serialized is None or serialized is Undefined:
                    return None  # graphql-core refuses it, located at the item
                append(serialized)
            return answered
        if not isinstance(named, GraphQLObjectType):
            return None  # lists of lists, interfaces and unions: graphql-core
        plan = self._object_plan(named, field_details_list)
        leaves = plan.leaves
        if leaves is None:
            return self._objects_in_one_loop(
                item_type, named, field_details_list, items, info, path, position_context, plan
            )
        # each item's type checked as graphql-core checks it, with the list's info (the one
        # graphql-core hands every item); a value of another type is graphql-core's to refuse
        check = plan.check
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
            built = _built(item, leaves)
            if built is Undefined:
                return None
            append(built)
        return answered

    def _objects_in_one_loop(
        self,
        item_type: GraphQLOutputType,
        named: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        items: list[Any] | tuple[Any, ...],
        info: GraphQLResolveInfo[Any] | None,  # None: a check never reads it
        path: Path,
        position_context: Any,
        plan: _ObjectPlan,
    ) -> AwaitableOrValue[list[Any]] | None:
        """graphql-core's ``complete_iterable_value`` for a list of objects (a page's edges,
        an order's lines), each item's sub-fields executed straight, without completing it
        through ``complete_value``; ``None`` (graphql-core's path) unless every item is null
        where null is allowed or a plain object of the type (no awaitable, no ``Exception``,
        checked as ``complete_object_value`` checks it) and no field middleware watches."""
        steps = plan.steps
        if steps is None:
            return None
        check = plan.check
        nullable = not isinstance(item_type, GraphQLNonNull)
        is_awaitable = self.is_awaitable
        for item in items:
            if item is None:
                if not nullable:
                    return None
            elif (
                isinstance(item, Exception)
                or is_awaitable(item)
                or (check is not None and check(item, info) is not True)
            ):
                return None
        grouped, new_defer_usages, _ = plan.collected
        direct = position_context is None and not new_defer_usages
        run, execute = self._run_steps, self.execute_collected_subfields
        compiled = plan.compiled[0] if direct else None
        if type(compiled) is int:  # not yet compiled, or now
            compiled = self._compiled(plan, named, len(items))
        completed: list[Any] = []
        append = completed.append
        awaitable_indices: list[int] = []
        try:
            for index, item in enumerate(items):
                if item is None:
                    append(None)
                    continue
                try:
                    if compiled:  # its path made only where a field needs it
                        value = compiled(self, item, path, index)
                    else:
                        item_path = path.add_key(index, None)
                        value = (
                            run(steps, named, item, item_path, None)
                            if direct
                            else execute(
                                named, item, item_path, grouped, new_defer_usages, position_context
                            )
                        )
                except Exception as raw_error:
                    item_path = path.add_key(index, None)
                    self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                    append(None)
                    continue
                if type(value) is not dict and is_awaitable(value):
                    item_path = path.add_key(index, None)
                    value = _await_completed(self, value, item_type, field_details_list, item_path)
                    awaitable_indices.append(index)
                append(value)
        except Exception:
            if awaitable_indices:  # as graphql-core: settled, they may fail too
                self.settle_in_background([completed[index] for index in awaitable_indices])
            raise
        if not awaitable_indices:
            return completed
        return _awaited_in_place(completed, awaitable_indices)

    def _object_plan(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> _ObjectPlan:
        key = (return_type.name, id(field_details_list))
        known = self._object_plans.get(key)
        if known is not None and known.details is field_details_list:
            return known
        may, check = self._type_check(return_type)
        collected = self.collect_subfields(return_type, field_details_list)
        grouped, deferred, _ = collected
        leaves = None if deferred or not may else self._leaves(return_type, grouped)
        # ``_steps`` declines when a field middleware watches
        steps = None if leaves is not None or not may else self._steps(return_type, grouped)
        # the list is kept with its plan, so its id is not reused while the plan is kept
        # counted towards compiling only where the plan is kept for the document's next requests
        counted: list[Any] = [0] if self._plans_kept and steps is not None else [False]
        plan = _ObjectPlan(field_details_list, check, collected, leaves, steps, counted)
        self._object_plans[key] = plan
        return plan

    def _compiled(
        self, plan: _ObjectPlan, return_type: GraphQLObjectType, objects: int
    ) -> Callable[[Any, Any, Any, Any], Any] | None:
        """The plan's compiled selection, once the plan has completed ``COMPILE_AFTER``
        objects (``objects`` more now) in requests after the document's first; ``None`` until
        then and for a selection with nothing to gain (every field on its ordinary path)."""
        slot = plan.compiled
        state = slot[0]
        if type(state) is int:
            if state < COMPILE_AFTER:
                if self._plan_reused:
                    slot[0] = state + objects
                return None
            steps = plan.steps
            specs = None if steps is None else self._field_specs(steps)
            state = slot[0] = (
                False
                if specs is None
                else compile_selection(
                    specs,
                    return_type,
                    {
                        "serialized": _serialized,
                        "awaited_in_place": _awaited_in_place,
                        "never_awaited": _NEVER_AWAITED,
                        "min_int": _MIN_INT,
                        "max_int": _MAX_INT,
                        "unresolved": _UNRESOLVED,
                    },
                )
            )
        return state or None

    def _field_specs(self, steps: list[tuple[str, _Step]]) -> list[FieldSpec] | None:
        """How a compiled selection answers each of ``steps``: inline where the field is a
        plain leaf or an info-free resolver's leaf, list of text or list of objects selecting
        only plain leaves; ``None`` when no field has an inline path."""
        specs: list[FieldSpec] = []
        for response_name, step in steps:
            spec = FieldSpec("step", response_name, step)
            read = step.read
            if read is not None:
                spec = FieldSpec(
                    "leaf",
                    response_name,
                    step,
                    leaf=Leaf(response_name, read.attribute, read.unchanged, read),
                )
            elif step.info_free and step.field is not None:
                if step.kind == _LEAF:
                    spec = FieldSpec(
                        "free_leaf",
                        response_name,
                        step,
                        resolve=step.resolve,
                        unchanged=step.unchanged,
                    )
                elif step.kind == _LIST and not any(d.node.directives for d in step.details):
                    spec = self._list_spec(response_name, step)
            specs.append(spec)
        return specs if any(spec.kind != "step" for spec in specs) else None

    def _list_spec(self, response_name: str, step: _Step) -> FieldSpec:
        """An info-free list field's spec: inline for a list of ``String``/``ID`` or of
        objects whose selection is plain leaves alone, else its ordinary step."""
        item_type: Any = step.named.of_type  # type: ignore[union-attr]  # a list's
        nullable = not isinstance(item_type, GraphQLNonNull)
        named = item_type if nullable else item_type.of_type
        if named is GraphQLString or named is GraphQLID:
            return FieldSpec(
                "free_texts", response_name, step, resolve=step.resolve, nullable_items=nullable
            )
        if isinstance(named, GraphQLObjectType):
            leaves = self._object_plan(named, step.details)
            if leaves.leaves is not None:
                return FieldSpec(
                    "free_objects",
                    response_name,
                    step,
                    resolve=step.resolve,
                    nullable_items=nullable,
                    check=leaves.check,
                    items=tuple(leaves.leaves),
                )
        return FieldSpec("step", response_name, step)

    def _leaves(self, return_type: GraphQLObjectType, grouped: GroupedFieldSet) -> _LeafPlan | None:
        """The selection's plain leaves when that is all it selects."""
        reads = self._leaf_reads.get(return_type.name)
        if reads is None:
            return None
        leaves: _LeafPlan = []
        for response_name, details in grouped.items():
            node = details[0].node
            read = reads.get(node.name.value)
            if read is None or node.arguments:
                return None
            leaves.append(Leaf(response_name, read.attribute, read.unchanged, read))
        return leaves

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

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core's ``execute_fields`` with each field's step worked out once per
        selection: a plain leaf read in one step, a field without arguments resolved and
        completed without looking up its definition, its nodes and its completion again for
        every object; anything else (arguments, meta fields, a plain leaf the short path
        declines) through graphql-core's ``execute_field``. Fields run in the query's order,
        their errors handled and their awaitables gathered as graphql-core does."""
        steps = self._steps(parent_type, grouped_field_set)
        if steps is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        return self._run_steps(steps, parent_type, source_value, path, position_context)

    def _run_steps(
        self,
        steps: list[tuple[str, _Step]],
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """``execute_fields`` from the selection's steps."""
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        type_name = parent_type.name
        try:
            for response_name, step in steps:
                read = step.read
                if read is not None:
                    value: Any = getattr(source_value, read.attribute, Undefined)
                    kind = type(value)
                    if kind is read.unchanged and (
                        kind is not int or _MIN_INT <= value <= _MAX_INT
                    ):
                        results[response_name] = value  # what the serialiser would hand back
                        continue
                    value = _serialized(value, read)
                    if value is not Undefined:
                        results[response_name] = value
                        continue
                field_path = Path(path, response_name, type_name)
                result = (
                    self._attribute_value(step, source_value, field_path)
                    if step.attribute is not None and position_context is None
                    else Undefined
                )
                if result is Undefined:
                    if step.field is None:
                        result = self.execute_field(
                            parent_type, source_value, step.details, field_path, position_context
                        )
                    elif step.info_free and position_context is None:
                        resolve: Any = step.resolve  # an info-free step's is set
                        result = self._execute_free(
                            step, parent_type, source_value, field_path, resolve
                        )
                    else:
                        result = self._completed_with_info(
                            step,
                            parent_type,
                            source_value,
                            field_path,
                            _UNRESOLVED,
                            position_context,
                        )
                if result is not Undefined:
                    results[response_name] = result
                    if type(result) not in _NEVER_AWAITED and is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:  # settled, as graphql-core settles them: they may fail too
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return _awaited_in_place(results, awaitable_fields)

    def _attribute_value(self, step: _Step, source: Any, path: Path) -> Any:
        """A plain object field (no resolver: strawberry reads the attribute) read and
        completed from its plan, without a resolve info; ``Undefined`` when its step's
        ordinary path must answer (``_object_read``)."""
        value = getattr(source, step.attribute, Undefined)  # type: ignore[arg-type]  # set
        if value is None and not step.non_null:
            return None
        return self._object_read(step, value, path)

    # -- what a compiled selection (``compiled_selection``) hands back to the ordinary path

    def _resolved(
        self,
        step: _Step,
        response_name: str,
        parent_type: GraphQLObjectType,
        source: Any,
        path: Path,
        result: Any,
    ) -> AwaitableOrValue[Any]:
        """An info-free resolver's value, which a compiled selection called and did not
        take, completed as ``_execute_free`` completes it (the resolver is not called again;
        ``path``: the object's)."""
        field_path = Path(path, response_name, parent_type.name)
        return self._execute_free(step, parent_type, source, field_path, lambda _s, _i: result)

    def _resolver_failed(
        self,
        step: _Step,
        response_name: str,
        parent_type: GraphQLObjectType,
        error: Exception,
        path: Path,
    ) -> None:
        """An info-free resolver's error in a compiled selection, handled as
        ``_execute_free`` handles it (raised again where the field is non-null)."""
        field: Any = step.field
        field_path = Path(path, response_name, parent_type.name)
        self.handle_field_error(error, field.type, step.details, field_path)

    def _steps(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> list[tuple[str, _Step]] | None:
        """Each field's step for this selection of ``parent_type``, made once per execution;
        ``None`` when a field middleware must see every field."""
        if self._watched:
            return None
        key = (parent_type.name, id(grouped_field_set))
        known = self._field_steps.get(key)
        if known is not None and known[0] is grouped_field_set:
            return known[1]
        kinds = self._field_kinds
        type_name = parent_type.name
        steps: list[tuple[str, _Step]] = []
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            name = node.name.value
            kind = kinds.get((type_name, name), _UNKNOWN)
            if kind is _UNKNOWN:
                kind = kinds[(type_name, name)] = self._field_kind(parent_type, name)
            if (
                kind is None
                or node.arguments
                or (len(details) > 1 and any(d.node.arguments for d in details))
            ):
                # meta fields (``__typename``) and arguments: graphql-core's execute_field
                steps.append(
                    (
                        response_name,
                        _Step(details, None, None, [], None, _OTHER, None, False),
                    )
                )
                continue
            read, code, non_null, attribute = kind
            field = parent_type.fields[name]
            resolve = field.resolve
            free = info_free(resolve)
            if code == _LIST and attribute is not None:
                # a list strawberry reads from the attribute: read it here, without an info
                resolve, free, attribute = _attribute_reader(attribute), True, None
            named = field.type.of_type if non_null else field.type
            serialize, unchanged = (
                (self._serializer(named), _unchanged(named)) if code == _LEAF else (None, None)
            )
            steps.append(
                (
                    response_name,
                    _Step(
                        details,
                        read,
                        field,
                        [d.node for d in details],
                        resolve,
                        code,
                        named,
                        non_null,
                        serialize,
                        unchanged,
                        attribute,
                        free,
                    ),
                )
            )
        # the set is kept with its steps, so its id is not reused while this context lives
        self._field_steps[key] = (grouped_field_set, steps)
        return steps

    def _field_kind(self, parent_type: GraphQLObjectType, name: str) -> _FieldKind | None:
        """What a step needs of field ``name`` of ``parent_type`` whatever the selection: its
        plain-leaf read, how its type completes, whether it is non-null; ``None`` for a field
        graphql-core's ``execute_field`` answers (a meta field, a field taking arguments)."""
        field = parent_type.fields.get(name)
        if field is None or field.args:
            return None
        field_type = field.type
        non_null = isinstance(field_type, GraphQLNonNull)
        named = field_type.of_type if non_null else field_type
        code = (
            _LEAF
            if isinstance(named, GraphQLScalarType | GraphQLEnumType)
            else _OBJECT
            if isinstance(named, GraphQLObjectType)
            else _LIST
            if isinstance(named, GraphQLList)
            else _OTHER
        )
        read = (self._leaf_reads.get(parent_type.name) or {}).get(name)
        definition = field.extensions.get(DEFINITION) if field.extensions else None
        attribute = (
            definition.python_name
            if code in (_OBJECT, _LIST)
            and isinstance(definition, StrawberryField)
            and definition.is_basic_field
            and definition.default_resolver is getattr
            else None
        )
        return (read, code, non_null, attribute)

    def _object_read(self, step: _Step, value: Any, path: Path) -> Any:
        """A plain object field's value completed from its object plan, without a resolve
        info or strawberry's resolver (they would read the same attribute); ``Undefined``
        when the step's ordinary path must answer: a null, an ``Exception``, an awaitable, a
        value the type's check refuses, a selection the plan leaves to graphql-core (a type
        of each value is checked once per request: an awaitable is one by its type)."""
        kind = type(value)
        if kind not in self._plain_types:
            if (
                value is None
                or value is Undefined
                or isinstance(value, Exception)
                or self.is_awaitable(value)
            ):
                return Undefined
            self._plain_types.add(kind)
        named: Any = step.named
        plan = self._object_plan(named, step.details)
        check = plan.check
        if check is not None and check(value, None) is not True:  # strawberry's: no info read
            return Undefined
        leaves = plan.leaves
        if leaves is not None:
            return _built(value, leaves)
        steps = plan.steps
        if steps is None or plan.collected.new_defer_usages:
            return Undefined
        field: Any = step.field
        compiled = plan.compiled[0]
        if type(compiled) is int:  # not yet compiled, or now
            compiled = self._compiled(plan, named, 1)
        try:
            completed = (
                compiled(self, value, path, NO_KEY)
                if compiled
                else self._run_steps(steps, named, value, path, None)
            )
        except Exception as raw_error:
            self.handle_field_error(raw_error, field.type, step.details, path)
            return None
        if type(completed) is not dict and self.is_awaitable(completed):
            return _await_completed(self, completed, field.type, step.details, path)
        return completed

    def _execute_free(
        self,
        step: _Step,
        parent_type: GraphQLObjectType,
        source: Any,
        path: Path,
        resolve: Callable[[Any, Any], Any],
    ) -> AwaitableOrValue[Any]:
        """graphql-core's ``execute_field`` for a field whose resolver takes no info
        (``_Step.info_free``): called with none, and its value answered without one where
        ``_answered_without_info`` can; otherwise the info is built then and the same value
        completes as any other's (``_completed_with_info``)."""
        try:
            result = resolve(source, None)
            answered = self._answered_without_info(step, result, path)
        except Exception as raw_error:
            field: Any = step.field
            self.handle_field_error(raw_error, field.type, step.details, path)
            return None
        if answered is not Undefined:
            return answered
        return self._completed_with_info(step, parent_type, source, path, result, None)

    def _completed_with_info(
        self,
        step: _Step,
        parent_type: GraphQLObjectType,
        source: Any,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        """graphql-core's ``execute_field`` for a field without arguments, from its step: the
        info built, the field's resolver called with it (``result`` ``_UNRESOLVED``; else the
        value an info-free resolver returned) and its value completed; errors handled as
        graphql-core handles them."""
        field: Any = step.field
        info = self.build_resolve_info(field, step.nodes, parent_type, path)
        try:
            if result is _UNRESOLVED:
                result = (step.resolve or self.field_resolver)(source, info)
            if type(result) not in _NEVER_AWAITED and self.is_awaitable(result):
                return self.complete_awaitable_value(
                    field.type, step.details, info, path, result, position_context
                )
            completed = self._complete_step(step, info, path, result, position_context)
            if type(completed) not in _NEVER_AWAITED and self.is_awaitable(completed):
                return _await_completed(self, completed, field.type, step.details, path)
        except Exception as raw_error:
            self.handle_field_error(raw_error, field.type, step.details, path)
            return None
        return completed

    def _answered_without_info(self, step: _Step, result: Any, path: Path) -> Any:
        """An info-free resolver's value completed without an info: a null where one may be,
        a leaf passed through, a list the short path answers; ``Undefined`` for anything else
        (an awaitable, a null where none may be, an object, a value to serialise or that the
        short path declines), which the caller completes with an info, from the same value."""
        if result is None:
            return Undefined if step.non_null else None
        if result is Undefined:
            return Undefined
        kind = type(result)
        if step.kind == _LEAF:
            if kind is step.unchanged and (kind is not int or _MIN_INT <= result <= _MAX_INT):
                return result  # what the serialiser would hand back
        elif step.kind == _LIST and (kind is list or kind is tuple):
            named: Any = step.named
            answered = self._list_in_one_loop(named.of_type, step.details, result, None, path, None)
            if answered is not None:
                return answered
        return Undefined

    def _complete_step(
        self,
        step: _Step,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        """graphql-core's ``complete_value`` for the field's type, its dispatch decided once:
        an ``Exception`` raised, null checked against a non-null type with graphql-core's
        message, then the leaf, object or list completed by the executor's own methods."""
        if isinstance(result, Exception):
            raise result
        if result is None or result is Undefined:
            if step.non_null:
                msg = (
                    "Cannot return null for non-nullable field"
                    f" {info.parent_type}.{info.field_name}."
                )
                raise TypeError(msg)
            return None
        kind = step.kind
        named: Any = step.named
        if kind == _LEAF:  # graphql-core's complete_leaf_value, its serialiser found once
            result_type = type(result)
            if result_type is step.unchanged and (
                result_type is not int or _MIN_INT <= result <= _MAX_INT
            ):
                return result  # what the serialiser would hand back
            serialized = step.serialize(result)  # type: ignore[misc]  # a leaf's is set
            if serialized is None or serialized is Undefined:
                return self.complete_leaf_value(named, result)  # refused with its message
            return serialized
        if kind == _OBJECT:
            return self.complete_object_value(
                named, step.details, info, path, result, position_context
            )
        if kind == _LIST:
            return self.complete_list_value(
                named, step.details, info, path, result, position_context
            )
        return self.complete_value(named, step.details, info, path, result, position_context)


@functools.cache
def _attribute_reader(attribute: str) -> Callable[[Any, Any], Any]:
    """strawberry's resolver of a field without one (``getattr`` of its attribute, no
    permission nor extension), called without an info."""

    def read(source: Any, info: Any) -> Any:
        return getattr(source, attribute)

    return read


def _built(source: Any, leaves: _LeafPlan) -> dict[str, Any] | Any:
    """An object made of plain leaves alone, read from ``source``; ``Undefined`` when a leaf
    declines the short path (the ordinary path then answers for the whole object)."""
    answered: dict[str, Any] = {}
    for response_name, attribute, unchanged, read in leaves:
        value: Any = getattr(source, attribute, Undefined)
        kind = type(value)
        if kind is not unchanged or (kind is int and not _MIN_INT <= value <= _MAX_INT):
            value = _serialized(value, read)
            if value is Undefined:
                return Undefined
        answered[response_name] = value
    return answered


def _serialized(value: Any, read: LeafRead) -> Any:
    """A plain leaf's value (read, not passed through) serialised, or ``Undefined`` when the
    ordinary path must answer. Each loop reading leaves passes a value through first, as the
    serialiser would hand it back: the ``unchanged`` type (an int only within 32 bits)."""
    if value is None:
        return None if read.nullable else Undefined
    if value is Undefined or isinstance(value, Exception):
        return Undefined
    try:
        serialized = read.serialize(value)
    except Exception:  # graphql-core raises and locates it on the ordinary path
        return Undefined
    return Undefined if serialized is None else serialized


async def _await_completed(
    executor: LeafExecutionContext,
    completed: Any,
    return_type: GraphQLOutputType,
    details: FieldDetailsList,
    path: Path,
) -> Any:
    """graphql-core's ``await_completed``: a field's completion awaited, its error handled."""
    try:
        return await completed
    except Exception as raw_error:
        executor.handle_field_error(raw_error, return_type, details, path)
        return None


async def _awaited_in_place(container: _Awaiting, keys: list[Any]) -> _Awaiting:
    """graphql-core's ``get_results`` (``keys``: a dict's awaitable fields) and
    ``get_completed_results`` (a list's awaitable indices): each awaited in place, the first
    error cancelling the rest."""
    if len(keys) == 1:
        key = keys[0]
        container[key] = await container[key]
    else:
        awaited = await gather_with_cancel(*(container[key] for key in keys))
        for key, value in zip(keys, awaited, strict=True):
            container[key] = value
    return container
