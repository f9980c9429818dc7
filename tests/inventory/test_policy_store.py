"""The policy in force is remembered per process, and a new version is in force at once."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from omnigraph.db.engine import create_engine, create_session_factory
from omnigraph.inventory.policy import AllocationPolicy
from omnigraph.inventory.policy_store import store_policy
from tests.conftest import Graph

POLICY = "{ allocationPolicy { version document } }"


async def test_a_policy_stored_by_another_replica_is_in_force_on_the_next_request(
    egraph: Graph, clean_database: str
) -> None:
    # read twice: the second answer comes from what the service remembers
    await egraph.query(POLICY)
    current: dict[str, Any] = (await egraph.query(POLICY))["data"]["allocationPolicy"]
    original = copy.deepcopy(current["document"])
    reordered = copy.deepcopy(original)
    reordered["priority"] = {"order": ["wholesale", "marketplace", "web", "store-pickup"]}
    assert reordered["priority"] != original["priority"]

    # another replica: its own engine and sessions on the same database
    engine = create_engine(clean_database)
    replica = create_session_factory(engine)
    try:

        async def store(document: dict[str, Any]) -> int:
            version = await store_policy(
                replica,
                AllocationPolicy.parse(document),
                actor="replica-b",
                note="policy store test",
                now=datetime.now(UTC),
            )
            assert version is not None
            return version

        stored = await store(reordered)
        answer = (await egraph.query(POLICY))["data"]["allocationPolicy"]
        assert answer["version"] == stored > current["version"]
        assert answer["document"]["priority"] == reordered["priority"]

        restored = await store(original)
        answer = (await egraph.query(POLICY))["data"]["allocationPolicy"]
        assert answer["version"] == restored
        assert answer["document"] == original
    finally:
        await engine.dispose()
