"""Reservations and the allocation policy: reserve, release, commit; read and change the policy."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from omnigraph.db.models import ReservationRow
from omnigraph.exceptions.resolution import Problem
from omnigraph.graph.context import RequestContext
from omnigraph.graph.types import UserError
from omnigraph.inventory import reservations as service
from omnigraph.inventory.policy import AllocationPolicy, PolicyInvalid
from omnigraph.inventory.policy_store import current_policy, policy_history, store_policy

__all__ = [
    "InventoryMutations",
    "PolicyQueries",
    "Reservation",
    "ReservationPayload",
    "ReserveInventoryInput",
]

Ctx = Info[RequestContext, None]


def _errors(problems: list[Problem]) -> list[UserError]:
    return [
        UserError(code=p.code, message=p.message, field=list(p.field) if p.field else None)
        for p in problems
    ]


def _announce(info: Ctx, outcome: service.ReservationOutcome) -> None:
    """A reservation made or released changes what channels may promise: tell subscribers."""
    row = outcome.reservation
    if row is not None and not outcome.problems:
        info.context.services.availability_events.publish([(row.sku, row.location_id)])


@strawberry.type(description="Units promised to a channel until they expire or are released.")
class Reservation:
    id: strawberry.ID
    sku: str
    location_id: strawberry.ID
    channel: str
    quantity: int
    status: str = strawberry.field(description="ACTIVE, COMMITTED or RELEASED.")
    expires_at: datetime
    created_at: datetime

    @classmethod
    def from_row(cls, row: ReservationRow) -> Reservation:
        return cls(
            id=strawberry.ID(row.id),
            sku=row.sku,
            location_id=strawberry.ID(row.location_id),
            channel=row.channel,
            quantity=row.quantity,
            status=row.status,
            expires_at=row.expires_at,
            created_at=row.created_at,
        )


@strawberry.type
class ReservationPayload:
    reservation_id: strawberry.ID | None
    reservation: Reservation | None
    user_errors: list[UserError]

    @classmethod
    def of(cls, outcome: service.ReservationOutcome) -> ReservationPayload:
        row = outcome.reservation
        return cls(
            reservation_id=strawberry.ID(row.id) if row else None,
            reservation=Reservation.from_row(row) if row else None,
            user_errors=_errors(outcome.problems),
        )


@strawberry.input
class ReserveInventoryInput:
    sku: str
    location_id: strawberry.ID | None = None
    channel: str
    quantity: int
    ttl_seconds: int = 900
    idempotency_key: str


@strawberry.type(description="One version of the allocation policy.")
class AllocationPolicyVersion:
    version: int = strawberry.field(description="0 is the built-in default.")
    document: JSON
    actor: str | None
    note: str | None
    created_at: datetime | None


@strawberry.type
class AllocationPolicyPayload:
    policy: AllocationPolicyVersion | None
    user_errors: list[UserError]


@strawberry.type(name="Query")
class PolicyQueries:
    @strawberry.field(description="The allocation policy in force.")
    async def allocation_policy(self, info: Ctx) -> AllocationPolicyVersion:
        version, policy = await current_policy(info.context.services.sessions)
        return AllocationPolicyVersion(
            version=version,
            document=JSON(policy.model_dump(mode="json")),
            actor=None,
            note=None,
            created_at=None,
        )

    @strawberry.field(description="Stored policy versions, newest first.")
    async def allocation_policy_history(self, info: Ctx) -> list[AllocationPolicyVersion]:
        rows = await policy_history(info.context.services.sessions)
        return [
            AllocationPolicyVersion(
                version=r.version,
                document=JSON(r.document),
                actor=r.actor,
                note=r.note,
                created_at=r.created_at,
            )
            for r in rows
        ]


@strawberry.type(name="Mutation")
class InventoryMutations:
    @strawberry.mutation(description="Hold units for a channel for `ttlSeconds`; never oversells.")
    async def reserve_inventory(
        self, info: Ctx, input: ReserveInventoryInput
    ) -> ReservationPayload:
        services = info.context.services
        _, policy = await current_policy(services.sessions)
        outcome = await service.reserve(
            services.sessions,
            policy,
            sku=input.sku,
            location_id=str(input.location_id) if input.location_id else None,
            channel=input.channel,
            quantity=input.quantity,
            ttl_seconds=input.ttl_seconds,
            idempotency_key=input.idempotency_key,
            now=services.now(),
        )
        _announce(info, outcome)
        return ReservationPayload.of(outcome)

    @strawberry.mutation(description="Give reserved units back before the reservation expires.")
    async def release_reservation(self, info: Ctx, id: strawberry.ID) -> ReservationPayload:
        services = info.context.services
        outcome = await service.release_reservation(services.sessions, str(id), services.now())
        _announce(info, outcome)
        return ReservationPayload.of(outcome)

    @strawberry.mutation(description="The reserved units became an order.")
    async def commit_reservation(self, info: Ctx, id: strawberry.ID) -> ReservationPayload:
        services = info.context.services
        outcome = await service.commit_reservation(services.sessions, str(id), services.now())
        return ReservationPayload.of(outcome)

    @strawberry.mutation(
        description="Store a new allocation policy; it takes effect at once. Pass"
        " `expectedVersion` to refuse the change if someone else changed the policy meanwhile."
        " Needs the admin role."
    )
    async def update_allocation_policy(
        self,
        info: Ctx,
        policy: JSON,
        note: str | None = None,
        expected_version: int | None = None,
    ) -> AllocationPolicyPayload:
        services = info.context.services
        try:
            parsed = AllocationPolicy.parse(dict(policy) if isinstance(policy, dict) else {})
        except PolicyInvalid as error:
            return AllocationPolicyPayload(
                policy=None,
                user_errors=[
                    UserError(code="INVALID_POLICY", field=["policy"], message=str(error))
                ],
            )
        version = await store_policy(
            services.sessions,
            parsed,
            actor=info.context.actor,
            note=note,
            now=services.now(),
            expected_version=expected_version,
        )
        if version is None:
            return AllocationPolicyPayload(
                policy=None,
                user_errors=[
                    UserError(
                        code="STALE_POLICY_VERSION",
                        field=["expectedVersion"],
                        message="the policy changed meanwhile; reload it and try again",
                    )
                ],
            )
        return AllocationPolicyPayload(
            policy=AllocationPolicyVersion(
                version=version,
                document=JSON(parsed.model_dump(mode="json")),
                actor=info.context.actor,
                note=note,
                created_at=services.now(),
            ),
            user_errors=[],
        )
