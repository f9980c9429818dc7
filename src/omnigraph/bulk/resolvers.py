"""The GraphQL side of bulk exports: the query read once when an export starts, and each page
run through the schema as the caller who started it.

**Reading the query** (:func:`analyse`). A bulk query is one query whose root is one of the
connections a whole data set is paged through (``orders``, ``payouts``, ``exceptions``),
selecting ``edges { node { ... } }``, without ``first`` or ``after`` (the export pages itself)
and without variables. It is validated as the same query asked directly would be; then the
paging is written into it (``first: $bulkFirst, after: $bulkAfter`` on the root field and its
``pageInfo`` under an alias), its page size is the largest ``first`` whose cost the limits
allow (so limits on depth and cost apply to each page, not to the export), and the shape of
its rows is read off it (``omnigraph.bulk.plan``).

**Permissions** are those of the query asked directly: every field the query selects is
checked against the permission matrix for the caller when the export starts (a reporting key
cannot export a field it cannot read: ``FORBIDDEN`` before anything runs), the first page is
tried with ``first: 0`` so the root field's and the filters' own checks run, and every page
runs through the schema with the caller's principal, re-read for an API key before each page
(a revoked key's export fails with ``ACCESS_REVOKED``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from graphql import (
    ArgumentNode,
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableDefinitionNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
    parse,
    print_ast,
    validate,
)
from sqlalchemy import select
from strawberry import Schema

from omnigraph.bulk.operations import Problem
from omnigraph.bulk.plan import (
    AFTER_VARIABLE,
    FIRST_VARIABLE,
    PAGE_INFO_KEY,
    Column,
    Plan,
    Shape,
)
from omnigraph.bulk.runner import AccessEnded, PageAnswer, PageError
from omnigraph.core.errors import OmnigraphError
from omnigraph.db.models import ApiKeyRow, BulkOperationRow
from omnigraph.graph.context import RequestContext
from omnigraph.graph.limits.cost import operation_cost
from omnigraph.graph.matrix import Matrix, load_matrix
from omnigraph.graph.overrides import graphql_schema
from omnigraph.runtime.services import Services
from omnigraph.security.principal import Principal, Role
from omnigraph.settings import QueryLimits

__all__ = [
    "BULK_ROOTS",
    "PAGE_OPERATION",
    "BulkCaller",
    "DirectPage",
    "DirectQuery",
    "DirectRoot",
    "SchemaPages",
    "Selected",
    "analyse",
    "forbidden_fields",
    "may_read_directly",
    "node_selection",
    "principal_json",
]

BULK_ROOTS = ("orders", "payouts", "exceptions")
PAGE_OPERATION = "BulkPage"


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(code, message, ("input", "query"))


@dataclass(frozen=True, slots=True)
class Analysis:
    plan: Plan
    # every (type, field) the query selects, to check against the permission matrix
    fields: frozenset[tuple[str, str]] = field(default_factory=frozenset)


def analyse(schema: GraphQLSchema, query: str, limits: QueryLimits) -> Analysis | Problem:
    """The plan of a bulk query, or why it cannot run as one (a coded problem)."""
    try:
        return _Analyser(schema, limits).run(query)
    except _Refused as refused:
        return refused.problem


class _Analyser:
    def __init__(self, schema: GraphQLSchema, limits: QueryLimits) -> None:
        self.schema = schema
        self.limits = limits
        self.fragments: dict[str, FragmentDefinitionNode] = {}
        self.used: set[tuple[str, str]] = set()

    def run(self, query: str) -> Analysis:
        try:
            document = parse(query, max_tokens=self.limits.max_tokens)
        except GraphQLError as error:
            raise _Refused("BULK_QUERY_INVALID", error.message) from None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1:
            raise _Refused("BULK_QUERY_INVALID", "a bulk query holds exactly one operation")
        operation = operations[0]
        if operation.operation is not OperationType.QUERY:
            raise _Refused(
                "BULK_QUERY_INVALID",
                f"a bulk export runs a query, not a {operation.operation.value}",
            )
        if operation.variable_definitions:
            raise _Refused(
                "BULK_QUERY_INVALID",
                "a bulk query takes no variables: write their values into the query",
            )
        errors = validate(self.schema, document)
        if errors:
            raise _Refused("BULK_QUERY_INVALID", "; ".join(e.message for e in errors[:3]))
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        root = self._root(operation)
        query_type = self.schema.query_type
        assert query_type is not None
        self.used.add((query_type.name, root.name.value))
        connection = get_named_type(query_type.fields[root.name.value].type)
        assert isinstance(connection, GraphQLObjectType)
        root_key = (root.alias or root.name).value
        assert root.selection_set is not None  # validated: a connection has fields
        edges_key, edges_type, edges_sets = self._one(
            connection, [root.selection_set], "edges", root_key
        )
        node_key, node_type, node_sets = self._one(
            edges_type, edges_sets, "node", f"{root_key}.{edges_key}"
        )
        shape = self._shape(node_type, node_sets, f"{root_key}.{edges_key}.{node_key}")
        document_text = print_ast(_paged(document, operation, root))
        plan = Plan(
            document=document_text,
            root_name=root.name.value,
            root_key=root_key,
            edges_key=edges_key,
            node_key=node_key,
            page_size=self._page_size(document_text),
            shape=shape,
        )
        return Analysis(plan, frozenset(self.used))

    def _root(self, operation: OperationDefinitionNode) -> FieldNode:
        selections = [
            s
            for s in operation.selection_set.selections
            if not (isinstance(s, FieldNode) and s.name.value == "__typename")
        ]
        if len(selections) != 1 or not isinstance(selections[0], FieldNode):
            raise _Refused(
                "BULK_ROOT_NOT_A_CONNECTION",
                "a bulk query selects one root field, one of " + ", ".join(BULK_ROOTS),
            )
        root = selections[0]
        if root.name.value not in BULK_ROOTS:
            raise _Refused(
                "BULK_ROOT_NOT_A_CONNECTION",
                f"`{root.name.value}` is not a connection a bulk query pages through: its root"
                " is one of " + ", ".join(BULK_ROOTS),
            )
        paging = sorted({a.name.value for a in root.arguments or ()} & {"first", "after"})
        if paging:
            raise _Refused(
                "BULK_PAGING_ARGUMENT",
                f"leave out {' and '.join(paging)}: a bulk export pages through the whole"
                " connection itself",
            )
        return root

    def _one(
        self,
        parent: GraphQLNamedType,
        selection_sets: Sequence[SelectionSetNode],
        name: str,
        where: str,
    ) -> tuple[str, GraphQLObjectType, list[SelectionSetNode]]:
        found = [
            (key, selected)
            for key, selected in self._collect(parent, selection_sets).items()
            if selected.name == name
        ]
        if len(found) != 1:
            raise _Refused(
                "BULK_QUERY_INVALID",
                f"select `{name}` once under `{where}`: a bulk query reads"
                " `edges { node { ... } }`",
            )
        key, selected = found[0]
        self.used.add((selected.owner.name, name))
        inner = get_named_type(selected.owner.fields[name].type)
        assert isinstance(inner, GraphQLObjectType)
        return key, inner, selected.selection_sets

    def _shape(
        self, parent: GraphQLNamedType, selection_sets: Sequence[SelectionSetNode], where: str
    ) -> Shape:
        columns: list[Column] = []
        id_key: str | None = None
        for key, selected in self._collect(parent, selection_sets).items():
            if selected.name == "__typename":
                columns.append(Column(key, "scalar", "String"))
                continue
            self.used.add((selected.owner.name, selected.name))
            definition = selected.owner.fields[selected.name]
            depth, named = _unwrap(definition.type)
            if is_leaf_type(named):
                type_name = named.name if isinstance(named, GraphQLScalarType) else "String"
                if depth > 1:  # a list of lists: kept as JSON text
                    columns.append(Column(key, "scalar", "JSON"))
                else:
                    columns.append(Column(key, "scalar", type_name, list=depth == 1))
                if selected.name == "id" and depth == 0 and id_key is None:
                    id_key = key
                continue
            if depth > 1:
                raise _Refused(
                    "BULK_QUERY_INVALID", f"`{where}.{key}` is a list of lists of objects"
                )
            inner = self._shape(named, selected.selection_sets, f"{where}.{key}")
            columns.append(Column(key, "level" if depth == 1 else "object", shape=inner))
        shape = Shape(tuple(columns), id_key)
        if not shape.has_levels() or id_key is not None:
            return shape
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) and "id" in parent.fields:
            raise _Refused(
                "BULK_PARENT_ID_REQUIRED",
                f"select `id` on `{where}`: the rows of the lists below it name their parent"
                " by it (`__parentId`)",
            )
        return Shape(tuple(columns), None, synthetic_id=True)

    def _collect(
        self, parent: GraphQLNamedType, selection_sets: Iterable[SelectionSetNode]
    ) -> dict[str, _Selected]:
        """The fields of ``selection_sets`` by response key, through fragments, with the type
        that declares each; a field under ``@skip(if: true)``/``@include(if: false)`` left out."""
        found: dict[str, _Selected] = {}

        def visit(on_type: GraphQLNamedType, selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if not _included(selection.directives or ()):
                    continue
                if isinstance(selection, FieldNode):
                    key = (selection.alias or selection.name).value
                    assert isinstance(on_type, GraphQLObjectType | GraphQLInterfaceType) or (
                        selection.name.value == "__typename"
                    )
                    entry = found.get(key)
                    if entry is None:
                        entry = found[key] = _Selected(selection.name.value, on_type)  # type: ignore[arg-type]
                    if selection.selection_set is not None:
                        entry.selection_sets.append(selection.selection_set)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    inner = self.schema.get_type(condition.name.value) if condition else on_type
                    visit(inner or on_type, selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments[selection.name.value]
                    inner = self.schema.get_type(fragment.type_condition.name.value)
                    visit(inner or on_type, fragment.selection_set)

        for selection_set in selection_sets:
            visit(parent, selection_set)
        return found

    def _page_size(self, document_text: str) -> int:
        """The largest ``first`` (to the page-size cap) whose page the cost limit allows."""
        document = parse(document_text)

        def cost(first: int) -> int:
            return operation_cost(
                self.schema, document, variables={FIRST_VARIABLE: first}, limits=self.limits
            )

        if cost(1) > self.limits.max_cost:
            raise _Refused(
                "QUERY_TOO_COSTLY",
                f"one row of this export costs {cost(1)}, more than the {self.limits.max_cost}"
                " a page may: select fewer nested lists",
            )
        low, high = 1, self.limits.max_page_size
        while low < high:
            middle = (low + high + 1) // 2
            if cost(middle) <= self.limits.max_cost:
                low = middle
            else:
                high = middle - 1
        return low


@dataclass(slots=True)
class _Selected:
    name: str
    owner: GraphQLObjectType
    selection_sets: list[SelectionSetNode] = field(default_factory=list)


def _unwrap(type_: Any) -> tuple[int, GraphQLNamedType]:
    depth = 0
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        if isinstance(type_, GraphQLList):
            depth += 1
        type_ = type_.of_type
    return depth, type_


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


def _name(value: str) -> NameNode:
    return NameNode(value=value)


def _field(name: str, alias: str | None = None, *selections: FieldNode) -> FieldNode:
    return FieldNode(
        alias=_name(alias) if alias else None,
        name=_name(name),
        arguments=(),
        directives=(),
        selection_set=SelectionSetNode(selections=selections) if selections else None,
    )


def _paged(
    document: DocumentNode, operation: OperationDefinitionNode, root: FieldNode
) -> DocumentNode:
    """The query with the paging written in (see the module)."""

    def variable(name: str) -> VariableNode:
        return VariableNode(name=_name(name))

    arguments = (
        *(root.arguments or ()),
        ArgumentNode(name=_name("first"), value=variable(FIRST_VARIABLE)),
        ArgumentNode(name=_name("after"), value=variable(AFTER_VARIABLE)),
    )
    page_info = _field("pageInfo", PAGE_INFO_KEY, _field("hasNextPage"), _field("endCursor"))
    assert root.selection_set is not None
    paged_root = FieldNode(
        alias=root.alias,
        name=root.name,
        arguments=arguments,
        directives=root.directives,
        selection_set=SelectionSetNode(selections=(*root.selection_set.selections, page_info)),
    )
    paged = OperationDefinitionNode(
        operation=OperationType.QUERY,
        name=_name(PAGE_OPERATION),
        variable_definitions=(
            VariableDefinitionNode(
                variable=variable(FIRST_VARIABLE),
                type=NonNullTypeNode(type=NamedTypeNode(name=_name("Int"))),
                directives=(),
            ),
            VariableDefinitionNode(
                variable=variable(AFTER_VARIABLE),
                type=NamedTypeNode(name=_name("String")),
                directives=(),
            ),
        ),
        directives=operation.directives,
        selection_set=SelectionSetNode(selections=(paged_root,)),
    )
    fragments = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    return DocumentNode(definitions=(paged, *fragments))


def forbidden_fields(
    fields: Iterable[tuple[str, str]], principal: Principal | None, matrix: Matrix | None = None
) -> list[str]:
    """The ``Type.field`` the query selects that ``principal`` may not read, as the matrix
    says (a field a storefront key may read on its own channel's records is checked on each
    row as the pages run)."""
    matrix = matrix or load_matrix()
    refused = []
    for type_name, field_name in sorted(fields):
        roles = matrix.roles_for(type_name, field_name)
        if roles is None or f"{type_name}.{field_name}" in matrix.own_channel:
            continue
        if principal is None or not principal.has_any(roles):
            refused.append(f"{type_name}.{field_name}")
    return refused


# -- running pages as the caller -------------------------------------------------------------


def principal_json(principal: Principal) -> dict[str, Any]:
    """What an export keeps of its caller, to act as it on every page."""
    return {
        "subject": principal.subject,
        "roles": sorted(role.value for role in principal.roles),
        "channel": principal.channel,
        "via": principal.via,
        "key": principal.key,
        "validUntil": principal.valid_until,
    }


@dataclass(frozen=True, slots=True)
class BulkCaller:
    """What the schema's guards read of a request (``scope["user"]``), for a page the
    runner asks as the export's caller."""

    principal: Principal
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def scope(self) -> dict[str, Any]:
        return {"type": "bulk", "user": self.principal}


class SchemaPages:
    """Runs export pages through a schema (made on first use: the single-process graph with
    the limits and the production masking, without trusted documents, which the export's
    start checked) as the caller who started each export.

    A root connection with a :class:`DirectRoot` in ``direct`` has its pages answered by it
    where it can (see "pages a domain answers itself" below: the same rows, without
    executing GraphQL field by field), ``direct_page_size`` nodes a page; every other page
    runs through the schema."""

    def __init__(
        self,
        services: Services,
        schema: Callable[[], Schema],
        direct: Mapping[str, DirectRoot] | None = None,
    ) -> None:
        self.services = services
        self._make_schema = schema
        self._bulk_schema: Schema | None = None
        self.direct = dict(direct or {})
        # compiled per page document (None: its pages run through the schema)
        self._compiled: dict[str, DirectQuery | None] = {}

    @property
    def schema(self) -> Schema:
        if self._bulk_schema is None:
            self._bulk_schema = self._make_schema()
        return self._bulk_schema

    async def principal(self, operation: BulkOperationRow) -> Principal:
        """The export's caller as it stands now: a key's roles read again (a revoked key,
        or an expired token, ends the export)."""
        kept = operation.principal
        roles = frozenset(Role(role) for role in kept.get("roles", ()))
        channel = kept.get("channel")
        key = kept.get("key")
        if key:
            async with self.services.sessions() as session:
                row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.prefix == key))
            if row is None or row.revoked_at is not None:
                raise AccessEnded(
                    "ACCESS_REVOKED", "the API key that started this export was revoked"
                )
            roles = frozenset(Role(role) for role in row.roles)
            channel = row.channel
        valid_until = kept.get("validUntil")
        now = self.services.now()
        if valid_until is not None and now.timestamp() > float(valid_until):
            expired = datetime.fromtimestamp(float(valid_until), UTC).isoformat()
            raise AccessEnded(
                "ACCESS_EXPIRED", f"the token that started this export expired at {expired}"
            )
        return Principal(
            subject=str(kept.get("subject", "")),
            roles=roles,
            channel=channel,
            via=str(kept.get("via", "api_key")),
            valid_until=valid_until,
            key=key,
        )

    async def run_page(self, operation: BulkOperationRow, variables: dict[str, Any]) -> PageAnswer:
        principal = await self.principal(operation)
        plan = operation.plan
        document = str(plan["document"])
        compiled = self._direct_query(str(plan["rootName"]), document)
        if compiled is not None and may_read_directly(
            {("Query", str(plan["rootName"])), *compiled.fields}, principal, load_matrix()
        ):
            answer = await self._run_direct(compiled, principal, plan, variables)
            if answer is not None:
                return answer
        return await self.run_as(principal, document, variables)

    def _direct_query(self, root_name: str, document: str) -> DirectQuery | None:
        if document not in self._compiled:
            root = self.direct.get(root_name)
            selection = node_selection(document) if root is not None else None
            compiled = None
            if root is not None and selection is not None:
                compiled = root.compile(graphql_schema(self.schema), selection)
            if len(self._compiled) >= 64:
                self._compiled.clear()
            self._compiled[document] = compiled
        return self._compiled[document]

    async def _run_direct(
        self,
        compiled: DirectQuery,
        principal: Principal,
        plan: Mapping[str, Any],
        variables: dict[str, Any],
    ) -> PageAnswer | None:
        """One page answered by ``compiled``, shaped as the schema's answer; None when it
        must run through the schema."""
        settings = self.services.settings
        # as much of a direct page as the cost limit lets the schema's pages be of theirs
        full = settings.limits.max_page_size
        size = max(1, settings.bulk.direct_page_size * int(plan["pageSize"]) // full)
        context = RequestContext.for_request(self.services, BulkCaller(principal))
        timeout = settings.limits.execution_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                page = await compiled.page(context, principal, size, variables.get(AFTER_VARIABLE))
        except TimeoutError:
            return PageAnswer(None, [PageError("TIMEOUT", f"a page took longer than {timeout} s")])
        except OmnigraphError:
            # a coded failure (a source breaking its contract, a cursor that is no cursor):
            # the schema's page meets it too and answers it with its code, as asked directly
            page = None
        finally:
            context.release()
        if page is None:
            return None
        node_key = str(plan["nodeKey"])
        connection = {
            str(plan["edgesKey"]): [{node_key: node} for node in page.nodes],
            PAGE_INFO_KEY: {"hasNextPage": page.has_next, "endCursor": page.end_cursor},
        }
        return PageAnswer({str(plan["rootKey"]): connection}, rows=page.rows)

    async def run_as(
        self, principal: Principal, document: str, variables: dict[str, Any]
    ) -> PageAnswer:
        """One page of ``document`` as ``principal``, within the execution timeout."""
        context = RequestContext.for_request(self.services, BulkCaller(principal))
        timeout = self.services.settings.limits.execution_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                result = await self.schema.execute(
                    document,
                    variable_values=variables,
                    context_value=context,
                    operation_name=PAGE_OPERATION,
                )
        except TimeoutError:
            return PageAnswer(None, [PageError("TIMEOUT", f"a page took longer than {timeout} s")])
        finally:
            context.release()
        errors = [
            PageError(
                str((error.extensions or {}).get("code", "INTERNAL_SERVER_ERROR")), error.message
            )
            for error in result.errors or ()
        ]
        return PageAnswer(result.data, errors)


# -- pages a domain answers itself ---------------------------------------------------------
#
# Export pages a domain answers itself, without executing GraphQL field by field.
#
# An export page run through the schema builds an object per order, per line and per provenance
# entry and completes each field through graphql-core: for a page of orders with their
# provenance that is most of what the page costs beside the truth itself (docs/PERFORMANCE.md,
# "Bulk exports"). A domain may instead offer a :class:`DirectRoot` for its root connection: it
# compiles the export's node selection once (or declines it) into a :class:`DirectQuery`, which
# answers a page as plain rows straight from its records and truths, each leaf serialised by
# its GraphQL type, so the rows are those the schema would give.
#
# It declines (and the page runs through the schema, as before) whenever it could not be sure to
# answer exactly as the schema would: a selection with arguments, directives or fragments, or a
# field it does not know; a caller the permission matrix restricts on any field read (the schema
# then answers ``FORBIDDEN`` as it would directly); a page whose sources did not all answer (the
# schema then reports them, and the runner retries).


@dataclass(frozen=True, slots=True)
class Selected:
    """One field of the node's selection: its response key, its name, and what it selects."""

    key: str
    name: str
    children: tuple[Selected, ...] = ()


@dataclass(frozen=True, slots=True)
class DirectPage:
    """A page's nodes (as the schema would answer them), where the listing goes on, and how
    many rows its nodes make (the runner's object count)."""

    nodes: list[dict[str, Any]]
    has_next: bool
    end_cursor: str | None
    rows: int


class DirectQuery(Protocol):
    """A node selection compiled to answer pages itself."""

    @property
    def fields(self) -> frozenset[tuple[str, str]]:
        """Every ``(type, field)`` it reads, for the permission matrix."""

    async def page(
        self, ctx: RequestContext, principal: Principal, first: int, after: str | None
    ) -> DirectPage | None:
        """Up to ``first`` nodes after ``after``; None when this page must run through the
        schema (a source did not answer)."""


class DirectRoot(Protocol):
    """What a domain offers for its root connection (``orders``)."""

    def compile(self, schema: GraphQLSchema, node: tuple[Selected, ...]) -> DirectQuery | None:
        """The compiled selection, or None: not one this domain answers exactly."""


def node_selection(document: str) -> tuple[Selected, ...] | None:
    """The node selection of an export page's document (``omnigraph.bulk.resolvers`` wrote
    it: the root field paged by the bulk variables), or None when anything in it is more than
    plain fields: arguments (but the root's paging), directives, fragments, or a field of the
    connection or its edges besides ``edges``, ``node`` and the page's position."""
    try:
        parsed = parse(document)
    except GraphQLError:
        return None
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or len(parsed.definitions) != 1 or operations[0].directives:
        return None
    roots = operations[0].selection_set.selections
    if len(roots) != 1 or not isinstance(roots[0], FieldNode):
        return None
    root = roots[0]
    paging = {
        a.name.value: a.value.name.value
        for a in root.arguments or ()
        if isinstance(a.value, VariableNode)
    }
    if (
        root.directives
        or len(root.arguments or ()) != 2
        or paging != {"first": FIRST_VARIABLE, "after": AFTER_VARIABLE}
    ):
        return None
    connection = _plain(root.selection_set, allow_arguments=False)
    if connection is None:
        return None
    edges = [f for f in connection if (f.alias.value if f.alias else None) != PAGE_INFO_KEY]
    if len(edges) != 1 or edges[0].name.value != "edges":
        return None
    nodes = _plain(edges[0].selection_set, allow_arguments=False)
    if nodes is None or len(nodes) != 1 or nodes[0].name.value != "node":
        return None
    return _selected(nodes[0].selection_set)


def _plain(
    selection_set: SelectionSetNode | None, *, allow_arguments: bool
) -> list[FieldNode] | None:
    if selection_set is None:
        return None
    fields: list[FieldNode] = []
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives:
            return None
        if selection.arguments and not allow_arguments:
            return None
        fields.append(selection)
    return fields


def _selected(selection_set: SelectionSetNode | None) -> tuple[Selected, ...] | None:
    fields = _plain(selection_set, allow_arguments=False)
    if fields is None:
        return None
    out: list[Selected] = []
    seen: set[str] = set()
    for node in fields:
        key = (node.alias or node.name).value
        if key in seen:  # a key selected twice is merged by GraphQL: left to the schema
            return None
        seen.add(key)
        children: tuple[Selected, ...] = ()
        if node.selection_set is not None:
            inner = _selected(node.selection_set)
            if inner is None:
                return None
            children = inner
        out.append(Selected(key, node.name.value, children))
    return tuple(out)


def may_read_directly(
    fields: Iterable[tuple[str, str]], principal: Principal, matrix: Matrix
) -> bool:
    """Whether ``principal`` may read every field with no check left to the row: each one the
    matrix leaves open, or restricts to roles the principal holds (never one it opens to a
    storefront key on its own channel's records only, which is checked row by row)."""
    read = set(fields)
    row_by_row = any(
        f"{type_name}.{field_name}" in matrix.own_channel
        and matrix.roles_for(type_name, field_name) is not None
        for type_name, field_name in read
    )
    return not row_by_row and not forbidden_fields(read, principal, matrix)
