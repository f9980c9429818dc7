"""The fake Stripe server (``tests.fakes.stripe``) over the demo world: the Stripe
adapter pointed at it gives the records the contract adapter gives against the demo payments
system, which is what lets a mixed configuration be compared with the all-demo one."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from tests.fakes.stripe import FakeStripe
from tests.sources.stripe.conftest import SECRET_KEY, adapter_for

from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.settings import SourceConfig
from omnigraph.sources.contract import ContractClient, PaymentsAdapter
from omnigraph.sources.stripe import StripeClient

MakeClient = Callable[..., StripeClient]


async def test_the_fake_serves_the_demo_payments_as_stripe_would(
    world: DemoWorld, demo: DemoSystems, stripe_client: MakeClient
) -> None:
    fake = FakeStripe(world, secret_key=SECRET_KEY)
    stripe = adapter_for(stripe_client(httpx.ASGITransport(app=fake.app)))
    contract = PaymentsAdapter(
        ContractClient(
            SourceConfig.model_validate(
                {"name": "psp", "kind": "payments", "base_url": demo.urls["payments"]}
            ),
            timeout_seconds=5,
            cache_ttl_seconds=0,
            cache_max_entries=0,
            redis_key_prefix="omnigraph-test",
        )
    )
    try:
        refs = sorted({c["metadata"]["order_ref"] for c in world.charges})
        payout_ids = sorted(p["id"] for p in world.payouts)
        by_ref, expected_by_ref = (
            await stripe.charges_by_order_ref(refs),
            await contract.charges_by_order_ref(refs),
        )
        # Stripe's charge has no list of disputes: everything else is the same
        assert {
            ref: [c.model_copy(update={"disputes": []}) for c in charges]
            for ref, charges in expected_by_ref.items()
        } == by_ref
        assert await stripe.payouts_by_id(payout_ids) == await contract.payouts_by_id(payout_ids)
        swept = await stripe.balance_transactions_by_payout(payout_ids)
        expected = await contract.balance_transactions_by_payout(payout_ids)
        for payout_id in payout_ids:
            mine = sorted(swept[payout_id], key=lambda t: t.id)
            theirs = sorted(expected[payout_id], key=lambda t: t.id)
            # Stripe calls a plain adjustment's category other_adjustment; the type is the same
            assert [t.model_copy(update={"reporting_category": ""}) for t in mine] == [
                t.model_copy(update={"reporting_category": ""}) for t in theirs
            ]
            assert {t.reporting_category for t in mine if t.type == "adjustment"} <= {
                "other_adjustment"
            }
        refund_ids = [r["id"] for c in world.charges for r in c["refunds"]]
        dispute_ids = [d["id"] for c in world.charges for d in c["disputes"]]
        assert await stripe.refunds_by_id(refund_ids) == await contract.refunds_by_id(refund_ids)
        assert await stripe.disputes_by_id(dispute_ids) == await contract.disputes_by_id(
            dispute_ids
        )
        first, cursor = await stripe.list_payouts(limit=7, cursor=None, filters={})
        expected_first, _ = await contract.list_payouts(limit=7, cursor=None, filters={})
        assert first == expected_first
        rest, _ = await stripe.list_payouts(limit=100, cursor=cursor, filters={})
        assert [p.id for p in first + rest] == [p.id for p in expected_first] + [p.id for p in rest]
        assert len(first) + len(rest) == len(world.payouts)
    finally:
        await contract.client.upstream.aclose()


async def test_the_payments_feed_backfills_then_follows_events(
    world: DemoWorld, stripe_client: MakeClient
) -> None:
    fake = FakeStripe(world, secret_key=SECRET_KEY)
    client = stripe_client(httpx.ASGITransport(app=fake.app))

    seen: list[str] = []
    cursor: str | None = None
    while True:  # as the payments sync reads it, a page of 10 at a time
        events, cursor, more = await client.changes(cursor, 10)
        seen += [e["recordId"] for e in events]
        if not more or not events:
            break
    assert sorted(seen) == sorted(p["id"] for p in world.payouts)  # every payout, once
    assert cursor is not None
    assert cursor.startswith("events:evt_")

    payout = world.payouts[3]
    created = max(e["created"] for e in fake.events) + 60
    fake.emit("payout.updated", payout["id"], created)
    fake.emit("payout.paid", payout["id"], created + 1)
    events, cursor_after, more = await client.changes(cursor, 10)

    assert [(e["type"], e["recordId"]) for e in events] == [
        ("payout.updated", payout["id"]),
        ("payout.paid", payout["id"]),
    ]  # oldest first, as the contract's feed
    assert events[0]["data"]["amount"] == payout["amount"]
    assert not more
    assert await client.changes(cursor_after, 10) == ([], cursor_after, False)


async def test_an_expired_event_cursor_starts_the_backfill_again(
    world: DemoWorld, stripe_client: MakeClient
) -> None:
    client = stripe_client(httpx.ASGITransport(app=FakeStripe(world, secret_key=SECRET_KEY).app))

    events, cursor, _ = await client.changes("events:evt_gone_after_30_days", 100)

    assert {e["recordId"] for e in events} == {p["id"] for p in world.payouts}
    assert cursor is not None
    assert cursor.startswith("events:")


async def test_the_fake_wants_the_secret_key(world: DemoWorld, stripe_client: MakeClient) -> None:
    fake = FakeStripe(world, secret_key="sk_test_other")
    client = stripe_client(httpx.ASGITransport(app=fake.app))

    assert (await client.health())["status"] == "unavailable"
