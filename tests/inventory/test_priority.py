"""Channel priority decides whose ring-fence holds when channels compete for the last units."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from omnigraph.db.models import InventoryPositionRow
from omnigraph.inventory.policy import AllocationPolicy, load_default_policy
from omnigraph.runtime.services import Services
from tests.conftest import Graph
from tests.inventory.test_reservations import last_ten  # noqa: F401  (fixture)

AVAILABLE = """query($channel: String!) {
  availability(skus: ["SKU-RESERVE"], channel: $channel, locationIds: ["dc-north"]) {
    availableQuantity explanation } }"""
UPDATE = """mutation($p: JSON!, $v: Int) {
  updateAllocationPolicy(policy: $p, expectedVersion: $v, note: "priority test") {
    policy { version } userErrors { code message } } }"""


@pytest.fixture
async def reflected(services: Services, last_ten: str) -> str:  # noqa: F811
    """The last-ten position as if a ledger event had reached it (availability needs one)."""
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(InventoryPositionRow)
            .where(InventoryPositionRow.sku == last_ten)
            .values(last_event_at=datetime(2026, 11, 20, tzinfo=UTC))
        )
    return last_ten


def with_fence_and_order(order: list[str]) -> AllocationPolicy:
    document = load_default_policy().model_dump()
    document["ring_fence"] = {"marketplace": {"quantity": 5}, "store-pickup": {"percent": 50}}
    document["priority"] = {"order": order}
    return AllocationPolicy.parse(document)


@pytest.mark.parametrize(
    ("order", "channel", "fenced"),
    [
        # web ranks above marketplace: marketplace's fence does not hold against web
        (["store-pickup", "web", "marketplace", "wholesale"], "web", {"store-pickup": 50}),
        # marketplace ranks above web: its 5 units are out of web's reach
        (
            ["store-pickup", "marketplace", "web", "wholesale"],
            "web",
            {"store-pickup": 50, "marketplace": 5},
        ),
        # the first-ranked channel is never fenced out
        (["store-pickup", "web", "marketplace", "wholesale"], "store-pickup", {}),
        # a channel left out of the order ranks last and respects every fence
        (["store-pickup", "marketplace"], "wholesale", {"store-pickup": 50, "marketplace": 5}),
    ],
)
def test_only_fences_of_channels_ranked_at_or_above_hold(
    order: list[str], channel: str, fenced: dict[str, int]
) -> None:
    assert with_fence_and_order(order).fences_against(channel, 100) == fenced


async def test_reordering_priority_changes_what_a_channel_may_promise_at_once(
    egraph: Graph, reflected: str
) -> None:
    current = (await egraph.query("{ allocationPolicy { version document } }"))["data"][
        "allocationPolicy"
    ]
    original: dict[str, Any] = copy.deepcopy(current["document"])
    version = current["version"]

    async def store(document: dict[str, Any]) -> None:
        nonlocal version
        result = (await egraph.query(UPDATE, p=document, v=version))["data"]
        assert result["updateAllocationPolicy"]["userErrors"] == []
        version = result["updateAllocationPolicy"]["policy"]["version"]

    async def web_available() -> tuple[int, list[str]]:
        answer = (await egraph.query(AVAILABLE, channel="web"))["data"]["availability"][0]
        return answer["availableQuantity"], answer["explanation"]

    try:
        document = copy.deepcopy(original)
        document["ring_fence"] = {"marketplace": {"quantity": 5}}
        document["priority"] = {"order": ["store-pickup", "web", "marketplace", "wholesale"]}
        await store(document)
        # 20 on hand - 5 committed - 1 damaged - 2 in QC - 2 safety stock = 10, all for web
        assert (await web_available())[0] == 10

        document["priority"] = {"order": ["store-pickup", "marketplace", "web", "wholesale"]}
        await store(document)
        quantity, explanation = await web_available()
        assert quantity == 5
        assert "- ring-fenced for marketplace 5 (marketplace ranks above web)" in explanation
    finally:
        await store(original)
