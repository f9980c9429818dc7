"""Payouts and the payout equation, checked to the cent against the planted variances."""

from __future__ import annotations

from omnigraph.demo import DemoWorld
from tests.conftest import Graph, Sources

QUERY = """
query($after: String) {
  payouts(first: 100, after: $after) {
    edges { node { id ref amount { amount currency } status
      reconciliation { status variance { amount } transactionCount }
      balanceTransactions { id type net { amount } } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_every_planted_payout_variance_and_no_other_is_flagged(
    graph: Graph, world: DemoWorld, sources: Sources
) -> None:
    await sources.reset()
    body = await graph.query(QUERY)
    assert "errors" not in body, body.get("errors")
    assert not body["data"]["payouts"]["pageInfo"]["hasNextPage"]
    payouts = [e["node"] for e in body["data"]["payouts"]["edges"]]
    assert len(payouts) == len(world.payouts)
    flagged = {p["ref"] for p in payouts if p["reconciliation"]["status"] == "VARIANCE"}
    planted = {p.record_ref for p in world.planted if p.kind == "payout_variance"}
    assert planted
    assert flagged == planted
    assert (await sources.totals())["payments"] == 2  # one listing, one batched txn read


async def test_payout_by_id(graph: Graph) -> None:
    first = (await graph.query(QUERY))["data"]["payouts"]["edges"][0]["node"]
    body = await graph.query(
        "query($id: ID!) { payout(id: $id) { ref amount { amount } } }", id=first["id"]
    )
    assert body["data"]["payout"] == {
        "ref": first["ref"],
        "amount": {"amount": first["amount"]["amount"]},
    }
