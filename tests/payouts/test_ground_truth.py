"""Every money mismatch the demo world planted is found, and nothing else is flagged."""

from __future__ import annotations

import csv
import io
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from omnigraph.core.ids import encode_global_id
from omnigraph.db.models import ExceptionRow, PayoutReconciliationRow, ReconciliationLineRow
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.exceptions.dispatcher import CommandDispatcher
from omnigraph.runtime.services import Services
from omnigraph.settings import DispatchPolicy
from tests.conftest import Graph, services_of
from tests.helpers import LINE_KINDS, reconcile_payouts


def line_key(kind: str, record_ref: str) -> str:
    return f"return:{record_ref}" if kind == "return_without_refund" else f"txn:{record_ref}"


@pytest.fixture(scope="module")
async def reconciled(own_service: tuple[Starlette, Graph]) -> Services:
    services = services_of(own_service[0])
    await reconcile_payouts(services)
    return services


async def test_every_planted_mismatch_is_found_and_nothing_else(
    reconciled: Services, world: DemoWorld
) -> None:
    async with reconciled.sessions() as session:
        flagged = {
            row.key: row.status
            for row in await session.scalars(
                select(ReconciliationLineRow).where(ReconciliationLineRow.status != "MATCHED")
            )
        }
        variance = {
            row.payout_id
            for row in await session.scalars(
                select(PayoutReconciliationRow).where(PayoutReconciliationRow.status == "VARIANCE")
            )
        }
    expected = {
        line_key(kind, planted.record_ref): status
        for kind, status in LINE_KINDS.items()
        for planted in world.planted_of(kind)
    }
    assert all(world.planted_of(kind) for kind in LINE_KINDS), "the world plants every kind"
    assert flagged == expected
    assert variance == {p.record_ref for p in world.planted_of("payout_variance")}


async def test_every_transaction_swept_by_a_payout_has_a_line(
    reconciled: Services, world: DemoWorld
) -> None:
    synced = {p["id"] for p in world.payouts}
    swept = {
        t["id"]
        for t in world.balance_transactions
        if t["payout"] in synced and t["type"] != "payout"
    }
    async with reconciled.sessions() as session:
        lines = set(
            await session.scalars(
                select(ReconciliationLineRow.txn_id).where(
                    ReconciliationLineRow.txn_id.is_not(None)
                )
            )
        )
        statuses = Counter(await session.scalars(select(PayoutReconciliationRow.status)))
    assert lines == swept
    assert sum(statuses.values()) == len(world.payouts)
    assert statuses["RECONCILED"] > 0


async def test_the_money_exceptions_are_raised_once_with_owners_from_the_catalogue(
    reconciled: Services, world: DemoWorld
) -> None:
    stored_again, raised_again = await reconcile_payouts(reconciled)
    assert (stored_again, raised_again) == (0, 0)  # a re-run changes nothing twice
    async with reconciled.sessions() as session:
        rows = list(
            await session.scalars(
                select(ExceptionRow).where(
                    ExceptionRow.kind.in_(
                        ["PAYOUT_MISMATCH", "REFUND_WITHOUT_RETURN", "RETURN_WITHOUT_REFUND"]
                    ),
                    # other modules seed rows of these kinds in the session's shared database
                    ExceptionRow.dedupe_key.not_like("test:%"),
                )
            )
        )
    by_kind: dict[str, list[ExceptionRow]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)
    assert {r.details["payoutId"] for r in by_kind["PAYOUT_MISMATCH"]} == {
        p.record_ref for p in world.planted_of("payout_variance")
    }
    assert {r.details["txnId"] for r in by_kind["REFUND_WITHOUT_RETURN"]} == {
        p.record_ref for p in world.planted_of("refund_without_return")
    }
    assert {r.details["returnId"] for r in by_kind["RETURN_WITHOUT_REFUND"]} == {
        p.record_ref for p in world.planted_of("return_without_refund")
    }
    owners = {
        kind: {(r.owner_kind, r.owner_source) for r in found} for kind, found in by_kind.items()
    }
    assert owners == {
        "PAYOUT_MISMATCH": {("payments", "psp")},
        "REFUND_WITHOUT_RETURN": {("erp", "erp")},
        "RETURN_WITHOUT_REFUND": {("payments", "psp")},
    }
    for row in by_kind["RETURN_WITHOUT_REFUND"]:
        assert row.details["chargeId"].startswith("ch_")
        assert int(row.details["amountMinor"]) > 0


async def test_a_finance_user_reads_the_reconciliation_from_the_graph(
    reconciled: Services, own_service: tuple[Starlette, Graph], world: DemoWorld
) -> None:
    graph = own_service[1]
    varied = world.planted_of("payout_variance")[0].record_ref
    body = await graph.query(
        """query($id: ID!) { payout(id: $id) { ref reconciliation { status variance { amount }
             expected { amount } unmatchedItems { status reason } reconciledAt } } }""",
        id=encode_global_id("Payout", "psp", varied),
    )
    reconciliation = body["data"]["payout"]["reconciliation"]
    assert reconciliation["status"] == "VARIANCE"
    assert reconciliation["variance"]["amount"] != "0.00"
    assert reconciliation["reconciledAt"]
    summary = await graph.query(
        """{ reconciliationSummary(from: "2026-09-01T00:00:00Z", to: "2026-12-01T00:00:00Z") {
             payouts { status count amount { amount currency } }
             totals { category amount { amount currency } }
             unmatched { status count } } }"""
    )
    data = summary["data"]["reconciliationSummary"]
    assert sum(p["count"] for p in data["payouts"]) == len(world.payouts)
    unmatched = {u["status"]: u["count"] for u in data["unmatched"]}
    for kind, status in LINE_KINDS.items():
        assert unmatched.get(status, 0) >= len(world.planted_of(kind))
    categories = {t["category"] for t in data["totals"]}
    assert {"sales", "refunds", "fees", "disputes", "adjustments", "paid_out"} <= categories


async def test_the_csv_export_carries_the_same_lines(
    reconciled: Services, own_service: tuple[Starlette, Graph]
) -> None:
    client = own_service[1].client
    response = await client.get(
        "/reports/reconciliation.csv", params={"from": "2026-09-01", "to": "2026-12-01"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    async with reconciled.sessions() as session:
        stored = {row.key: row for row in await session.scalars(select(ReconciliationLineRow))}
    assert len(rows) == len(stored)
    flagged = [row for row in rows if row["status"] != "MATCHED"]
    assert flagged
    assert all(row["reason"] for row in flagged)
    for row in rows:
        if row["transaction_id"]:
            line = stored[f"txn:{row['transaction_id']}"]
            assert Decimal(row["net"]) == Decimal(line.net_minor).scaleb(-2)
            assert row["payout_status"] in {"RECONCILED", "UNRECONCILED", "VARIANCE"}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"from": "2026-11-01"},
        {"from": "yesterday", "to": "2026-11-20"},
        {"from": "2026-11-20", "to": "2026-11-01"},
        {"from": "2020-01-01", "to": "2026-01-01"},
    ],
)
async def test_a_bad_period_is_a_coded_400(
    own_service: tuple[Starlette, Graph], params: dict[str, str]
) -> None:
    response = await own_service[1].client.get("/reports/reconciliation.csv", params=params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def _resolve(graph: Graph, exception_id: str, resolution: str) -> dict[str, Any]:
    body = await graph.query(
        """mutation($input: ResolveExceptionInput!) { resolveException(input: $input) {
             exception { status } userErrors { code message } } }""",
        input={"id": exception_id, "resolution": resolution, "idempotencyKey": exception_id},
    )
    payload: dict[str, Any] = body["data"]["resolveException"]
    return payload


async def test_money_resolutions_route_to_the_owning_system_and_apply_once(
    reconciled: Services,
    own_service: tuple[Starlette, Graph],
    own_demo: DemoSystems,
    world: DemoWorld,
) -> None:
    graph = own_service[1]
    async with reconciled.sessions() as session:
        rows = {
            row.kind: row
            for row in await session.scalars(
                select(ExceptionRow).where(
                    ExceptionRow.kind.in_(["RETURN_WITHOUT_REFUND", "PAYOUT_MISMATCH"])
                )
            )
        }
    refund_due = rows["RETURN_WITHOUT_REFUND"]
    variance = rows["PAYOUT_MISMATCH"]
    for row, resolution in ((refund_due, "ISSUE_REFUND"), (variance, "ACCEPT_VARIANCE")):
        outcome = await _resolve(graph, encode_global_id("Exception", row.id), resolution)
        assert outcome["userErrors"] == [], outcome
        assert outcome["exception"]["status"] == "RESOLUTION_PENDING"
    dispatcher = CommandDispatcher(
        reconciled.sessions,
        reconciled.registry,
        worker="test",
        policy=DispatchPolicy(backoff_seconds=0.01, backoff_max_seconds=0.05),
    )
    await dispatcher.run_once()
    async with httpx.AsyncClient() as client:
        commands = (await client.get(f"{own_demo.urls['payments']}/_commands")).json()["data"]
    applied = {c["type"]: c for c in commands}
    refund = applied["refund.create"]["payload"]
    assert refund == {
        "charge": refund_due.details["chargeId"],
        "amount": refund_due.details["amountMinor"],
    }
    assert applied["payout.accept_variance"]["payload"] == {
        "payoutId": variance.details["payoutId"]
    }
    for row in (refund_due, variance):
        status = await graph.query(
            "query($id: ID!) { exception(id: $id) { status kind lastError } }",
            id=encode_global_id("Exception", row.id),
        )
        assert status["data"]["exception"]["status"] == "RESOLVED", status
