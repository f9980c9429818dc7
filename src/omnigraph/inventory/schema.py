"""``InventoryAvailability``: what a channel may promise for a SKU at a location."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from omnigraph.core.ids import encode_global_id
from omnigraph.db.idempotency import KeyClaims
from omnigraph.db.models import ReservationRow
from omnigraph.exceptions.resolution import Outcome
from omnigraph.exceptions.schema import user_errors
from omnigraph.graph.context import RequestContext
from omnigraph.graph.types import Entity, Node, UserError
from omnigraph.inventory import reservations as service
from omnigraph.inventory.availability import Availability, Promise, read_availability
from omnigraph.inventory.live import AvailabilityBus
from omnigraph.inventory.oversell import record_published
from omnigraph.inventory.policy import AllocationPolicy, PolicyInvalid
from omnigraph.inventory.policy_store import current_policy, policy_history, store_policy
from omnigraph.inventory.resolvers import availability_by_id

__all__ = [
    "AvailabilityTotal",
    "InventoryAvailability",
    "InventoryBucket",
    "InventoryMutations",
    "PolicyQueries",
    "Promise",
    "Reservation",
    "ReservationPayload",
    "ReserveInventoryInput",
]


Ctx = Info[RequestContext, None]


strawberry.enum(Promise, name="Promise")  # the availability rules' enum is the GraphQL enum


@strawberry.type
class InventoryBucket:
    name: str
    quantity: int


@functools.lru_cache(maxsize=4096)
def _bucket(name: str, quantity: int) -> InventoryBucket:
    """One bucket, made once per name and quantity (a read of 20 SKUs answers 360, most of
    them alike; nothing changes one once made)."""
    return InventoryBucket(name=name, quantity=quantity)


def _buckets(root: InventoryAvailability) -> list[InventoryBucket]:
    return [_bucket(name, quantity) for name, quantity in root.answer.buckets.items()]


def _availability_id(root: InventoryAvailability) -> strawberry.ID:
    """The answer's global id, written only when a query asks for it."""
    answer = root.answer
    terms = answer.terms
    return strawberry.ID(
        encode_global_id(
            "InventoryAvailability",
            answer.sku,
            answer.location_id,
            terms.channel,
            terms.promise.value,
        )
    )


def _explanation(root: InventoryAvailability) -> list[str]:
    return root.answer.explanation


@strawberry.federation.type(keys=["id"], name="InventoryAvailability", description=__doc__)
class InventoryAvailability(Node, Entity):
    id: strawberry.ID = strawberry.field(resolver=_availability_id)
    sku: str
    location_id: strawberry.ID
    channel: str
    promise: Promise
    available_quantity: int = strawberry.field(
        description="What this channel may promise now for this promise type."
    )
    on_hand: int
    # buckets and explanation are built only when a query selects them: a storefront asking
    # for 1,000 SKUs across 50 locations reads neither
    buckets: list[InventoryBucket] = strawberry.field(resolver=_buckets)
    as_of: datetime = strawberry.field(description="When the stock figures were asserted.")
    explanation: list[str] = strawberry.field(
        resolver=_explanation, description="How the number was reached."
    )
    answer: strawberry.Private[Availability]

    @classmethod
    def of(cls, a: Availability) -> InventoryAvailability:
        return cls(
            sku=a.sku,
            location_id=strawberry.ID(a.location_id),
            channel=a.terms.channel,
            promise=a.terms.promise,
            available_quantity=a.available,
            on_hand=a.figures.on_hand,
            as_of=a.as_of,
            answer=a,
        )

    @classmethod
    async def by_id(cls, ctx: RequestContext, global_id: str) -> InventoryAvailability | None:
        answer = await availability_by_id(ctx, global_id)
        return None if answer is None else cls.of(answer)


@strawberry.type(description="What a channel may promise for one SKU across its locations.")
class AvailabilityTotal:
    sku: str
    channel: str
    promise: Promise
    available_quantity: int
    on_hand: int
    locations: int = strawberry.field(description="Locations that contributed.")
    as_of: datetime | None = strawberry.field(description="The newest ledger event reflected.")

    @classmethod
    def of_answers(
        cls, skus: list[str], channel: str, promise: Promise, answers: list[Availability]
    ) -> list[AvailabilityTotal]:
        by_sku: dict[str, list[Availability]] = {sku: [] for sku in skus}
        for answer in answers:  # once: 1,000 SKUs may have 50,000 answers
            by_sku[answer.sku].append(answer)
        totals = []
        for sku, mine in by_sku.items():
            totals.append(
                cls(
                    sku=sku,
                    channel=channel,
                    promise=promise,
                    available_quantity=sum(a.available for a in mine),
                    on_hand=sum(a.figures.on_hand for a in mine),
                    locations=len(mine),
                    as_of=max((a.as_of for a in mine), default=None),
                )
            )
        return totals


def _announce(info: Ctx, outcome: Outcome[ReservationRow]) -> None:
    """A reservation made or released changes what channels may promise: tell subscribers."""
    row = outcome.row
    if row is not None and not outcome.problems:
        info.context.services.get(AvailabilityBus).publish([(row.sku, row.location_id)])


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
    def of(cls, outcome: Outcome[ReservationRow]) -> ReservationPayload:
        row = outcome.row
        return cls(
            reservation_id=strawberry.ID(row.id) if row else None,
            reservation=Reservation.from_row(row) if row else None,
            user_errors=user_errors(outcome.problems),
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
            keys=services.find(KeyClaims),
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
            latest = await policy_history(services.sessions, limit=1)
            current = latest[0].version if latest else 0
            ahead = expected_version is not None and expected_version > current
            return AllocationPolicyPayload(
                policy=None,
                user_errors=[
                    UserError(
                        code="STALE_POLICY_VERSION",
                        field=["expectedVersion"],
                        message=(
                            f"expectedVersion {expected_version} is ahead of the current"
                            f" version {current}; pass {current}"
                            if ahead
                            else f"the policy changed meanwhile (now version {current});"
                            " reload it and try again"
                        ),
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


async def _availability(
    info: Ctx,
    skus: list[str],
    channel: str,
    promise: Promise,
    at: datetime | None = None,
    location_ids: list[strawberry.ID] | None = None,
) -> list[Availability]:
    return await read_availability(
        info.context.services,
        skus=skus,
        channel=channel,
        promise=promise,
        at=at,
        location_ids=[str(i) for i in location_ids] if location_ids else None,
    )


@strawberry.type(name="Query")
class InventoryQueries:
    @strawberry.field(
        description="What a channel may promise for each SKU, per location. A channel that"
        " shows these figures to its customers passes `publish: true`, so omnigraph can raise"
        " OVERSELL_RISK if the ledger later allows less."
    )
    async def availability(
        self,
        info: Ctx,
        skus: list[str],
        channel: str,
        promise: Promise = Promise.SHIP,
        at: datetime | None = None,
        location_ids: list[strawberry.ID] | None = None,
        publish: bool = False,
    ) -> list[InventoryAvailability]:
        answers = await _availability(info, skus, channel, promise, at, location_ids)
        if publish:
            await record_published(
                info.context.services.sessions, answers, info.context.services.now()
            )
        return [InventoryAvailability.of(a) for a in answers]

    @strawberry.field(
        description="What a channel may promise for each SKU across its locations (the sum of"
        " `availability` per location)."
    )
    async def availability_totals(
        self,
        info: Ctx,
        skus: list[str],
        channel: str,
        promise: Promise = Promise.SHIP,
        at: datetime | None = None,
        location_ids: list[strawberry.ID] | None = None,
    ) -> list[AvailabilityTotal]:
        answers = await _availability(info, skus, channel, promise, at, location_ids)
        return AvailabilityTotal.of_answers(skus, channel, promise, answers)


@strawberry.type(name="Subscription")
class AvailabilitySubscriptions:
    @strawberry.subscription(
        description="Availability of the watched SKUs for a channel, each time a ledger event or"
        " a reservation changes it (only answers that changed are sent)."
    )
    async def availability_changed(
        self,
        info: Ctx,
        skus: list[str],
        channel: str,
        promise: Promise = Promise.SHIP,
    ) -> AsyncGenerator[InventoryAvailability, None]:
        services = info.context.services
        watched = set(skus)
        last: dict[tuple[str, str], int] = {}
        for answer in await _availability(info, skus, channel, promise):
            last[(answer.sku, answer.location_id)] = answer.available
        async for changed in services.get(AvailabilityBus).subscribe():
            touched = sorted({sku for sku, _ in changed if sku in watched})
            if not touched:
                continue
            for answer in await _availability(info, touched, channel, promise):
                key = (answer.sku, answer.location_id)
                if last.get(key) != answer.available:
                    last[key] = answer.available
                    yield InventoryAvailability.of(answer)
