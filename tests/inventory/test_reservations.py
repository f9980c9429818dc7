"""Reservations never oversell, expire on their own, and replay by idempotency key."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from omnigraph.db.models import ExpectedReceiptRow, InventoryPositionRow, ReservationRow
from omnigraph.inventory import reservations as service
from omnigraph.inventory.policy_store import current_policy
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
