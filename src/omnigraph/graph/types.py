"""Types every domain shares: money, provenance, disagreements, connections, user errors."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Generic, Self, TypeVar

import strawberry
from strawberry.types import Info

from omnigraph.core import money
from omnigraph.core.provenance import Claim as ClaimValue
from omnigraph.core.provenance import Fact
from omnigraph.core.sources import SourceKind
from omnigraph.graph.context import RequestContext
from omnigraph.graph.matrix import may_read_type

__all__ = [
    "Claim",
    "Connection",
    "Disagreement",
    "Edge",
    "Entity",
    "ExternalRef",
    "FieldProvenance",
    "Money",
    "Node",
    "PageInfo",
    "SourceKind",
    "UserError",
]

# The domain enum itself is the GraphQL enum: registering it returns the same class, so fields
# annotate with it and mypy sees a real type (the domain module stays free of strawberry).
strawberry.enum(SourceKind, name="SourceKind")
NodeT = TypeVar("NodeT")


@strawberry.interface(description="An object with a global id, fetchable through `node(id:)`.")
class Node:
    id: strawberry.ID


class Entity:
    """A federation entity its subgraph finds by global id: ``by_id`` answers ``node(id:)``
    and the gateway's references (``resolve_reference``) alike. A reference to a type the
    caller may not read is answered as one to an object that does not exist (``null``)."""

    @classmethod
    async def by_id(cls, ctx: RequestContext, global_id: str) -> Self | None:
        raise NotImplementedError

    @classmethod
    async def resolve_reference(
        cls, info: Info[RequestContext, None], id: strawberry.ID
    ) -> Self | None:
        definition = getattr(cls, "__strawberry_definition__", None)
        if definition is not None and not may_read_type(info.context, definition.name):
            return None
        return await cls.by_id(info.context, id)


@strawberry.federation.type(
    shareable=True, description="An exact amount in a currency (ISO 4217, upper case)."
)
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def of(cls, amount: Decimal, currency: str) -> Money:
        """``amount`` to its currency's minor unit (ISO 4217: no decimals for JPY, three for
        KWD)."""
        return cls(amount=money.rounded(amount, currency), currency=currency.strip().upper())

    @classmethod
    def from_minor_units(cls, amount: int, currency: str) -> Money:
        return cls(amount=money.from_minor_units(amount, currency), currency=currency.upper())


@strawberry.type(description="Which system asserted a value, and when.")
class FieldProvenance:
    field: str = strawberry.field(description='Dotted path inside the object, e.g. "state".')
    source: str
    source_kind: SourceKind
    record_ref: str
    as_of: datetime = strawberry.field(description="When that system asserted it.")
    authoritative: bool = strawberry.field(
        description="True when this source owns the field under the authority rules."
    )

    @classmethod
    def of(cls, field_name: str, claim: ClaimValue, authoritative: bool) -> FieldProvenance:
        return cls(
            field=field_name,
            source=claim.source,
            source_kind=claim.source_kind,
            record_ref=claim.record_ref,
            as_of=claim.as_of,
            authoritative=authoritative,
        )


@strawberry.type(description="What one system says a field's value is.")
class Claim:
    source: str
    source_kind: SourceKind
    value: str
    as_of: datetime
    record_ref: str

    @classmethod
    def of(cls, claim: ClaimValue) -> Claim:
        return cls(
            source=claim.source,
            source_kind=claim.source_kind,
            value=claim.value,
            as_of=claim.as_of,
            record_ref=claim.record_ref,
        )


@strawberry.type(description="Two or more systems disagree about one field of one object.")
class Disagreement:
    field: str
    authoritative: Claim = strawberry.field(description="The value the graph serves.")
    others: list[Claim] = strawberry.field(description="The conflicting claims.")
    detected_at: datetime

    @classmethod
    def of(cls, fact: Fact, detected_at: datetime) -> Disagreement:
        return cls(
            field=fact.field,
            authoritative=Claim.of(fact.served),
            others=[Claim.of(c) for c in fact.conflicting],
            detected_at=detected_at,
        )


@strawberry.type(description="The id of an object in one source system.")
class ExternalRef:
    source: str
    source_kind: SourceKind
    ref: str


@strawberry.federation.type(
    shareable=True, description="An expected failure of a mutation, with a stable code."
)
class UserError:
    code: str
    field: list[str] | None = None
    message: str


@strawberry.federation.type(shareable=True)
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = False
    start_cursor: str | None = None
    end_cursor: str | None = None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
