"""``BulkOperation``: a query over a whole connection, run in the background into one file.

``runBulkQuery`` starts one, ``bulkOperation``/``bulkOperations`` and the
``bulkOperationChanged`` subscription watch it, ``cancelBulkOperation`` stops it, and its
``url`` (``GET /bulk/{id}/file``, for the key that started it) serves the file once it is
complete. An export is its caller's alone: another key sees no such export.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.types import Info

from omnigraph.bulk import operations
from omnigraph.bulk.events import BulkEvents, BulkWakeup
from omnigraph.bulk.formats import parquet_available
from omnigraph.bulk.operations import (
    ACTIVE,
    BulkFormat,
    BulkStatus,
    Problem,
    bulk_operation_key,
    download_path,
    global_id,
)
from omnigraph.bulk.plan import AFTER_VARIABLE, FIRST_VARIABLE
from omnigraph.bulk.resolvers import (
    SchemaPages,
    analyse,
    forbidden_fields,
    principal_json,
)
from omnigraph.core.errors import InvalidId, InvalidInput, OmnigraphError
from omnigraph.db.idempotency import valid_key
from omnigraph.db.models import BulkOperationRow
from omnigraph.graph.context import RequestContext
from omnigraph.graph.overrides import graphql_schema
from omnigraph.graph.pagination import check_first, decode_cursor, encode_cursor, page_info
from omnigraph.graph.permissions import principal_of
from omnigraph.graph.scalars import UnsignedInt64
from omnigraph.graph.types import Connection, Edge, UserError
from omnigraph.security.document_store import PersistedDocuments, document_hash
from omnigraph.security.principal import Principal

__all__ = [
    "BulkMutations",
    "BulkOperation",
    "BulkOperationPayload",
    "BulkQueries",
    "BulkSubscriptions",
    "RunBulkQueryInput",
]

Ctx = Info[RequestContext, None]
CURSOR_KIND = "bulk"

strawberry.enum(BulkStatus, name="BulkOperationStatus")
strawberry.enum(BulkFormat, name="BulkFormat")


class BulkOperationNotFound(OmnigraphError):
    code = "NOT_FOUND"


def _base_url(ctx: RequestContext) -> str:
    """Where the caller reached this service (``ws`` read as ``http``), or nothing."""
    base = getattr(ctx.request, "base_url", None)
    if base is None:
        return ""
    text = str(base).rstrip("/")
    if text.startswith("ws"):
        text = "http" + text[2:]
    return text


@strawberry.type(
    description="A query run over every page of a connection in the background, into one file."
)
class BulkOperation:
    id: strawberry.ID
    status: BulkStatus
    format: BulkFormat
    query: str = strawberry.field(description="The query as it was given.")
    object_count: UnsignedInt64 = strawberry.field(
        description="Rows written so far: the root's nodes and every item of the nested lists."
    )
    root_object_count: UnsignedInt64 = strawberry.field(
        description="Nodes of the root connection written so far."
    )
    file_size: UnsignedInt64 | None = strawberry.field(
        description="Bytes of the file, once COMPLETED."
    )
    error_code: str | None = strawberry.field(
        description="Why it FAILED: the code of the page's error (FORBIDDEN,"
        " UPSTREAM_UNAVAILABLE, ACCESS_REVOKED...)."
    )
    error_message: str | None
    created_at: datetime
    completed_at: datetime | None = strawberry.field(
        description="When it COMPLETED, FAILED or was CANCELED."
    )
    expires_at: datetime | None = strawberry.field(
        description="When the file is deleted (a COMPLETED export's `url` works until then)."
    )
    _row_id: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: BulkOperationRow) -> BulkOperation:
        return cls(
            id=strawberry.ID(global_id(row.id)),
            status=BulkStatus(row.status),
            format=BulkFormat(row.format),
            query=row.query,
            object_count=UnsignedInt64(row.object_count),
            root_object_count=UnsignedInt64(row.root_object_count),
            file_size=(
                UnsignedInt64(row.file_size)
                if row.status == BulkStatus.COMPLETED and row.file_size is not None
                else None
            ),
            error_code=row.error_code,
            error_message=row.error_message,
            created_at=row.created_at,
            completed_at=row.completed_at,
            expires_at=row.expires_at,
            _row_id=row.id,
        )

    @strawberry.field(
        description="Where to download the file (`GET`, with the key that started the"
        " export; ranges supported), once COMPLETED and until `expiresAt`; null otherwise:"
        " nothing half-written is ever served."
    )
    def url(self, info: Ctx) -> str | None:
        if self.status is not BulkStatus.COMPLETED or self.expires_at is None:
            return None
        if self.expires_at <= info.context.services.now():
            return None
        return _base_url(info.context) + download_path(self._row_id)


@strawberry.type(description="The export as the mutation left it, or why it did not start.")
class BulkOperationPayload:
    bulk_operation: BulkOperation | None
    user_errors: list[UserError]


def _refused(problem: Problem) -> BulkOperationPayload:
    return BulkOperationPayload(
        bulk_operation=None,
        user_errors=[
            UserError(
                code=problem.code,
                message=problem.message,
                field=list(problem.field) if problem.field else None,
            )
        ],
    )


@strawberry.input
class RunBulkQueryInput:
    query: str = strawberry.field(
        description="One query whose root is `orders`, `payouts` or `exceptions`, selecting"
        " `edges { node { ... } }`, without `first`/`after` and without variables."
    )
    format: BulkFormat = BulkFormat.JSONL
    idempotency_key: str = strawberry.field(
        description="The same key and input answer the export it started; other input is"
        " refused (IDEMPOTENCY_KEY_REUSED)."
    )


def _caller(info: Ctx) -> Principal:
    principal = principal_of(info)
    if principal is None:  # behind the authentication middleware there always is one
        raise InvalidInput("a bulk export needs an authenticated caller")
    return principal


async def _start(info: Ctx, input: RunBulkQueryInput) -> BulkOperation | Problem:
    ctx = info.context
    services = ctx.services
    settings = services.settings
    principal = _caller(info)
    if not valid_key(input.idempotency_key):
        return Problem(
            "BAD_USER_INPUT",
            "an idempotency key is 1 to 255 characters",
            ("input", "idempotencyKey"),
        )
    if input.format is BulkFormat.PARQUET and not parquet_available():
        return Problem(
            "BULK_FORMAT_UNAVAILABLE",
            "PARQUET needs pyarrow, which this installation lacks (the `parquet` extra)",
            ("input", "format"),
        )
    if settings.trusted_documents == "allowlist":
        documents = services.get(PersistedDocuments)
        known = await documents.find(document_hash(input.query), trusted=True)
        if known is None or not known.trusted:
            return Problem(
                "PERSISTED_QUERY_NOT_ALLOWED",
                "only registered operations run here: `omnigraph documents register FILE`",
                ("input", "query"),
            )
    analysis = analyse(graphql_schema(info.schema), input.query, settings.limits)
    if isinstance(analysis, Problem):
        return analysis
    refused = forbidden_fields(analysis.fields, principal)
    if refused:
        return Problem(
            "FORBIDDEN",
            "this key may not read " + ", ".join(f"`{name}`" for name in refused),
            ("input", "query"),
        )
    pages = services.get(SchemaPages)
    # the root field's own checks (its role, the filters it is given), as a page of nothing
    probe = await pages.run_as(
        principal, analysis.plan.document, {FIRST_VARIABLE: 0, AFTER_VARIABLE: None}
    )
    if probe.errors:
        first = probe.errors[0]
        return Problem(first.code, first.message, ("input", "query"))
    started = await operations.start_operation(
        services.sessions,
        owner=principal.owner,
        principal=principal_json(principal),
        query=input.query,
        format=input.format.value,
        idempotency_key=input.idempotency_key,
        plan=analysis.plan.to_json(),
        now=services.now(),
        max_running=settings.bulk.max_running_per_key,
    )
    if isinstance(started, Problem):
        return started
    wakeup = services.find(BulkWakeup)
    if wakeup is not None:
        wakeup.wake()
    return BulkOperation.from_row(started)


@strawberry.type(name="Mutation")
class BulkMutations:
    @strawberry.mutation(
        description="Start an export of a query over a whole connection (`orders`, `payouts`,"
        " `exceptions`) as JSONL, CSV or PARQUET. Permissions, validation and limits are"
        " those of the same query asked directly, limits per page. At most"
        " OMNIGRAPH_BULK_MAX_RUNNING_PER_KEY created or running per key (BULK_LIMIT_REACHED)."
    )
    async def run_bulk_query(self, info: Ctx, input: RunBulkQueryInput) -> BulkOperationPayload:
        started = await _start(info, input)
        if isinstance(started, Problem):
            return _refused(started)
        return BulkOperationPayload(bulk_operation=started, user_errors=[])

    @strawberry.mutation(
        description="Stop a created or running export of yours; its partial file is deleted"
        " and never served."
    )
    async def cancel_bulk_operation(self, info: Ctx, id: strawberry.ID) -> BulkOperationPayload:
        try:
            row_id = bulk_operation_key(id)
        except InvalidId as error:
            return _refused(Problem("INVALID_ID", error.message, ("id",)))
        services = info.context.services
        found = await operations.cancel_operation(
            services.sessions, row_id, _caller(info).owner, services.now()
        )
        if found is None:
            return _refused(Problem("NOT_FOUND", f"no export {id} of yours", ("id",)))
        if isinstance(found, Problem):
            return _refused(found)
        events = services.find(BulkEvents)
        if events is not None:
            events.publish(row_id)
        return BulkOperationPayload(bulk_operation=BulkOperation.from_row(found), user_errors=[])


@strawberry.type(name="Query")
class BulkQueries:
    @strawberry.field(description="One of your exports by its id (another key's is null).")
    async def bulk_operation(self, info: Ctx, id: strawberry.ID) -> BulkOperation | None:
        services = info.context.services
        row = await operations.get_operation(
            services.sessions, bulk_operation_key(id), _caller(info).owner
        )
        return None if row is None else BulkOperation.from_row(row)

    @strawberry.field(description="Your exports, newest first.")
    async def bulk_operations(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> Connection[BulkOperation]:
        services = info.context.services
        check_first(first, services.settings.limits.max_page_size)
        position = None
        if after:
            payload = decode_cursor(after, CURSOR_KIND)
            try:
                position = (datetime.fromisoformat(payload["at"]), str(payload["id"]))
            except (KeyError, TypeError, ValueError):
                raise InvalidInput(f"{after!r} is not a valid cursor", argument="after") from None
        rows, has_next = await operations.list_operations(
            services.sessions, _caller(info).owner, first=first, after=position
        )
        edges = [
            Edge(
                cursor=encode_cursor(CURSOR_KIND, {"at": row.created_at.isoformat(), "id": row.id}),
                node=BulkOperation.from_row(row),
            )
            for row in rows
        ]
        return Connection(edges=edges, page_info=page_info(edges, has_next, None))


def _progress(row: BulkOperationRow) -> tuple[object, ...]:
    return (row.status, row.object_count, row.root_object_count, row.file_size, row.error_code)


@strawberry.type(name="Subscription")
class BulkSubscriptions:
    @strawberry.subscription(
        description="One of your exports as it stands now, then after every page written and"
        " when it ends (COMPLETED, FAILED, CANCELED), which ends the subscription."
    )
    async def bulk_operation_changed(
        self, info: Ctx, id: strawberry.ID
    ) -> AsyncGenerator[BulkOperation, None]:
        services = info.context.services
        row_id = bulk_operation_key(id)
        owner = _caller(info).owner
        events = services.get(BulkEvents)
        poll = services.settings.bulk.poll_seconds
        async with events.listening() as heard:
            row = await operations.get_operation(services.sessions, row_id, owner)
            if row is None:
                raise BulkOperationNotFound(f"no export {id} of yours")
            last = _progress(row)
            yield BulkOperation.from_row(row)
            while row.status in ACTIVE:
                try:
                    while await asyncio.wait_for(heard.get(), poll) != row_id:
                        pass
                except TimeoutError:
                    pass  # another replica's runner without Redis: read it anyway
                found = await operations.get_operation(services.sessions, row_id, owner)
                if found is None:
                    return
                row = found
                if _progress(row) != last:
                    last = _progress(row)
                    yield BulkOperation.from_row(row)
