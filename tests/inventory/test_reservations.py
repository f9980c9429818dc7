"""Reservations never oversell, expire on their own, and replay by idempotency key."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from omnigraph.db.idempotency import Answered, KeyClaims, KeyReused
from omnigraph.db.models import (
    ExpectedReceiptRow,
    IdempotencyKeyRow,
    InventoryPositionRow,
    ReservationRow,
)
from omnigraph.exceptions.resolution import Outcome
from omnigraph.inventory import reservations as service
from omnigraph.inventory.policy import AllocationPolicy, load_default_policy
from omnigraph.inventory.policy_store import current_policy
from omnigraph.inventory.projection import positions_rewritten
from omnigraph.runtime.services import Services
from tests.conftest import Graph
from tests.helpers import RESERVE, ten_sellable, web_reservation

SKU = "SKU-RESERVE"


@pytest.fixture
async def last_ten(services: Services) -> str:
    """A position with 10 sellable units for the web at dc-north (after 2 of safety stock)."""
    async with services.sessions() as session, session.begin():
        await session.execute(delete(ReservationRow).where(ReservationRow.sku == SKU))
        await session.execute(delete(InventoryPositionRow).where(InventoryPositionRow.sku == SKU))
        await positions_rewritten(session)  # written here, not by the ledger
        session.add(ten_sellable(SKU))
    return SKU


def reserve_input(key: str, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return web_reservation(SKU, key, quantity, **extra)


@pytest.mark.usefixtures("last_ten")
async def test_500_concurrent_reservations_for_the_last_10_units(services: Services) -> None:
    _, policy = await current_policy(services.sessions)
    now = datetime.now(UTC)
    outcomes = await asyncio.gather(
        *(
            service.reserve(
                services.sessions,
                policy,
                sku=SKU,
                location_id="dc-north",
                channel="web",
                quantity=1,
                ttl_seconds=900,
                idempotency_key=f"rush-{i}",
                now=now,
            )
            for i in range(500)
        )
    )
    won = [o for o in outcomes if o.row is not None]
    lost = [o for o in outcomes if o.row is None]
    assert len(won) == 10
    assert len(lost) == 490
    assert {p.code for o in lost for p in o.problems} == {"INSUFFICIENT_AVAILABILITY"}


@pytest.mark.usefixtures("last_ten")
async def test_reserve_release_commit_and_expiry_through_graphql(
    egraph: Graph, services: Services
) -> None:
    body = await egraph.query(RESERVE, input=reserve_input("r-1", quantity=8))
    first = body["data"]["reserveInventory"]
    assert first["userErrors"] == []
    assert first["reservation"]["status"] == "ACTIVE"
    too_many = (await egraph.query(RESERVE, input=reserve_input("r-2", quantity=3)))["data"][
        "reserveInventory"
    ]
    assert [e["code"] for e in too_many["userErrors"]] == ["INSUFFICIENT_AVAILABILITY"]

    # the same key and input replays; other input with the key is refused
    replay = (await egraph.query(RESERVE, input=reserve_input("r-1", quantity=8)))["data"][
        "reserveInventory"
    ]
    assert replay["reservationId"] == first["reservationId"]
    reused = (await egraph.query(RESERVE, input=reserve_input("r-1", quantity=2)))["data"][
        "reserveInventory"
    ]
    assert [e["code"] for e in reused["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]

    released = await egraph.query(
        "mutation($id: ID!) { releaseReservation(id: $id)"
        " { reservation { status } userErrors { code } } }",
        id=first["reservationId"],
    )
    assert released["data"]["releaseReservation"] == {
        "reservation": {"status": "RELEASED"},
        "userErrors": [],
    }
    again = await egraph.query(
        "mutation($id: ID!) { commitReservation(id: $id) { userErrors { code } } }",
        id=first["reservationId"],
    )
    assert again["data"]["commitReservation"]["userErrors"] == [{"code": "INVALID_TRANSITION"}]
    after = (await egraph.query(RESERVE, input=reserve_input("r-3", quantity=10)))["data"][
        "reserveInventory"
    ]
    assert after["userErrors"] == []

    # an expired reservation stops counting on its own
    _, policy = await current_policy(services.sessions)
    later = datetime.now(UTC) + timedelta(seconds=901)
    expired_freed = await service.reserve(
        services.sessions,
        policy,
        sku=SKU,
        location_id="dc-north",
        channel="web",
        quantity=10,
        ttl_seconds=60,
        idempotency_key="r-later",
        now=later,
    )
    assert expired_freed.row is not None


@pytest.mark.usefixtures("last_ten")
async def test_bad_reservations_are_user_errors(egraph: Graph) -> None:
    cases = [
        (reserve_input("b-1", quantity=0), "INVALID_QUANTITY"),
        (reserve_input("b-2", ttlSeconds=0), "INVALID_TTL"),
        ({**reserve_input("b-3"), "channel": "teleport"}, "UNKNOWN_CHANNEL"),
        ({**reserve_input("b-4"), "channel": "store-pickup"}, "LOCATION_NOT_SERVING"),
        ({**reserve_input("b-5"), "sku": "SKU-NOWHERE"}, "UNKNOWN_SKU"),
        (reserve_input("b-6", quantity=11), "INSUFFICIENT_AVAILABILITY"),
    ]
    for given, code in cases:
        payload = (await egraph.query(RESERVE, input=given))["data"]["reserveInventory"]
        assert [e["code"] for e in payload["userErrors"]] == [code], given
        assert payload["reservationId"] is None
        if code == "UNKNOWN_SKU":
            assert "'SKU-NOWHERE' is not a SKU" in payload["userErrors"][0]["message"]


async def test_policy_changes_take_effect_at_once_and_keep_history(
    egraph: Graph, last_ten: str
) -> None:
    current = (await egraph.query("{ allocationPolicy { version document } }"))["data"][
        "allocationPolicy"
    ]
    original = copy.deepcopy(current["document"])
    document = current["document"]
    document["safety_stock"] = [{"location": "dc-north", "quantity": 12}]
    update = """mutation($p: JSON!, $v: Int) {
                  updateAllocationPolicy(policy: $p, expectedVersion: $v, note: "peak") {
                    policy { version } userErrors { code field message } } }"""
    changed = (await egraph.query(update, p=document, v=current["version"]))["data"][
        "updateAllocationPolicy"
    ]
    assert changed["userErrors"] == []
    version = changed["policy"]["version"]
    # 20 - 5 - 1 - 2 = 12 sellable, all now kept back as safety stock
    blocked = (await egraph.query(RESERVE, input=reserve_input("p-1")))["data"]["reserveInventory"]
    assert [e["code"] for e in blocked["userErrors"]] == ["INSUFFICIENT_AVAILABILITY"]
    stale = (await egraph.query(update, p=document, v=current["version"]))["data"][
        "updateAllocationPolicy"
    ]
    assert [e["code"] for e in stale["userErrors"]] == ["STALE_POLICY_VERSION"]
    assert f"now version {version}" in stale["userErrors"][0]["message"]
    ahead = (await egraph.query(update, p=document, v=version + 5))["data"][
        "updateAllocationPolicy"
    ]
    assert [e["code"] for e in ahead["userErrors"]] == ["STALE_POLICY_VERSION"]
    assert ahead["userErrors"][0]["message"] == (
        f"expectedVersion {version + 5} is ahead of the current version {version}; pass {version}"
    )
    invalid = dict(document, priority={"order": ["web", "teleport"]})
    refused = (await egraph.query(update, p=invalid, v=version))["data"]["updateAllocationPolicy"]
    assert refused["userErrors"][0]["code"] == "INVALID_POLICY"
    assert "teleport" in refused["userErrors"][0]["message"]
    restored = (await egraph.query(update, p=original, v=version))["data"]["updateAllocationPolicy"]
    assert restored["userErrors"] == []
    history = (await egraph.query("{ allocationPolicyHistory { version note } }"))["data"][
        "allocationPolicyHistory"
    ]
    assert [h["version"] for h in history][:2] == [version + 1, version]
    allowed = (await egraph.query(RESERVE, input=reserve_input("p-2")))["data"]["reserveInventory"]
    assert allowed["userErrors"] == []


AVAILABLE = """
query($sku: String!) {
  availability(skus: [$sku], channel: "web", promise: SHIP) { locationId availableQuantity }
}
"""


async def test_availability_counts_live_reservations_of_its_sku_and_location_only(
    egraph: Graph, services: Services
) -> None:
    """10 sellable at dc-north. Held: 3 active and 1 committed. Not held: 2 released, 4 that
    expired a minute ago, 7 expiring now, 5 of another SKU there, 6 of this SKU elsewhere."""
    now = services.now()
    async with services.sessions() as session, session.begin():
        await session.execute(delete(ReservationRow).where(ReservationRow.sku == SKU))
        await session.execute(delete(InventoryPositionRow).where(InventoryPositionRow.sku == SKU))
        await positions_rewritten(session)  # written here, not by the ledger
        session.add(ten_sellable(SKU, last_event_at=now - timedelta(hours=1)))
        for n, (quantity, status, expires, sku, location) in enumerate(
            [
                (3, "ACTIVE", now + timedelta(hours=1), SKU, "dc-north"),
                (1, "COMMITTED", now + timedelta(hours=1), SKU, "dc-north"),
                (2, "RELEASED", now + timedelta(hours=1), SKU, "dc-north"),
                (4, "ACTIVE", now - timedelta(minutes=1), SKU, "dc-north"),
                (7, "ACTIVE", now, SKU, "dc-north"),  # expires this instant: no longer held
                (5, "ACTIVE", now + timedelta(hours=1), "SKU-ELSEWHERE", "dc-north"),
                (6, "ACTIVE", now + timedelta(hours=1), SKU, "store-a"),
            ]
        ):
            session.add(
                ReservationRow(
                    id=f"held-{n}",
                    sku=sku,
                    location_id=location,
                    channel="web",
                    quantity=quantity,
                    status=status,
                    expires_at=expires,
                    created_at=now - timedelta(hours=2),
                    updated_at=now - timedelta(hours=2),
                )
            )
    try:
        body = await egraph.query(AVAILABLE, sku=SKU)
        found = {
            row["locationId"]: row["availableQuantity"] for row in body["data"]["availability"]
        }
        assert found["dc-north"] == 10 - 3 - 1
    finally:
        async with services.sessions() as session, session.begin():
            await session.execute(delete(ReservationRow).where(ReservationRow.id.like("held-%")))


WHOLESALE = """
query($sku: String!, $promise: Promise!, $at: DateTime) {
  availability(skus: [$sku], channel: "wholesale", promise: $promise, at: $at) {
    locationId availableQuantity
  }
}
"""


async def test_a_scheduled_wholesale_read_adds_the_open_receipts_of_its_sku(
    egraph: Graph, services: Services
) -> None:
    """What a wholesale order may be promised for a date: what ships now, plus the units
    announced at dc-north for this SKU and still open (not those of another SKU, nor a
    receipt with nothing left open)."""
    now = services.now()
    receipts = [("T-OPEN", SKU, 5), ("T-DONE", SKU, 0), ("T-OTHER", "SKU-ELSEWHERE", 8)]
    async with services.sessions() as session, session.begin():
        await session.execute(delete(ReservationRow).where(ReservationRow.sku == SKU))
        await session.execute(delete(InventoryPositionRow).where(InventoryPositionRow.sku == SKU))
        await positions_rewritten(session)  # written here, not by the ledger
        session.add(ten_sellable(SKU, last_event_at=now - timedelta(hours=1)))
        for ref, sku, quantity in receipts:
            session.add(
                ExpectedReceiptRow(
                    expected_receipt_id=ref,
                    sku=sku,
                    location_id="dc-north",
                    quantity_open=quantity,
                    expected_at=now,
                )
            )
    try:
        at = (now + timedelta(days=1)).isoformat()
        ships = await egraph.query(WHOLESALE, sku=SKU, promise="SHIP", at=at)
        later = await egraph.query(WHOLESALE, sku=SKU, promise="SCHEDULED_WHOLESALE", at=at)

        def at_dc(body: dict[str, Any]) -> int:
            rows = body["data"]["availability"]
            return next(r["availableQuantity"] for r in rows if r["locationId"] == "dc-north")

        assert at_dc(later) == at_dc(ships) + 5
    finally:
        async with services.sessions() as session, session.begin():
            await session.execute(
                delete(ExpectedReceiptRow).where(
                    ExpectedReceiptRow.expected_receipt_id.in_([ref for ref, _, _ in receipts])
                )
            )


# -- what each answer says, on an injected clock, against figures worked out here --------------

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DEFAULT_POLICY = load_default_policy()
# the web at dc-north (2 of safety stock), or store-london (none), by the policy below
TWO_SITES = AllocationPolicy.parse(
    {
        "locations": {"web": ["dc-north", "store-london"], "marketplace": ["dc-north"]},
        "safety_stock": [{"location": "dc-north", "quantity": 2}],
        "priority": {"order": ["web", "marketplace", "store-pickup", "wholesale"]},
    }
)


def row_fields(row: ReservationRow | None) -> dict[str, Any]:
    """What ``reservation`` shows of a reservation."""
    assert row is not None
    return {
        name: getattr(row, name)
        for name in (
            "id",
            "sku",
            "location_id",
            "channel",
            "quantity",
            "status",
            "expires_at",
            "created_at",
            "updated_at",
        )
    }


def problems_of(outcome: Outcome[ReservationRow]) -> list[tuple[str, str, tuple[str, ...] | None]]:
    """What ``userErrors`` shows: code, message, field."""
    assert outcome.row is None
    return [(p.code, p.message, p.field) for p in outcome.problems]


class Desk:
    """Reservations of one SKU, asked for as ``reserveInventory`` does, at chosen times."""

    def __init__(self, services: Services, sku: str, policy: AllocationPolicy) -> None:
        self.services = services
        self.sku = sku
        self.policy = policy

    async def reserve(
        self,
        key: str,
        quantity: int,
        *,
        at: datetime = NOW,
        location_id: str | None = "dc-north",
        channel: str = "web",
        ttl_seconds: int = 900,
        sku: str | None = None,
        keys: KeyClaims | None = None,
    ) -> Outcome[ReservationRow]:
        return await service.reserve(
            self.services.sessions,
            self.policy,
            sku=self.sku if sku is None else sku,
            location_id=location_id,
            channel=channel,
            quantity=quantity,
            ttl_seconds=ttl_seconds,
            idempotency_key=f"{self.sku}:{key}",
            now=at,
            keys=keys,
        )

    async def stored(self) -> dict[str, dict[str, Any]]:
        """Every reservation of the SKU in the database, by id."""
        async with self.services.sessions() as session:
            rows = await session.scalars(
                select(ReservationRow).where(ReservationRow.sku == self.sku)
            )
            return {row.id: row_fields(row) for row in rows}


# 10 units the web may sell at dc-north: 20 on hand, 5 committed, 1 damaged, 2 in quality
# control, less 2 of safety stock there
TEN_AT_NORTH = {"on_hand": 20, "committed": 5, "damaged": 1, "quality_control": 2}


async def desk_for(
    services: Services,
    sku: str,
    policy: AllocationPolicy = DEFAULT_POLICY,
    positions: dict[str, dict[str, int]] | None = None,
    expected: dict[str, int] | None = None,
) -> Desk:
    """``sku`` with nothing reserved and no key used, held as ``positions`` say (location to
    buckets; by default the web's 10 at dc-north) and expected as ``expected`` says (location
    to units)."""
    async with services.sessions() as session, session.begin():
        for table in (ReservationRow, InventoryPositionRow, ExpectedReceiptRow):
            await session.execute(delete(table).where(table.sku == sku))
        await positions_rewritten(session)  # written here, not by the ledger
        await session.execute(
            delete(IdempotencyKeyRow).where(IdempotencyKeyRow.key.like(f"{sku}:%"))
        )
        held = {"dc-north": TEN_AT_NORTH} if positions is None else positions
        for location_id, buckets in held.items():
            row = InventoryPositionRow.empty(sku, location_id)
            for name, value in buckets.items():
                setattr(row, name, value)
            session.add(row)
        for location_id, units in (expected or {}).items():
            session.add(
                ExpectedReceiptRow(
                    expected_receipt_id=f"PO-{sku}",
                    sku=sku,
                    location_id=location_id,
                    quantity_open=units,
                    expected_at=NOW + timedelta(days=3),
                )
            )
    return Desk(services, sku, policy)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"channel": "teleport"},
            ("UNKNOWN_CHANNEL", "unknown channel 'teleport'", ("input", "channel")),
        ),
        (
            {"quantity": 0},
            ("INVALID_QUANTITY", "quantity must be 1 to 10000", ("input", "quantity")),
        ),
        (
            {"quantity": 10_001},
            ("INVALID_QUANTITY", "quantity must be 1 to 10000", ("input", "quantity")),
        ),
        (
            {"ttl_seconds": 0},
            ("INVALID_TTL", "ttlSeconds must be 1 to 86400", ("input", "ttlSeconds")),
        ),
        (
            {"ttl_seconds": 86_401},
            ("INVALID_TTL", "ttlSeconds must be 1 to 86400", ("input", "ttlSeconds")),
        ),
        (
            {"location_id": "store-london", "channel": "marketplace"},
            (
                "LOCATION_NOT_SERVING",
                "store-london does not serve marketplace",
                ("input", "locationId"),
            ),
        ),
        (
            {"sku": "SKU-NEVER-HELD"},
            (
                "UNKNOWN_SKU",
                "'SKU-NEVER-HELD' is not a SKU any warehouse holds or expects",
                ("input", "sku"),
            ),
        ),
        (
            {"quantity": 11},
            (
                "INSUFFICIENT_AVAILABILITY",
                "fewer than 11 x SKU-R-REFUSE available for web",
                ("input", "quantity"),
            ),
        ),
        (
            # the most one reservation may ask for is a quantity, only not there
            {"quantity": 10_000},
            (
                "INSUFFICIENT_AVAILABILITY",
                "fewer than 10000 x SKU-R-REFUSE available for web",
                ("input", "quantity"),
            ),
        ),
    ],
)
async def test_a_refusal_says_why_and_which_field_and_takes_no_key(
    services: Services, change: dict[str, Any], expected: tuple[str, str, tuple[str, ...]]
) -> None:
    desk = await desk_for(services, "SKU-R-REFUSE", TWO_SITES)
    refused = await desk.reserve("k", **{"quantity": 1, **change})
    assert problems_of(refused) == [expected]
    assert await desk.stored() == {}
    # the key was not spent on the refusal: with a good input it reserves
    made = await desk.reserve("k", 1)
    assert made.problems == []
    assert list(await desk.stored()) == [row_fields(made.row)["id"]]


async def test_a_reservation_holds_what_was_asked_for_its_ttl_and_then_not(
    services: Services,
) -> None:
    desk = await desk_for(services, "SKU-R-HOLD")
    four = await desk.reserve("four", 4, ttl_seconds=60)
    first = row_fields(four.row)
    assert first == {
        "id": first["id"],
        "sku": "SKU-R-HOLD",
        "location_id": "dc-north",
        "channel": "web",
        "quantity": 4,
        "status": "ACTIVE",
        "expires_at": NOW + timedelta(seconds=60),
        "created_at": NOW,
        "updated_at": NOW,
    }
    assert await desk.stored() == {first["id"]: first}

    # a second before it expires the 4 are held: 6 are left, and no more
    almost = NOW + timedelta(seconds=59)
    seven = await desk.reserve("seven", 7, at=almost)
    assert [p.code for p in seven.problems] == ["INSUFFICIENT_AVAILABILITY"]
    six = await desk.reserve("six", 6, at=almost, ttl_seconds=86_400)
    assert row_fields(six.row)["expires_at"] == almost + timedelta(days=1)
    one_more = await desk.reserve("one-more", 1, at=almost)
    assert [p.code for p in one_more.problems] == ["INSUFFICIENT_AVAILABILITY"]

    # when it expires its 4 are free again, the 6 still held
    expired = NOW + timedelta(seconds=60)
    five = await desk.reserve("five", 5, at=expired)
    assert [p.code for p in five.problems] == ["INSUFFICIENT_AVAILABILITY"]
    back = await desk.reserve("back", 4, at=expired, ttl_seconds=1)
    assert row_fields(back.row)["expires_at"] == expired + timedelta(seconds=1)
    assert len(await desk.stored()) == 3


async def test_a_reservation_counts_against_every_channel_at_its_location_only(
    services: Services,
) -> None:
    """The web's 10 at dc-north, and store-london's 7 (no safety stock there), taken by
    reservations of any channel, of this SKU, at that location."""
    other = await desk_for(services, "SKU-R-SHARE-OTHER", TWO_SITES)
    assert (await other.reserve("all", 10)).problems == []
    desk = await desk_for(
        services,
        "SKU-R-SHARE",
        TWO_SITES,
        {"dc-north": TEN_AT_NORTH, "store-london": {"on_hand": 7}},
    )
    market = await desk.reserve("market", 3, channel="marketplace")
    assert row_fields(market.row)["channel"] == "marketplace"
    # the web's 10 less the marketplace's 3
    assert [p.code for p in (await desk.reserve("web-8", 8)).problems] == [
        "INSUFFICIENT_AVAILABILITY"
    ]
    assert (await desk.reserve("web-7", 7)).problems == []
    london = await desk.reserve("london", 7, location_id="store-london")
    assert row_fields(london.row)["location_id"] == "store-london"


async def test_a_reservation_counts_by_its_own_channels_rules(services: Services) -> None:
    """The default policy keeps 1 unit more back from the marketplace than from the web at
    dc-north: the marketplace may reserve 9 of the web's 10."""
    desk = await desk_for(services, "SKU-R-MARKET")
    ten = await desk.reserve("ten", 10, channel="marketplace")
    assert problems_of(ten) == [
        (
            "INSUFFICIENT_AVAILABILITY",
            "fewer than 10 x SKU-R-MARKET available for marketplace",
            ("input", "quantity"),
        )
    ]
    assert (await desk.reserve("nine", 9, channel="marketplace")).problems == []
    # and the web the 1 left
    assert (await desk.reserve("web", 1)).problems == []


async def test_the_same_key_and_input_replay_the_first_reservation(services: Services) -> None:
    desk = await desk_for(services, "SKU-R-REPLAY")
    first = row_fields((await desk.reserve("once", 6)).row)
    later = NOW + timedelta(seconds=30)
    again = await desk.reserve("once", 6, at=later)
    assert again.problems == []
    assert row_fields(again.row) == first
    assert await desk.stored() == {first["id"]: first}
    # the replay held nothing more: 4 are left
    assert (await desk.reserve("rest", 4, at=later)).problems == []


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": 2},
        {"ttl_seconds": 901},
        {"channel": "marketplace"},
        {"location_id": None},
        {"sku": "SKU-R-REUSE-OTHER"},
    ],
)
async def test_the_same_key_with_other_input_is_refused(
    services: Services, change: dict[str, Any]
) -> None:
    desk = await desk_for(services, "SKU-R-REUSE")
    first = row_fields((await desk.reserve("key", 1)).row)
    reused = await desk.reserve("key", **{"quantity": 1, **change})
    assert problems_of(reused) == [
        (
            "IDEMPOTENCY_KEY_REUSED",
            "this idempotency key was used with different input",
            ("input", "idempotencyKey"),
        )
    ]
    assert await desk.stored() == {first["id"]: first}


async def test_a_request_that_finds_its_key_taken_meanwhile_answers_as_the_first(
    services: Services,
) -> None:
    """Two requests with one key: the second looks, finds the key free, and before it takes
    the key the first has reserved. It answers with the first's reservation and holds
    nothing."""
    desk = await desk_for(services, "SKU-R-RACE")
    rival: list[Outcome[ReservationRow]] = []

    class RivalFirst(KeyClaims):
        async def recall(
            self, scope: str, key: str, fingerprint: str, now: datetime
        ) -> Answered | KeyReused | None:
            stored = await super().recall(scope, key, fingerprint, now)
            if not rival:
                rival.append(await desk.reserve("shared", 7))
            return stored

    second = await desk.reserve("shared", 7, keys=RivalFirst(services.sessions))
    first = row_fields(rival[0].row)
    assert second.problems == []
    assert row_fields(second.row) == first
    assert await desk.stored() == {first["id"]: first}
    # the first's 7 held, no more: 3 are left
    assert (await desk.reserve("rest", 3)).problems == []


async def test_without_a_location_the_first_serving_location_with_the_units_is_taken(
    services: Services,
) -> None:
    """The web sells from dc-north, then store-london. dc-north has 10 for the web, store-london
    12."""
    desk = await desk_for(
        services,
        "SKU-R-WHERE",
        TWO_SITES,
        {"dc-north": TEN_AT_NORTH, "store-london": {"on_hand": 12}},
    )
    north = await desk.reserve("north", 4, location_id=None)
    assert row_fields(north.row)["location_id"] == "dc-north"
    # 6 left at dc-north: 11 fit only at store-london
    london = await desk.reserve("london", 11, location_id=None)
    assert row_fields(london.row)["location_id"] == "store-london"
    # 6 left at dc-north and 1 at store-london: 7 fit nowhere, even if both together hold it
    nowhere = await desk.reserve("nowhere", 7, location_id=None)
    assert problems_of(nowhere) == [
        (
            "INSUFFICIENT_AVAILABILITY",
            "fewer than 7 x SKU-R-WHERE available for web",
            ("input", "quantity"),
        )
    ]
    # a location named is the only one tried
    named = await desk.reserve("named", 2, location_id="store-london")
    assert [p.code for p in named.problems] == ["INSUFFICIENT_AVAILABILITY"]
    assert (await desk.reserve("named-north", 6, location_id="dc-north")).problems == []
    assert sorted(r["quantity"] for r in (await desk.stored()).values()) == [4, 6, 11]


async def test_a_location_without_the_sku_is_passed_over(services: Services) -> None:
    """The SKU is held at store-london only: the web's first location, dc-north, has no
    position for it."""
    desk = await desk_for(services, "SKU-R-LONDON", TWO_SITES, {"store-london": {"on_hand": 3}})
    made = await desk.reserve("only", 3, location_id=None)
    assert row_fields(made.row)["location_id"] == "store-london"
    assert [r["quantity"] for r in (await desk.stored()).values()] == [3]
    # and a channel the policy gives no location reserves nowhere
    wholesale = await desk.reserve("wholesale", 1, location_id=None, channel="wholesale")
    assert problems_of(wholesale) == [
        (
            "INSUFFICIENT_AVAILABILITY",
            "fewer than 1 x SKU-R-LONDON available for wholesale",
            ("input", "quantity"),
        )
    ]


@pytest.mark.parametrize("known_by", ["a position elsewhere", "an expected receipt"])
async def test_a_sku_held_elsewhere_or_expected_is_short_not_unknown(
    services: Services, known_by: str
) -> None:
    elsewhere = known_by == "a position elsewhere"
    desk = await desk_for(
        services,
        "SKU-R-KNOWN",
        TWO_SITES,
        {"store-london": {"on_hand": 50}} if elsewhere else {},
        {} if elsewhere else {"dc-north": 50},
    )
    short = await desk.reserve("k", 1)
    assert problems_of(short) == [
        (
            "INSUFFICIENT_AVAILABILITY",
            "fewer than 1 x SKU-R-KNOWN available for web",
            ("input", "quantity"),
        )
    ]


# -- release and commit --------------------------------------------------------------------------


async def test_release_gives_the_units_back_and_says_so(services: Services) -> None:
    desk = await desk_for(services, "SKU-R-RELEASE")
    held = row_fields((await desk.reserve("held", 8, ttl_seconds=600)).row)
    at = NOW + timedelta(seconds=120)
    released = await service.release_reservation(services.sessions, held["id"], at)
    expected = {**held, "status": "RELEASED", "updated_at": at}
    assert released.problems == []
    assert row_fields(released.row) == expected
    assert await desk.stored() == {held["id"]: expected}
    # all 10 are sellable again
    assert (await desk.reserve("all", 10, at=at)).problems == []


async def test_commit_keeps_the_units_held_until_the_reservation_expires(
    services: Services,
) -> None:
    desk = await desk_for(services, "SKU-R-COMMIT")
    held = row_fields((await desk.reserve("held", 8, ttl_seconds=600)).row)
    at = NOW + timedelta(seconds=599)  # the last second it may still be committed
    committed = await service.commit_reservation(services.sessions, held["id"], at)
    expected = {**held, "status": "COMMITTED", "updated_at": at}
    assert committed.problems == []
    assert row_fields(committed.row) == expected
    assert await desk.stored() == {held["id"]: expected}
    # still held: 2 left
    assert [p.code for p in (await desk.reserve("three", 3, at=at)).problems] == [
        "INSUFFICIENT_AVAILABILITY"
    ]
    # until it expires
    expired = NOW + timedelta(seconds=600)
    assert (await desk.reserve("ten", 10, at=expired)).problems == []


@pytest.mark.parametrize(
    ("first", "then", "at", "state"),
    [
        (service.release_reservation, service.release_reservation, 60, "released"),
        (service.release_reservation, service.commit_reservation, 60, "released"),
        (service.commit_reservation, service.release_reservation, 60, "committed"),
        (service.commit_reservation, service.commit_reservation, 60, "committed"),
        (None, service.release_reservation, 600, "expired"),
        (None, service.commit_reservation, 601, "expired"),
    ],
)
async def test_a_reservation_moves_once_and_never_after_it_expires(
    services: Services,
    first: Any,
    then: Any,
    at: int,
    state: str,
) -> None:
    desk = await desk_for(services, "SKU-R-ONCE")
    held = row_fields((await desk.reserve("held", 2, ttl_seconds=600)).row)
    if first is not None:
        assert (
            await first(services.sessions, held["id"], NOW + timedelta(seconds=1))
        ).problems == []
    before = await desk.stored()
    refused = await then(services.sessions, held["id"], NOW + timedelta(seconds=at))
    assert refused.row is None
    assert [(p.code, p.message, p.field) for p in refused.problems] == [
        ("INVALID_TRANSITION", f"the reservation is {state}", ("id",))
    ]
    assert await desk.stored() == before


@pytest.mark.parametrize("finish", [service.release_reservation, service.commit_reservation])
async def test_finishing_a_reservation_that_does_not_exist_is_not_found(
    services: Services, finish: Any
) -> None:
    missing = await finish(services.sessions, "no-such-reservation", NOW)
    assert missing.row is None
    assert [(p.code, p.message, p.field) for p in missing.problems] == [
        ("NOT_FOUND", "no such reservation", ("id",))
    ]
