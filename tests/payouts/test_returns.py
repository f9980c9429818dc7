"""Which received returns nobody refunded, and what is due: one per return, however many
parcels it came back in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from omnigraph.app import reconciliation_worker
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.payouts.returns import refund_due, unrefunded_returns
from omnigraph.runtime.services import Services
from omnigraph.sources.records import FulfilmentOrder, StorefrontOrder
from tests.conftest import Graph, running_app, services_of

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
GRACE = timedelta(days=2)


def order(*transactions: dict[str, Any]) -> StorefrontOrder:
    return StorefrontOrder.model_validate(
        {
            "id": "SF-1",
            "channel": "web",
            "fulfilmentMethod": "ship",
            "currency": "GBP",
            "status": "closed",
            "fulfilmentStatus": "fulfilled",
            "placedAt": "2026-11-01T10:00:00Z",
            "updatedAt": "2026-11-05T10:00:00Z",
            "lines": [
                {"id": "1", "sku": "SKU-1", "quantity": 2, "unitPrice": "10.00"},
                {"id": "2", "sku": "SKU-2", "quantity": 1, "unitPrice": "5.00"},
            ],
            "totals": {"subtotal": "25.00", "shipping": "3.95", "total": "28.95"},
            "returns": [{"id": "RMA-1", "status": "received", "lines": []}],
            "transactions": list(transactions),
        }
    )


def fulfilment(fo_id: str, *receipts: tuple[str, str, datetime, dict[str, int]]) -> FulfilmentOrder:
    return FulfilmentOrder.model_validate(
        {
            "id": fo_id,
            "orderRef": "SF-1",
            "locationId": "dc-1",
            "status": "returned",
            "lines": [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 1}],
            "updatedAt": "2026-11-10T10:00:00Z",
            "returnReceipts": [
                {
                    "id": rid,
                    "rmaRef": rma,
                    "receivedAt": at.isoformat(),
                    "lines": [{"sku": s, "quantity": q} for s, q in lines.items()],
                }
                for rid, rma, at, lines in receipts
            ],
        }
    )


def test_a_return_received_in_two_parcels_is_one_return_with_its_lines_added_up() -> None:
    first = ("RR-1", "RMA-1", NOW - timedelta(days=5), {"SKU-1": 1})
    second = ("RR-2", "RMA-1", NOW - timedelta(days=4), {"SKU-1": 1, "SKU-2": 1})
    # the parcels came back to two fulfilment orders (a split shipment)
    found = unrefunded_returns(
        order(), [fulfilment("FO-1", first), fulfilment("FO-2", second)], now=NOW, grace=GRACE
    )
    (single,) = found
    assert (single.id, single.rma_ref) == ("RR-1", "RMA-1")
    assert {line.sku: line.quantity for line in single.lines} == {"SKU-1": 2, "SKU-2": 1}
    assert single.received_at == NOW - timedelta(days=4)
    assert refund_due(order(), single) == Decimal("28.95")  # everything came back


def test_refunded_returns_and_parcels_inside_the_grace_are_not_due() -> None:
    refund = {
        "id": "TX-9",
        "kind": "refund",
        "amount": "10.00",
        "currency": "GBP",
        "gatewayRef": "re_1",
        "processedAt": "2026-11-18T10:00:00Z",
        "returnId": "RMA-1",
    }
    old = ("RR-1", "RMA-1", NOW - timedelta(days=5), {"SKU-1": 1})
    fresh = ("RR-2", "RMA-2", NOW - timedelta(hours=5), {"SKU-2": 1})
    fulfilments = [fulfilment("FO-1", old, fresh)]
    assert unrefunded_returns(order(refund), fulfilments, now=NOW, grace=GRACE) == []
    (due,) = unrefunded_returns(order(), fulfilments, now=NOW, grace=GRACE)
    assert due.id == "RR-1"
    assert refund_due(order(), due) == Decimal("10.00")


RETURNS_DUE = """{ exceptions(first: 20, filter: {kinds: [RETURN_WITHOUT_REFUND]}) {
  edges { node { summary } } } }"""


async def test_a_received_return_waits_two_days_for_its_refund_by_default(
    demo: DemoSystems, world: DemoWorld, tmp_path: Path
) -> None:
    """The service as configured by default (OMNIGRAPH_REFUND_GRACE_SECONDS unset) flags a
    return nobody refunded two days after the warehouse received it, not before: what an agent
    sees in ``exceptions``. The demo world planted two such returns; their receipt times are
    read off its warehouse records."""
    planted = {p.record_ref for p in world.planted_of("return_without_refund")}
    received = {
        receipt["rmaRef"]: datetime.fromisoformat(receipt["receivedAt"])
        for fo in world.wms_fulfilment_orders
        for receipt in fo.get("returnReceipts", [])
        if receipt["rmaRef"] in planted
    }
    assert len(received) == 2
    first, last = sorted(received, key=received.__getitem__)
    database = f"sqlite+aiosqlite:///{tmp_path / 'grace.sqlite3'}"
    async for app, graph in running_app(demo, database):
        services = services_of(app)
        assert "refund_grace_seconds" not in services.settings.model_fields_set
        at = received[first] + timedelta(days=2, seconds=-1)
        assert await flagged_at(services, graph, at, planted) == set()
        at = received[first] + timedelta(days=2)
        assert await flagged_at(services, graph, at, planted) == {first}
        at = received[last] + timedelta(days=2, seconds=-1)
        assert await flagged_at(services, graph, at, planted) == {first}
        at = received[last] + timedelta(days=2)
        assert await flagged_at(services, graph, at, planted) == {first, last}


async def flagged_at(
    services: Services, graph: Graph, moment: datetime, returns: set[str]
) -> set[str]:
    """Which of ``returns`` ``exceptions`` lists after the service's sweep ran at ``moment``."""
    services.clock = lambda: moment
    await reconciliation_worker(services).sweep_returns()
    body = await graph.query(RETURNS_DUE)
    summaries = [e["node"]["summary"] for e in body["data"]["exceptions"]["edges"]]
    return {rma for rma in returns if any(f"return {rma} " in s for s in summaries)}
