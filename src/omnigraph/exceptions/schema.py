"""``Exception``: an owned operational problem with an audit trail (read side)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Annotated, Protocol

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from omnigraph.core.errors import InvalidId, InvalidInput
from omnigraph.core.ids import decode_global_id, encode_global_id
from omnigraph.db.idempotency import KeyClaims
from omnigraph.db.models import ExceptionRow, OutboxCommandRow
from omnigraph.exceptions import resolution as service
from omnigraph.exceptions.catalogue import ExceptionCatalogue, ExceptionKind
from omnigraph.exceptions.dispatcher import DispatcherWakeup
from omnigraph.exceptions.lifecycle import ExceptionStatus, OutboxStatus
from omnigraph.exceptions.live import ExceptionEventBus
from omnigraph.exceptions.operations import (
    AGE_BUCKETS,
    OperationsView,
    ResolutionDays,
    operations_view,
    resolution_days,
)
from omnigraph.exceptions.resolvers import (
    ExceptionLoaders,
    ExceptionQueryFilter,
    exception_by_id,
    exception_key,
    list_exceptions,
)
from omnigraph.graph.context import RequestContext
from omnigraph.graph.pagination import page_info
from omnigraph.graph.types import Connection, Edge, Entity, Node, SourceKind, UserError

__all__ = [
    "ExceptionEvent",
    "ExceptionKind",
    "ExceptionMutations",
    "ExceptionOperations",
    "ExceptionPayload",
    "ExceptionRecord",
    "ExceptionStatus",
    "ResolutionCommand",
    "ResolveExceptionInput",
    "order_exceptions",
    "user_errors",
]


Ctx = Info[RequestContext, None]


def _wake_dispatcher(ctx: RequestContext) -> None:
    """An in-process dispatcher delivers a new command now instead of at its next poll."""
    wakeup = ctx.services.find(DispatcherWakeup)
    if wakeup is not None:
        wakeup.wake()


# The catalogue's and the lifecycle's enums are the GraphQL enums (registering returns the class).
strawberry.enum(ExceptionKind, name="ExceptionKind")
strawberry.enum(ExceptionStatus, name="ExceptionStatus")
strawberry.enum(OutboxStatus, name="CommandStatus")


@strawberry.type(description="One step in an exception's life: who moved it where, when and why.")
class ExceptionEvent:
    at: datetime
    status: ExceptionStatus
    actor: str
    note: str | None


@strawberry.type(description="A command owed to (or answered by) the owning system.")
class ResolutionCommand:
    id: strawberry.ID
    resolution: str
    owner_source: str
    command_type: str
    payload: JSON
    idempotency_key: str = strawberry.field(description="What the owner sees on every delivery.")
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    owner_answer: str | None
    delivered_at: datetime | None
    exception_id: strawberry.ID

    @classmethod
    def from_row(cls, row: OutboxCommandRow) -> ResolutionCommand:
        return cls(
            id=strawberry.ID(row.id),
            resolution=row.resolution,
            owner_source=row.owner_source,
            command_type=row.command_type,
            payload=JSON(row.payload),
            idempotency_key=row.idempotency_key,
            status=OutboxStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
            owner_answer=(row.response or {}).get("detail"),
            delivered_at=row.delivered_at,
            exception_id=strawberry.ID(encode_global_id("Exception", row.exception_id)),
        )


@strawberry.federation.type(
    keys=["id"], name="Exception", description="An operational exception, owned by one system."
)
class ExceptionRecord(Node, Entity):
    id: strawberry.ID
    kind: ExceptionKind
    status: ExceptionStatus
    severity: str
    owner_source: str = strawberry.field(description="The system where resolution must happen.")
    owner_kind: SourceKind
    subject: str = strawberry.field(
        description="What it is about, one spelling per kind of subject: an order as"
        " `source:ref` (the storefront and its order number, e.g. `web-store:SF-100163`),"
        " stock as `sku@location`, money as `source:id` (the payments provider and its"
        " payout, charge or refund id)."
    )
    summary: str
    detected_at: datetime
    resolution: str | None = strawberry.field(description="The resolution chosen, if any.")
    resolved_at: datetime | None
    last_error: str | None = strawberry.field(
        description="Why the resolution is still waiting or failed (the owner's words)."
    )
    details: JSON = strawberry.field(description="The facts the exception was raised with.")
    _row_id: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: ExceptionRow) -> ExceptionRecord:
        return cls(
            id=strawberry.ID(encode_global_id("Exception", row.id)),
            kind=ExceptionKind(row.kind),
            status=ExceptionStatus(row.status),
            severity=row.severity,
            owner_source=row.owner_source,
            owner_kind=SourceKind(row.owner_kind),
            subject=row.subject,
            summary=row.summary,
            detected_at=row.detected_at,
            resolution=row.resolution,
            resolved_at=row.resolved_at,
            last_error=row.last_error,
            details=JSON(row.details),
            _row_id=row.id,
        )

    @classmethod
    async def by_id(cls, ctx: RequestContext, global_id: str) -> ExceptionRecord | None:
        row = await exception_by_id(ctx, global_id)
        return None if row is None else cls.from_row(row)

    @strawberry.field(
        description="Resolutions the catalogue allows for this kind that can apply to this"
        " case (one whose command needs a detail the case lacks is not offered)."
    )
    def allowed_resolutions(self, info: Ctx) -> list[str]:
        rule = info.context.services.get(ExceptionCatalogue).rule(self.kind)
        details = self.details if isinstance(self.details, dict) else {}
        return list(rule.applicable(details))

    @strawberry.field(description="Commands sent to the owner for this exception, oldest first.")
    async def commands(self, info: Ctx) -> list[ResolutionCommand]:
        rows = await info.context.loaders(ExceptionLoaders).commands.load(self._row_id)
        return [ResolutionCommand.from_row(row) for row in rows]

    @strawberry.field(description="Every status change, oldest first.")
    async def history(self, info: Ctx) -> list[ExceptionEvent]:
        rows = await info.context.loaders(ExceptionLoaders).history.load(self._row_id)
        return [
            ExceptionEvent(at=r.at, status=ExceptionStatus(r.status), actor=r.actor, note=r.note)
            for r in rows
        ]


@strawberry.type(description="Open exceptions of one kind, owner, status and age bucket.")
class OpenExceptionGroup:
    kind: str
    owner_kind: str
    owner_source: str
    status: str
    age_bucket: str = strawberry.field(
        description="UNDER_1H, 1H_TO_4H, 4H_TO_24H, 1D_TO_3D or OVER_3D (since detection)."
    )
    count: int


@strawberry.type(description="A count under one key (a kind, an owner or an age bucket).")
class ExceptionCount:
    key: str
    count: int


@strawberry.type(description="Detection-to-resolution times over the period (nearest rank).")
class ResolutionTimeStats:
    count: int
    p50_seconds: float | None
    p90_seconds: float | None
    p99_seconds: float | None
    mean_seconds: float | None


@strawberry.type(
    description="Exceptions of one kind resolved on one day (UTC): detection-to-resolution"
    " times, nearest rank."
)
class DailyResolutionTimes:
    day: str = strawberry.field(description="The UTC day, YYYY-MM-DD.")
    kind: str
    count: int
    p50_seconds: float | None
    p90_seconds: float | None


@strawberry.type(
    description="Resolutions of one day (UTC): those that needed a person (a step of the"
    " exception's history taken by an API key, a JWT subject or the local developer) and those"
    " the systems made alone (every step by a configured system or omnigraph itself)."
)
class DailyInterventions:
    day: str = strawberry.field(description="The UTC day, YYYY-MM-DD.")
    manual: int
    owner_alone: int


@strawberry.type(description="Whether manual drag is shrinking: what is open, how fast it closes.")
class ExceptionOperations:
    as_of: datetime
    resolved_from: datetime
    resolved_to: datetime
    open: list[OpenExceptionGroup]
    resolved: int = strawberry.field(description="Exceptions resolved in the period.")
    failed: int = strawberry.field(description="Resolutions that failed in the period.")
    resolution_time: ResolutionTimeStats

    @classmethod
    def of(
        cls, view: OperationsView, resolved_from: datetime, resolved_to: datetime
    ) -> ExceptionOperations:
        return cls(
            as_of=view.as_of,
            resolved_from=resolved_from,
            resolved_to=resolved_to,
            open=[
                OpenExceptionGroup(
                    kind=g.kind,
                    owner_kind=g.owner_kind,
                    owner_source=g.owner_source,
                    status=g.status,
                    age_bucket=g.age_bucket,
                    count=g.count,
                )
                for g in view.open
            ],
            resolved=view.resolved,
            failed=view.failed,
            resolution_time=ResolutionTimeStats(
                count=view.resolution_times.count,
                p50_seconds=view.resolution_times.p50_seconds,
                p90_seconds=view.resolution_times.p90_seconds,
                p99_seconds=view.resolution_times.p99_seconds,
                mean_seconds=view.resolution_times.mean_seconds,
            ),
        )

    async def _days(self, info: Ctx) -> ResolutionDays:
        """The period's resolutions per day, read once per request for both fields."""
        key = ("resolution_days", self.resolved_from, self.resolved_to)
        found = info.context.memo.get(key)
        if found is None:
            services = info.context.services
            found = info.context.memo[key] = await resolution_days(
                services.sessions,
                resolved_from=self.resolved_from,
                resolved_to=self.resolved_to,
                systems=frozenset(services.registry.clients),
            )
        days: ResolutionDays = found
        return days

    @strawberry.field(
        description="Detection-to-resolution times per day (UTC) and kind over the period,"
        " oldest first."
    )
    async def resolution_times_by_day(self, info: Ctx) -> list[DailyResolutionTimes]:
        return [
            DailyResolutionTimes(
                day=d.day.isoformat(),
                kind=d.kind,
                count=d.times.count,
                p50_seconds=d.times.p50_seconds,
                p90_seconds=d.times.p90_seconds,
            )
            for d in (await self._days(info)).by_kind
        ]

    @strawberry.field(
        description="Resolutions per day (UTC) over the period that needed a person, against"
        " those the systems made alone, oldest first."
    )
    async def interventions_by_day(self, info: Ctx) -> list[DailyInterventions]:
        return [
            DailyInterventions(day=d.day.isoformat(), manual=d.manual, owner_alone=d.owner_alone)
            for d in (await self._days(info)).interventions
        ]

    @strawberry.field(description="Open exceptions per kind.")
    def open_by_kind(self) -> list[ExceptionCount]:
        return _totals(self.open, lambda g: g.kind)

    @strawberry.field(description="Open exceptions per owning source.")
    def open_by_owner(self) -> list[ExceptionCount]:
        return _totals(self.open, lambda g: g.owner_source)

    @strawberry.field(description="Open exceptions per age bucket, youngest first.")
    def open_by_age(self) -> list[ExceptionCount]:
        counts = {label: 0 for label, _ in AGE_BUCKETS}
        for group in self.open:
            counts[group.age_bucket] += group.count
        return [ExceptionCount(key=k, count=v) for k, v in counts.items()]


def _totals(
    groups: list[OpenExceptionGroup], key: Callable[[OpenExceptionGroup], str]
) -> list[ExceptionCount]:
    counts: dict[str, int] = {}
    for group in groups:
        name = key(group)
        counts[name] = counts.get(name, 0) + group.count
    return [ExceptionCount(key=k, count=v) for k, v in sorted(counts.items())]


class _HasOrderId(Protocol):
    id: strawberry.ID


async def order_exceptions(
    root: strawberry.Parent[_HasOrderId], info: Info[RequestContext, None]
) -> list[Annotated[ExceptionRecord, strawberry.lazy("omnigraph.exceptions.schema")]]:
    _, parts = decode_global_id(root.id, expected_type="Order")
    key = (parts[0], ":".join(parts[1:]))
    rows = await info.context.loaders(ExceptionLoaders).by_order.load(key)
    return [ExceptionRecord.from_row(row) for row in rows]


@strawberry.type(description="The exception as the mutation left it, or why it did not.")
class ExceptionPayload:
    exception: ExceptionRecord | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, outcome: service.Outcome[ExceptionRow]) -> ExceptionPayload:
        row = outcome.row
        return cls(
            exception=ExceptionRecord.from_row(row) if row else None,
            user_errors=user_errors(outcome.problems),
        )


def user_errors(problems: Iterable[service.Problem]) -> list[UserError]:
    """A mutation's problems as the ``userErrors`` of its payload."""
    return [
        UserError(code=p.code, message=p.message, field=list(p.field) if p.field else None)
        for p in problems
    ]


@strawberry.input
class ResolveExceptionInput:
    id: strawberry.ID
    resolution: str
    note: str | None = None
    idempotency_key: str = strawberry.field(
        description="Same key and input replays the first result; other input is refused."
    )


def _bad_id(error: InvalidId, *path: str) -> ExceptionPayload:
    return ExceptionPayload(
        exception=None,
        user_errors=[UserError(code="INVALID_ID", message=error.message, field=list(path))],
    )


async def _step(
    info: Ctx,
    id: strawberry.ID,
    note: str | None,
    step: Callable[..., Awaitable[service.Outcome[ExceptionRow]]],
) -> ExceptionPayload:
    """One step of the lifecycle (``service.acknowledge``, ``service.retry_resolution``) on the
    exception ``id`` names, taken by the caller with ``note``."""
    try:
        row_id = exception_key(id)
    except InvalidId as error:
        return _bad_id(error, "id")
    ctx = info.context
    outcome = await step(
        ctx.services.sessions, row_id, actor=ctx.actor, note=note, now=ctx.services.now()
    )
    return ExceptionPayload.of(outcome)


@strawberry.type(name="Mutation")
class ExceptionMutations:
    @strawberry.mutation(
        description="Take ownership: OPEN -> ACKNOWLEDGED, with a note. Needs support."
    )
    async def acknowledge_exception(
        self, info: Ctx, id: strawberry.ID, note: str | None = None
    ) -> ExceptionPayload:
        return await _step(info, id, note, service.acknowledge)

    @strawberry.mutation(
        description="Choose a resolution; the command is routed to the owning system."
        " Needs support."
    )
    async def resolve_exception(self, info: Ctx, input: ResolveExceptionInput) -> ExceptionPayload:
        try:
            row_id = exception_key(input.id)
        except InvalidId as error:
            return _bad_id(error, "input", "id")
        ctx = info.context
        outcome = await service.resolve(
            ctx.services.sessions,
            ctx.services.get(ExceptionCatalogue),
            exception_id=row_id,
            resolution=input.resolution,
            note=input.note,
            idempotency_key=input.idempotency_key,
            actor=ctx.actor,
            now=ctx.services.now(),
            keys=ctx.services.find(KeyClaims),
        )
        _wake_dispatcher(ctx)
        return ExceptionPayload.of(outcome)

    @strawberry.mutation(
        description="After RESOLUTION_FAILED: replay a dead-lettered command, or reopen the"
        " exception to choose another resolution when the owner refused. Needs support."
    )
    async def retry_exception_resolution(
        self, info: Ctx, id: strawberry.ID, note: str | None = None
    ) -> ExceptionPayload:
        payload = await _step(info, id, note, service.retry_resolution)
        _wake_dispatcher(info.context)
        return payload


@strawberry.input
class ExceptionFilter:
    kinds: list[ExceptionKind] | None = None
    statuses: list[ExceptionStatus] | None = None
    owner_kind: SourceKind | None = None
    owner_source: str | None = None
    opened_before: datetime | None = None


@strawberry.type(name="Query")
class ExceptionQueries:
    @strawberry.field(
        description="Open exceptions by kind, owner and age, and resolution times for the"
        " period [resolvedFrom, resolvedTo) (default: the last 7 days)."
    )
    async def exception_operations(
        self,
        info: Ctx,
        resolved_from: datetime | None = None,
        resolved_to: datetime | None = None,
    ) -> ExceptionOperations:
        now = info.context.services.now()
        end = resolved_to or now
        start = resolved_from or end - timedelta(days=7)
        if start >= end:
            raise InvalidInput("resolvedFrom must be before resolvedTo", argument="resolvedFrom")
        view = await operations_view(
            info.context.services.sessions, now=now, resolved_from=start, resolved_to=end
        )
        return ExceptionOperations.of(view, start, end)

    @strawberry.field(description="An exception by its global id.")
    async def exception(self, info: Ctx, id: strawberry.ID) -> ExceptionRecord | None:
        return await ExceptionRecord.by_id(info.context, id)

    @strawberry.field(description="Exceptions, newest first.")
    async def exceptions(
        self,
        info: Ctx,
        first: int = 50,
        after: str | None = None,
        filter: ExceptionFilter | None = None,
    ) -> Connection[ExceptionRecord]:
        f = filter or ExceptionFilter()
        rows, has_next = await list_exceptions(
            info.context,
            first=first,
            after=after,
            filter=ExceptionQueryFilter(
                kinds=[k.value for k in f.kinds] if f.kinds else None,
                statuses=[s.value for s in f.statuses] if f.statuses else None,
                owner_kind=f.owner_kind,
                owner_source=f.owner_source,
                opened_before=f.opened_before,
            ),
        )
        edges = [Edge(cursor=cursor, node=ExceptionRecord.from_row(row)) for row, cursor in rows]
        return Connection(edges=edges, page_info=page_info(edges, has_next, None))


@strawberry.type(name="Subscription")
class ExceptionSubscriptions:
    @strawberry.subscription(
        description="Each change of an exception (new, acknowledged, pending, resolved, failed),"
        " as the exception stands after it; filtered by owner kind and kinds."
    )
    async def exception_events(
        self,
        info: Ctx,
        owner_kind: SourceKind | None = None,
        kinds: list[ExceptionKind] | None = None,
    ) -> AsyncGenerator[ExceptionRecord, None]:
        services = info.context.services
        wanted_owner = owner_kind.value if owner_kind else None
        wanted_kinds = {k.value for k in kinds} if kinds else None
        async for event in services.get(ExceptionEventBus).subscribe():
            async with services.sessions() as session:
                row = await session.get(ExceptionRow, event.exception_id)
            if row is None:
                continue
            if wanted_owner and row.owner_kind != wanted_owner:
                continue
            if wanted_kinds and row.kind not in wanted_kinds:
                continue
            # a socket keeps one context for its life: what its loaders read of this exception
            # at an earlier event (its commands, its history) is stale at this one
            loaders = info.context.loaders(ExceptionLoaders)
            loaders.commands.clear(row.id)
            loaders.history.clear(row.id)
            # The exception as this change left it (later changes arrive as their own events).
            yield dataclasses.replace(
                ExceptionRecord.from_row(row), status=ExceptionStatus(event.status)
            )
