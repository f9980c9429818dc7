"""Exception mutations: acknowledge, resolve (routed to the owner) and retry.

Mutations validate first and answer expected failures as ``userErrors`` with stable codes
(``NOT_FOUND``, ``INVALID_TRANSITION``, ``INVALID_RESOLUTION``, ``RESOLUTION_NOT_APPLICABLE``,
``CONCURRENT_RESOLUTION``, ``IDEMPOTENCY_KEY_REUSED``, ...); they never raise for them.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from omnigraph.api.nodes import exception_key
from omnigraph.core.errors import InvalidId
from omnigraph.exceptions import resolution as service
from omnigraph.exceptions.schema import ExceptionRecord
from omnigraph.graph.context import RequestContext
from omnigraph.graph.types import UserError

__all__ = ["ExceptionMutations", "ExceptionPayload", "ResolveExceptionInput"]

Ctx = Info[RequestContext, None]


@strawberry.type(description="The exception as the mutation left it, or why it did not.")
class ExceptionPayload:
    exception: ExceptionRecord | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, outcome: service.Outcome) -> ExceptionPayload:
        return cls(
            exception=ExceptionRecord.from_row(outcome.exception) if outcome.exception else None,
            user_errors=[
                UserError(code=p.code, message=p.message, field=list(p.field) if p.field else None)
                for p in outcome.problems
            ],
        )


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


@strawberry.type(name="Mutation")
class ExceptionMutations:
    @strawberry.mutation(
        description="Take ownership: OPEN -> ACKNOWLEDGED, with a note. Needs support."
    )
    async def acknowledge_exception(
        self, info: Ctx, id: strawberry.ID, note: str | None = None
    ) -> ExceptionPayload:
        try:
            row_id = exception_key(id)
        except InvalidId as error:
            return _bad_id(error, "id")
        ctx = info.context
        outcome = await service.acknowledge(
            ctx.services.sessions, row_id, actor=ctx.actor, note=note, now=ctx.services.now()
        )
        return ExceptionPayload.of(outcome)

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
            ctx.services.catalogue,
            exception_id=row_id,
            resolution=input.resolution,
            note=input.note,
            idempotency_key=input.idempotency_key,
            actor=ctx.actor,
            now=ctx.services.now(),
        )
        ctx.services.wake_dispatcher()
        return ExceptionPayload.of(outcome)

    @strawberry.mutation(
        description="After RESOLUTION_FAILED: replay a dead-lettered command, or reopen the"
        " exception to choose another resolution when the owner refused. Needs support."
    )
    async def retry_exception_resolution(
        self, info: Ctx, id: strawberry.ID, note: str | None = None
    ) -> ExceptionPayload:
        try:
            row_id = exception_key(id)
        except InvalidId as error:
            return _bad_id(error, "id")
        ctx = info.context
        outcome = await service.retry_resolution(
            ctx.services.sessions, row_id, actor=ctx.actor, note=note, now=ctx.services.now()
        )
        ctx.services.wake_dispatcher()
        return ExceptionPayload.of(outcome)
