"""``Exception``: an owned operational problem with an audit trail (read side)."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry.types import Info

from omnigraph.config import SourceKind as Kind
from omnigraph.context import RequestContext
from omnigraph.db.models import ExceptionRow
from omnigraph.exceptions.catalogue import ExceptionKind as ExceptionKindValue
from omnigraph.ids import encode_global_id
from omnigraph.schema.common import Node, SourceKind

__all__ = ["ExceptionEvent", "ExceptionKind", "ExceptionRecord", "ExceptionStatus"]

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
            _row_id=row.id,
        )

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> ExceptionRecord | None:
        from omnigraph.schema.nodes import resolve_exception_id

        return await resolve_exception_id(info.context, id)

    @strawberry.field(description="Resolutions the catalogue allows for this kind.")
    def allowed_resolutions(self, info: Ctx) -> list[str]:
        return list(info.context.services.catalogue.rule(ExceptionKindValue(self.kind)).resolutions)

    @strawberry.field(description="Every status change, oldest first.")
    async def history(self, info: Ctx) -> list[ExceptionEvent]:
        rows = await info.context.loaders.exception_history.load(self._row_id)
        return [
            ExceptionEvent(at=r.at, status=ExceptionStatus(r.status), actor=r.actor, note=r.note)
            for r in rows
        ]
