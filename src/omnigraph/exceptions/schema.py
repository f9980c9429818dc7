"""``Exception``: an owned operational problem with an audit trail (read side)."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from omnigraph.core.ids import encode_global_id
from omnigraph.core.sources import SourceKind as Kind
from omnigraph.db.models import ExceptionRow, OutboxCommandRow
from omnigraph.exceptions.catalogue import ExceptionKind as ExceptionKindValue
from omnigraph.graph.context import RequestContext
from omnigraph.graph.types import Node, SourceKind

__all__ = [
    "CommandStatus",
    "ExceptionEvent",
    "ExceptionKind",
    "ExceptionRecord",
    "ExceptionStatus",
    "ResolutionCommand",
]

Ctx = Info[RequestContext, None]
ExceptionKind = strawberry.enum(ExceptionKindValue, name="ExceptionKind")


@strawberry.enum(name="ExceptionStatus")
class ExceptionStatus(enum.Enum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLUTION_PENDING = "RESOLUTION_PENDING"
    RESOLVED = "RESOLVED"
    RESOLUTION_FAILED = "RESOLUTION_FAILED"


@strawberry.type(description="One step in an exception's life: who moved it where, when and why.")
class ExceptionEvent:
    at: datetime
    status: ExceptionStatus
    actor: str
    note: str | None


@strawberry.enum(name="CommandStatus")
class CommandStatus(enum.Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    REJECTED = "REJECTED"
    DEAD = "DEAD"


@strawberry.type(description="A command owed to (or answered by) the owning system.")
class ResolutionCommand:
    id: strawberry.ID
    resolution: str
    owner_source: str
    command_type: str
    payload: JSON
    idempotency_key: str = strawberry.field(description="What the owner sees on every delivery.")
    status: CommandStatus
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
            status=CommandStatus(row.status),
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
class ExceptionRecord(Node):
    id: strawberry.ID
    kind: ExceptionKind  # type: ignore[valid-type]
    status: ExceptionStatus
    severity: str
    owner_source: str = strawberry.field(description="The system where resolution must happen.")
    owner_kind: SourceKind  # type: ignore[valid-type]
    subject: str = strawberry.field(description="The order, sku@location or payout it is about.")
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
            kind=ExceptionKindValue(row.kind),
            status=ExceptionStatus(row.status),
            severity=row.severity,
            owner_source=row.owner_source,
            owner_kind=Kind(row.owner_kind),
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
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> ExceptionRecord | None:
        from omnigraph.api.nodes import resolve_exception_id

        return await resolve_exception_id(info.context, id)

    @strawberry.field(description="Resolutions the catalogue allows for this kind.")
    def allowed_resolutions(self, info: Ctx) -> list[str]:
        return list(info.context.services.catalogue.rule(ExceptionKindValue(self.kind)).resolutions)

    @strawberry.field(description="Commands sent to the owner for this exception, oldest first.")
    async def commands(self, info: Ctx) -> list[ResolutionCommand]:
        rows = await info.context.loaders.exception_commands.load(self._row_id)
        return [ResolutionCommand.from_row(row) for row in rows]

    @strawberry.field(description="Every status change, oldest first.")
    async def history(self, info: Ctx) -> list[ExceptionEvent]:
        rows = await info.context.loaders.exception_history.load(self._row_id)
        return [
            ExceptionEvent(at=r.at, status=ExceptionStatus(r.status), actor=r.actor, note=r.note)
            for r in rows
        ]
