"""The Stripe adapter against recorded Stripe responses: what it asks Stripe, and what the rest of
omnigraph then sees (the payments contract's records)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest
from tests.sources.stripe.conftest import SECRET_KEY, adapter_for, recorded

from omnigraph.core.errors import SourceContractViolation, UpstreamUnavailable
from omnigraph.payouts.categories import ReportingCategory, category_of
from omnigraph.sources.bulk import bulk_reads
from omnigraph.sources.stripe import DEFAULT_API_VERSION, StripeClient

PAYOUT = "po_1PgXk2LkdIwHu7ixPayout01"
MakeClient = Callable[..., StripeClient]


def _json(payload: object, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=payload, headers=headers)


async def test_balance_transactions_page_through_starting_after(stripe_client: MakeClient) -> None:
    seen: list[httpx.Request] = []

    def stripe(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        after = request.url.params.get("starting_after")
        if after is None:
            return _json(recorded("balance_transactions_po_page1"))
        assert after == "txn_3PfAbcLkdIwHu7ix0Charge1"  # the last id of the first page
        return _json(recorded("balance_transactions_po_page2"))

    client = stripe_client(stripe)
    found = await adapter_for(client).balance_transactions_by_payout([PAYOUT])

    assert len(seen) == 2
    for request in seen:
        assert request.url.path == "/v1/balance_transactions"
        assert request.url.params["payout"] == PAYOUT
        assert request.url.params.get_list("expand[]") == ["data.source"]
        assert request.url.params["limit"] == "100"
        assert request.headers["Authorization"] == f"Bearer {SECRET_KEY}"
        assert request.headers["Stripe-Version"] == DEFAULT_API_VERSION
    txns = {t.id: t for t in found[PAYOUT]}
    assert len(txns) == 6
    assert all(t.payout == PAYOUT for t in txns.values())
    # reporting_category decides the type the reconciler counts: Stripe books a dispute as
    # type "adjustment", and its category says what it is
    by_category = {t.reporting_category: (t.type, category_of(t.type)) for t in txns.values()}
    assert by_category == {
        "payout": ("payout", ReportingCategory.PAYOUTS),
        "charge": ("charge", ReportingCategory.SALES),
        "refund": ("refund", ReportingCategory.REFUNDS),
        "dispute": ("dispute", ReportingCategory.DISPUTES),
        "fee": ("stripe_fee", ReportingCategory.FEES),
        "other_adjustment": ("adjustment", ReportingCategory.ADJUSTMENTS),
    }
    charge_txn = txns["txn_3PfAbcLkdIwHu7ix0Charge1"]
    assert (charge_txn.amount, charge_txn.fee, charge_txn.net) == (10000, 165, 9835)
    assert charge_txn.source == "ch_3PfAbcLkdIwHu7ix0Charge1"  # the expanded object's id
    assert txns["txn_1PfDspLkdIwHu7ix0Disput1"].source == "du_1PfDspLkdIwHu7ix0Disput1"


@pytest.mark.parametrize("in_bulk", [False, True])
async def test_expanded_sources_answer_later_reads_by_id(
    stripe_client: MakeClient, in_bulk: bool
) -> None:
    calls: list[str] = []

    def stripe(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.params.get("starting_after"):
            return _json(recorded("balance_transactions_po_page2"))
        return _json(recorded("balance_transactions_po_page1"))

    adapter = adapter_for(stripe_client(stripe, cache_ttl=60))
    await adapter.balance_transactions_by_payout([PAYOUT])
    # read in bulk, as the reconciler reads them: what the sync cached still answers
    with bulk_reads() if in_bulk else contextlib.nullcontext():
        charges = await adapter.charges_by_id(["ch_3PfAbcLkdIwHu7ix0Charge1"])
        refunds = await adapter.refunds_by_id(["re_3PfAbcLkdIwHu7ix0Refund1"])
        disputes = await adapter.disputes_by_id(["du_1PfDspLkdIwHu7ix0Disput1"])

    assert calls == ["/v1/balance_transactions"] * 2  # nothing fetched one by one
    assert charges["ch_3PfAbcLkdIwHu7ix0Charge1"].order_ref == "SF-100001"
    assert refunds["re_3PfAbcLkdIwHu7ix0Refund1"].charge == "ch_3PfAbcLkdIwHu7ix0Charge1"
    assert disputes["du_1PfDspLkdIwHu7ix0Disput1"].charge == "ch_3PfZzzLkdIwHu7ix0Charge2"


async def test_charges_by_id_one_get_each_missing_ones_left_out(stripe_client: MakeClient) -> None:
    def stripe(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/charges/ch_3PfAbcLkdIwHu7ix0Charge1":
            assert request.url.params.get_list("expand[]") == ["refunds"]
            return _json(recorded("charge"))
        return _json(recorded("error_resource_missing"), 404)

    client = stripe_client(stripe)
    found = await adapter_for(client).charges_by_id(["ch_3PfAbcLkdIwHu7ix0Charge1", "ch_missing"])

    assert client.upstream.calls == 2
    assert list(found) == ["ch_3PfAbcLkdIwHu7ix0Charge1"]
    charge = found["ch_3PfAbcLkdIwHu7ix0Charge1"]
    assert (charge.amount, charge.amount_refunded, charge.currency) == (10000, 500, "gbp")
    assert [r.id for r in charge.refunds] == ["re_3PfAbcLkdIwHu7ix0Refund1"]


async def test_charges_by_order_ref_search_ten_refs_a_query(stripe_client: MakeClient) -> None:
    queries: list[str] = []
    template = recorded("charge")

    def stripe(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/charges/search"
        query = request.url.params["query"]
        queries.append(query)
        refs = [part.split(":")[1].strip("'") for part in query.split(" OR ")]
        data = [
            template | {"id": f"ch_{ref}", "metadata": {"order_ref": ref}}
            for ref in refs
            if ref != "SF-000003"  # an order nobody paid for
        ]
        return _json(
            {
                "object": "search_result",
                "data": data,
                "has_more": False,
                "next_page": None,
                "url": "/v1/charges/search",
            }
        )

    refs = [f"SF-{n:06d}" for n in range(25)] + ["O'Brien-1"]
    client = stripe_client(stripe)
    found = await adapter_for(client).charges_by_order_ref(refs)

    assert client.upstream.calls == 3  # 26 refs, at most 10 clauses a query (Stripe's limit)
    assert all(len(q.split(" OR ")) <= 10 for q in queries)
    assert "metadata['order_ref']:'O\\'Brien-1'" in queries[-1]  # quotes escaped
    assert set(found) == set(refs)
    assert found["SF-000003"] == []
    assert [c.id for c in found["SF-000007"]] == ["ch_SF-000007"]


async def test_rate_limit_is_retried_then_succeeds(stripe_client: MakeClient) -> None:
    answers = [
        _json(recorded("error_rate_limit"), 429),
        _json(recorded("error_rate_limit"), 429),
        _json(recorded("charge")),
    ]

    client = stripe_client(lambda request: answers.pop(0))
    found = await adapter_for(client).charges_by_id(["ch_3PfAbcLkdIwHu7ix0Charge1"])

    assert client.upstream.calls == 3
    assert found["ch_3PfAbcLkdIwHu7ix0Charge1"].amount == 10000


async def test_rate_limit_that_persists_is_upstream_unavailable(stripe_client: MakeClient) -> None:
    client = stripe_client(lambda request: _json(recorded("error_rate_limit"), 429))

    with pytest.raises(UpstreamUnavailable, match="429"):
        await adapter_for(client).payouts_by_id([PAYOUT])
    assert client.upstream.calls == 4  # max_attempts


async def test_server_error_retried_auth_error_not(stripe_client: MakeClient) -> None:
    answers = [_json({"error": {"type": "api_error", "message": "boom"}}, 500)]
    payout = recorded("balance_transactions_po_page1")["data"][0]["source"]

    def stripe(request: httpx.Request) -> httpx.Response:
        return answers.pop(0) if answers else _json(payout)

    client = stripe_client(stripe)
    assert (await adapter_for(client).payouts_by_id([PAYOUT]))[PAYOUT].status == "paid"
    assert client.upstream.calls == 2

    refused = stripe_client(
        lambda request: _json(
            {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}},
            401,
        )
    )
    with pytest.raises(UpstreamUnavailable, match="401"):
        await adapter_for(refused).payouts_by_id([PAYOUT])
    assert refused.upstream.calls == 1


async def test_a_list_that_is_not_a_list_object_is_a_contract_violation(
    stripe_client: MakeClient,
) -> None:
    client = stripe_client(lambda request: _json({"data": "nope"}))

    with pytest.raises(SourceContractViolation):
        await adapter_for(client).list_payouts(limit=10, cursor=None, filters={})


async def test_list_payouts_filters_and_cursor(stripe_client: MakeClient) -> None:
    seen: list[dict[str, list[str]]] = []
    payout = recorded("balance_transactions_po_page1")["data"][0]["source"]

    def stripe(request: httpx.Request) -> httpx.Response:
        seen.append(parse_qs(request.url.query.decode()))
        return _json({"object": "list", "data": [payout], "has_more": True, "url": "/v1/payouts"})

    adapter = adapter_for(stripe_client(stripe))
    payouts, cursor = await adapter.list_payouts(
        limit=500,
        cursor="po_previous",
        filters={"status": "paid", "arrivalFrom": 1721000000, "arrivalTo": 1722000000},
    )

    assert [p.id for p in payouts] == [PAYOUT]
    assert cursor == PAYOUT
    assert seen == [
        {
            "limit": ["100"],
            "status": ["paid"],
            "arrival_date[gte]": ["1721000000"],
            "arrival_date[lt]": ["1722000000"],
            "starting_after": ["po_previous"],
        }
    ]


async def test_api_version_is_configurable(stripe_client: MakeClient) -> None:
    versions: list[str] = []

    def stripe(request: httpx.Request) -> httpx.Response:
        versions.append(request.headers["Stripe-Version"])
        return _json({"object": "balance", "available": [], "pending": [], "livemode": False})

    client = stripe_client(stripe, api_version="2024-06-20")
    assert await client.health() == {"status": "ok"}
    assert versions == ["2024-06-20"]
