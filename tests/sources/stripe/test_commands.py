"""Resolution commands sent to Stripe: form-encoded POSTs carrying the outbox's key as Stripe's
``Idempotency-Key``, so a redelivery is replayed by Stripe, not applied twice."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

import httpx
import pytest
from tests.fakes.stripe import FakeStripe
from tests.sources.stripe.conftest import SECRET_KEY, recorded

from omnigraph.core.errors import SourceContractViolation, UpstreamUnavailable
from omnigraph.demo import DemoWorld
from omnigraph.sources.stripe import StripeClient

MakeClient = Callable[..., StripeClient]
KEY = "cmd-3f9a1c2e-RETURN_WITHOUT_REFUND-ISSUE_REFUND"
NO_REFUNDS = {"object": "list", "data": [], "has_more": False, "url": "/v1/refunds"}


def posts_answer(
    answer: Callable[[httpx.Request], httpx.Response],
) -> Callable[[httpx.Request], httpx.Response]:
    """Stripe answering ``answer`` to POSTs; the look-up of a charge's refunds finds none."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=NO_REFUNDS)
        return answer(request)

    return handler


async def test_refund_is_a_form_post_with_the_idempotency_key(stripe_client: MakeClient) -> None:
    seen: list[httpx.Request] = []

    looked: list[httpx.Request] = []

    def stripe(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # the refunds on the charge: none carries the key yet
            looked.append(request)
            return httpx.Response(
                200, json={"object": "list", "data": [], "has_more": False, "url": "/v1/refunds"}
            )
        seen.append(request)
        replayed = "true" if len(seen) > 1 else "false"
        return httpx.Response(
            200, json=recorded("refund_created"), headers={"Idempotent-Replayed": replayed}
        )

    client = stripe_client(stripe)
    payload = {"charge": "ch_3PfAbcLkdIwHu7ix0Charge1", "amount": "1250"}
    first = await client.command("refund.create", payload, KEY)
    again = await client.command("refund.create", payload, KEY)  # the outbox redelivers

    assert [(r.url.path, r.url.params.get("charge")) for r in looked] == [
        ("/v1/refunds", "ch_3PfAbcLkdIwHu7ix0Charge1")
    ] * 2

    assert [r.method + " " + r.url.path for r in seen] == ["POST /v1/refunds"] * 2
    assert {r.headers["Idempotency-Key"] for r in seen} == {KEY}
    assert seen[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen[0].content == seen[1].content
    assert dict(parse_qsl(seen[0].content.decode())) == {
        "charge": "ch_3PfAbcLkdIwHu7ix0Charge1",
        "amount": "1250",
        "metadata[omnigraph_command]": "refund.create",
        "metadata[omnigraph_idempotency_key]": KEY,
    }
    assert first.accepted
    assert first.command_id == "re_3PfAbcLkdIwHu7ix0Refund2"
    assert not first.replayed
    assert again.accepted
    assert again.replayed


async def test_redelivered_refund_is_applied_once(
    world: DemoWorld, stripe_client: MakeClient
) -> None:
    fake = FakeStripe(world, secret_key=SECRET_KEY)
    client = stripe_client(httpx.ASGITransport(app=fake.app))
    charge = next(c for c in world.charges if c["amount_refunded"] == 0)
    payload = {"charge": charge["id"], "amount": "100"}

    # the first delivery times out on our side after Stripe applied it; the retry finds the
    # refund by the key in its metadata before posting again
    first = await client.command("refund.create", payload, KEY)
    again = await client.command("refund.create", payload, KEY)

    assert first.accepted
    assert again.accepted
    assert again.replayed
    assert again.command_id == first.command_id
    assert fake.charges[charge["id"]]["amount_refunded"] == 100  # once, not twice
    assert fake.deliveries[KEY] == 1


async def test_rate_limited_refund_is_retried_with_the_same_key(
    world: DemoWorld, stripe_client: MakeClient
) -> None:
    fake = FakeStripe(world, secret_key=SECRET_KEY)
    fake.fail_next(2, status=429)
    client = stripe_client(httpx.ASGITransport(app=fake.app))
    charge = next(c for c in world.charges if c["amount_refunded"] == 0)

    receipt = await client.command("refund.create", {"charge": charge["id"], "amount": 50}, KEY)

    assert receipt.accepted
    # the two 429s met the look-up for an existing refund; each was retried
    assert fake.calls["GET /v1/refunds"] == 3
    assert fake.calls["POST /v1/refunds"] == 1
    assert fake.charges[charge["id"]]["amount_refunded"] == 50


async def test_a_refund_stripe_refuses_is_a_rejected_command(stripe_client: MakeClient) -> None:
    client = stripe_client(
        posts_answer(lambda request: httpx.Response(400, json=recorded("error_amount_too_large")))
    )

    receipt = await client.command(
        "refund.create", {"charge": "ch_3PfAbcLkdIwHu7ix0Charge1", "amount": 12000}, KEY
    )

    assert not receipt.accepted
    assert "greater than unrefunded amount" in receipt.detail
    assert "amount_too_large" in receipt.detail
    assert client.upstream.calls == 2  # the look-up, then the refusal: an answer, not retried


async def test_a_key_reused_for_another_refund_is_a_contract_violation(
    stripe_client: MakeClient,
) -> None:
    client = stripe_client(
        posts_answer(lambda request: httpx.Response(400, json=recorded("error_idempotency")))
    )

    with pytest.raises(SourceContractViolation, match="idempotency_error"):
        await client.command("refund.create", {"charge": "ch_1", "amount": 5}, KEY)


@pytest.mark.parametrize(
    ("command", "payload", "reason"),
    [
        ("payout.accept_variance", {"payoutId": "po_1"}, "books no adjustment"),
        ("record.resync", {"recordId": "ch_1"}, "cannot re-send"),
        ("refund.create", {"charge": "ch_1", "amount": "-5"}, "positive amount"),
        ("order.cancel", {"orderId": "SF-1"}, "no equivalent"),
    ],
)
async def test_commands_stripe_cannot_do_are_refused_without_a_call(
    stripe_client: MakeClient, command: str, payload: dict[str, str], reason: str
) -> None:
    client = stripe_client(lambda request: httpx.Response(500))

    receipt = await client.command(command, payload, KEY)

    assert not receipt.accepted
    assert reason in receipt.detail
    assert client.upstream.calls == 0


async def test_investigation_is_marked_on_the_payout(
    world: DemoWorld, stripe_client: MakeClient
) -> None:
    fake = FakeStripe(world, secret_key=SECRET_KEY)
    client = stripe_client(httpx.ASGITransport(app=fake.app))
    payout_id = world.payouts[0]["id"]

    receipt = await client.command("payout.investigate", {"payoutId": payout_id}, KEY)

    assert receipt.accepted
    assert receipt.command_id == payout_id
    assert fake.payouts[payout_id]["metadata"]["investigation"] == "open"


# -- a refund made once, even after Stripe forgot its idempotency key ---------------------------


async def test_a_refund_retried_after_stripe_forgot_its_key_is_not_made_twice(
    world: DemoWorld, stripe_client: MakeClient
) -> None:
    """An operator replays a dead-lettered refund.create days later: Stripe no longer knows
    the key, so only the refund's metadata can say it was made."""
    fake = FakeStripe(world, secret_key=SECRET_KEY)
    client = stripe_client(httpx.ASGITransport(app=fake.app))
    charge = next(c for c in world.charges if c["amount_refunded"] == 0)
    payload = {"charge": charge["id"], "amount": "100"}

    first = await client.command("refund.create", payload, KEY)
    fake.forget_idempotency_keys()  # more than 24 hours later
    later = await client.command("refund.create", payload, KEY)

    assert first.accepted
    assert not first.replayed
    assert later.accepted
    assert later.replayed
    assert later.command_id == first.command_id
    assert fake.charges[charge["id"]]["amount_refunded"] == 100  # refunded once
    assert len(fake.charges[charge["id"]]["refunds"]) == 1
    assert fake.calls["POST /v1/refunds"] == 1


async def test_a_replayed_server_error_is_found_out_not_taken_for_an_answer(
    world: DemoWorld, stripe_client: MakeClient
) -> None:
    """The refund was made, then Stripe failed with a 500, which it replays for the key: the
    refund is looked up by its key, and the command is accepted once."""
    fake = FakeStripe(world, secret_key=SECRET_KEY)
    client = stripe_client(httpx.ASGITransport(app=fake.app))
    charge = next(c for c in world.charges if c["amount_refunded"] == 0)
    fake.fail_after_applying_next()

    receipt = await client.command("refund.create", {"charge": charge["id"], "amount": "100"}, KEY)

    assert receipt.accepted
    assert receipt.replayed
    assert receipt.command_id == fake.charges[charge["id"]]["refunds"][0]["id"]
    assert len(fake.charges[charge["id"]]["refunds"]) == 1
    # the 500, then its replay; no third attempt once Stripe said it replays
    assert fake.calls["POST /v1/refunds"] == 2


async def test_a_replayed_server_error_with_nothing_made_is_retried_later(
    stripe_client: MakeClient,
) -> None:
    posts: list[httpx.Request] = []

    def stripe(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(
                200, json={"object": "list", "data": [], "has_more": False, "url": "/v1/refunds"}
            )
        posts.append(request)
        return httpx.Response(
            500,
            json={"error": {"type": "api_error", "message": "An unknown error occurred"}},
            headers={"Idempotent-Replayed": "true"},
        )

    client = stripe_client(stripe)
    with pytest.raises(UpstreamUnavailable, match="retried later"):
        await client.command("refund.create", {"charge": "ch_1", "amount": "100"}, KEY)
    assert len(posts) == 1  # not a success, not a failure: found out again on the next try
