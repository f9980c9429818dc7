"""Records read in bulk (a reconciliation's counterparts) are kept nowhere: the record cache
does not keep what was fetched, and they are not kept parsed."""

from __future__ import annotations

import json

import httpx

from omnigraph.core.sources import SourceKind
from omnigraph.settings import SourceConfig
from omnigraph.sources.bulk import bulk_reads
from omnigraph.sources.contract import ContractClient, PaymentsAdapter
from omnigraph.sources.parsing import parse_kept
from omnigraph.sources.records import Charge


def charge(charge_id: str, amount: int) -> dict[str, object]:
    return {
        "id": charge_id,
        "amount": amount,
        "amount_captured": amount,
        "currency": "gbp",
        "captured": True,
        "status": "succeeded",
        "created": 1_767_225_600,
        "metadata": {"order_ref": f"SF-{charge_id}"},
    }


async def test_a_bulk_read_caches_nothing_it_fetched() -> None:
    asked: list[list[str]] = []

    def payments(request: httpx.Request) -> httpx.Response:
        ids = json.loads(request.content)["ids"]
        asked.append(ids)
        return httpx.Response(200, json={"data": [charge(i, 1000) for i in ids]})

    client = ContractClient(
        SourceConfig(name="psp", kind=SourceKind.PAYMENTS, base_url="http://psp.test"),
        timeout_seconds=1,
        cache_ttl_seconds=60,
        cache_max_entries=100,
        redis_key_prefix="omnigraph-test",
        transport=httpx.MockTransport(payments),
    )
    adapter = PaymentsAdapter(client)
    try:
        await adapter.charges_by_id(["ch_1"])  # a request's read: cached for 60 s
        with bulk_reads():
            # what the cache holds still answers (ch_1); what was fetched (ch_2) is not kept
            found = await adapter.charges_by_id(["ch_1", "ch_2"])
        await adapter.charges_by_id(["ch_1", "ch_2"])
    finally:
        await client.upstream.aclose()
    assert set(found) == {"ch_1", "ch_2"}
    assert asked == [["ch_1"], ["ch_2"], ["ch_2"]]


def test_records_read_in_bulk_are_parsed_afresh_not_kept() -> None:
    raw = charge("ch_kept", 500)
    with bulk_reads():
        first = parse_kept("psp", Charge, raw)
        again = parse_kept("psp", Charge, raw)
    assert first == again
    assert first is not again
    # outside the scope, one record per content, as before
    assert parse_kept("psp", Charge, raw) is parse_kept("psp", Charge, raw)
