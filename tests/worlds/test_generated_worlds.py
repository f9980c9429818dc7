"""Detection measured on generated worlds served by independently written source systems
(issue 17): every planted disagreement is raised as the right exception, once, and no benign
difference raises anything, over 24 seeded worlds, for every exception kind.

The table (``pytest -s tests/worlds`` shows it; ``python -m tests.worlds`` prints it alone)
gives recall and precision per exception kind and per flagged reconciliation line status.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path

import httpx
import pytest

from .generator import BENIGN_RECIPES, PLANTED_ORDER_RECIPES, build_world
from .harness import Outcome, measure, score
from .servers import ContractServers

SEEDS = tuple(range(1, 25))
KINDS = {
    "STATE_DISAGREEMENT",
    "LATE_CANCELLATION",
    "PRICE_DISAGREEMENT",
    "INVENTORY_DRIFT",
    "SHORT_PICK",
    "DAMAGE",
    "MISSED_PICKUP",
    "AMOUNT_MISMATCH",
    "PAYOUT_MISMATCH",
    "REFUND_WITHOUT_RETURN",
    "RETURN_WITHOUT_REFUND",
}
LINE_STATUSES = {
    "AMOUNT_MISMATCH",
    "CURRENCY_MISMATCH",
    "DUPLICATE",
    "MISSING_CREDIT_MEMO",
    "REFUND_WITHOUT_RETURN",
    "RETURN_WITHOUT_REFUND",
    "UNMATCHED",
}


def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each world's database goes (a copy of one migrated template): tmpfs if any."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path_factory.mktemp("w")


@pytest.fixture(scope="module")
async def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Outcome], str]:
    workdir = scratch(tmp_path_factory)
    try:
        return await measure(SEEDS, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_recall_and_precision_are_100_percent_for_every_kind(
    measured: tuple[list[Outcome], str],
) -> None:
    outcomes, text = measured
    print(f"\n{text}")
    kinds, statuses = score(outcomes)
    assert set(kinds) == KINDS, text
    assert set(statuses) == LINE_STATUSES, text
    short = {
        name: f"recall {t.recall:.1%}, precision {t.precision:.1%}"
        for name, t in (*kinds.items(), *(("line " + k, t) for k, t in statuses.items()))
        if t.recall < 1 or t.precision < 1
    }
    assert not short, text


NOT_PAID_OUT = (
    "money no payout has swept yet is not matched: the payments sync reads payout events only;"
    " matching a charge or a refund when it moves needs the sync to read charge events"
    " (charge.succeeded, charge.refunded) from the payments feed"
)


@pytest.mark.skip(reason=NOT_PAID_OUT)
async def test_money_not_yet_paid_out_is_matched_when_it_moves(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    workdir = scratch(tmp_path_factory)
    try:
        outcomes, text = await measure(SEEDS[:4], workdir, pending=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    kinds, _ = score(outcomes)
    assert all(t.recall == t.precision == 1 for t in kinds.values()), text


def test_an_exception_about_an_order_names_it_one_way(
    measured: tuple[list[Outcome], str],
) -> None:
    """Whoever raised it (the detector, a source's report, the return sweep), an exception
    about an order has the subject ``storefront:order-ref``."""
    about_orders = [r for o in measured[0] for r in o.raised if r.subject_type == "order"]
    assert {r.kind for r in about_orders} >= {"STATE_DISAGREEMENT", "SHORT_PICK"}
    assert [r for r in about_orders if r.subject != r.order] == []


def test_a_second_pass_raises_nothing_new(measured: tuple[list[Outcome], str]) -> None:
    outcomes, _ = measured
    assert {o.world.seed: o.new_on_second_pass for o in outcomes} == dict.fromkeys(SEEDS, 0)


def test_every_recipe_is_exercised_in_the_suite(measured: tuple[list[Outcome], str]) -> None:
    outcomes, _ = measured
    recipes = Counter(r for o in outcomes for r in o.world.recipes)
    for outcome in outcomes:  # every world plants every kind
        assert set(PLANTED_ORDER_RECIPES) <= set(outcome.world.recipes)
    assert set(BENIGN_RECIPES) <= set(recipes)
    currencies = Counter(order["currency"] for o in outcomes for order in o.world.orders)
    assert {"GBP", "JPY", "KWD"} <= set(currencies)
    assert len(outcomes) >= 20


def test_detection_reads_the_sources_in_batches(measured: tuple[list[Outcome], str]) -> None:
    """Two passes of every detector ask each source a few batched questions, never one per
    order or per record."""
    for outcome in measured[0]:
        orders = len(outcome.world.orders)
        for kind, routes in outcome.requests.items():
            asked = sum(n for route, n in routes.items() if route.endswith(("batch", "order-ref")))
            assert asked < orders / 2, (outcome.world.seed, kind, routes)


def test_worlds_are_deterministic_and_follow_the_contract() -> None:
    # build_world validates every record and event against the OpenAPI schemas
    first, again = build_world(3), build_world(3)
    assert first.orders == again.orders
    assert first.wms_events == again.wms_events
    assert first.expected == again.expected


async def test_the_servers_speak_the_contract() -> None:
    world = build_world(5)
    async with ContractServers() as servers, httpx.AsyncClient() as client:
        servers.load(world)
        storefront, wms, payments = (servers.urls[k] for k in ("storefront", "wms", "payments"))
        health = (await client.get(f"{storefront}/health")).json()
        assert health["status"] == "ok"
        assert health["kind"] == "storefront"
        # list with cursors: every order once, newest first; a cursor not handed out is 400
        seen, cursor = [], None
        while True:
            params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(f"{storefront}/orders", params=params)).json()
            seen += [o["id"] for o in page["data"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(o["id"] for o in world.orders)
        bad = await client.get(f"{storefront}/orders", params={"cursor": "nope"})
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, "BAD_CURSOR")
        # batch get: found and missing; more than 500 ids is 400
        wanted = [world.orders[0]["id"], "no-such-order"]
        batch = (await client.post(f"{storefront}/orders/batch", json={"ids": wanted})).json()
        assert [o["id"] for o in batch["data"]] == wanted[:1]
        assert batch["missing"] == ["no-such-order"]
        too_many = await client.post(f"{storefront}/orders/batch", json={"ids": ["x"] * 501})
        assert too_many.json()["error"]["code"] == "TOO_MANY_IDS"
        # the change feed to its end; the cursor stays when nothing is new
        events, after = [], None
        while True:
            params = {"limit": 100, **({"after": after} if after else {})}
            page = (await client.get(f"{wms}/changes", params=params)).json()
            events += page["events"]
            after = page["nextCursor"]
            if not page["hasMore"]:
                break
        assert {e["id"] for e in events} == {e["id"] for e in world.wms_events}
        idle = (await client.get(f"{wms}/changes", params={"after": after})).json()
        assert idle["nextCursor"] == after
        assert idle["hasMore"] is False
        # commands: applied once per key; the same key with another body is refused
        body = {"type": "record.resync", "payload": {"recordId": world.payouts[0]["id"]}}
        headers = {"Idempotency-Key": "k-1"}
        first = await client.post(f"{payments}/commands", json=body, headers=headers)
        again = await client.post(f"{payments}/commands", json=body, headers=headers)
        assert first.status_code == again.status_code == 202
        assert first.json()["status"] == "accepted"
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        other = {"type": "record.resync", "payload": {"recordId": "po_other"}}
        reused = await client.post(f"{payments}/commands", json=other, headers=headers)
        assert reused.status_code == 422
        # the processors' own list of balance transactions
        first_page = (
            await client.get(f"{payments}/balance-transactions", params={"limit": 5})
        ).json()
        assert first_page["object"] == "list"
        assert first_page["has_more"] is True
        after_id = first_page["data"][-1]["id"]
        following = await client.get(
            f"{payments}/balance-transactions", params={"limit": 5, "starting_after": after_id}
        )
        assert following.json()["data"][0]["id"] > after_id
