"""The demo systems speak the source contract: batching, paging, feeds, commands and switches."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from omnigraph import demo as sim
from omnigraph.demo import (
    APP_FACTORIES,
    DemoSystems,
    DemoWorld,
    create_erp_app,
    create_payments_app,
    create_storefront_app,
    create_wms_app,
    run_forever,
)
from omnigraph.demo.contract import RefIndex
from tests.demo.conftest import BATCH_PATHS


def client_for(app: Starlette, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim", **kwargs
    )


@pytest.fixture
async def storefront(small_world: DemoWorld) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_storefront_app(small_world)) as client:
        yield client


def command(kind: str, payload: dict[str, Any], key: str) -> dict[str, Any]:
    return {"json": {"type": kind, "payload": payload}, "headers": {"Idempotency-Key": key}}


async def until(ask: Callable[[], Awaitable[httpx.Response]], holds: Callable[[Any], bool]) -> None:
    """Wait until the answer to `ask` shows what another task in this loop is doing."""
    for _ in range(1000):
        if holds((await ask()).json()):
            return
        await asyncio.sleep(0.005)
    raise AssertionError("it never happened")


async def all_pages(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = (await client.get(path, params=query)).raise_for_status().json()
        records += body["data"]
        cursor = body["nextCursor"]
        if cursor is None:
            return records


def test_the_public_api_is_what_it_claims() -> None:
    # Sorted as ruff keeps __all__: constants, then classes, then functions.
    def kind(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert sorted(sim.__all__, key=kind) == sim.__all__
    assert all(hasattr(sim, name) for name in sim.__all__)


# -- batch and by-order-ref ---------------------------------------------------------------------


async def test_batch_returns_found_records_and_names_the_missing(
    storefront: httpx.AsyncClient, small_world: DemoWorld
) -> None:
    wanted = [
        small_world.storefront_orders[3]["id"],
        "SF-999999",
        small_world.storefront_orders[0]["id"],
    ]
    response = await storefront.post("/orders/batch", json={"ids": [*wanted, wanted[0]]})
    assert response.status_code == 200
    body = response.json()
    assert sorted(order["id"] for order in body["data"]) == sorted([wanted[0], wanted[2]])
    assert body["missing"] == ["SF-999999"]
    assert body["data"][0] == small_world.storefront_orders[3]


@pytest.mark.parametrize(
    ("request_kwargs", "code"),
    [
        ({"content": b"{oops"}, "BAD_JSON"),
        ({"content": b""}, "BAD_JSON"),
        ({"json": ["SF-100001"]}, "BAD_REQUEST"),
        ({"json": {}}, "MISSING_FIELD"),
        ({"json": {"ids": "SF-100001"}}, "BAD_REQUEST"),
        ({"json": {"ids": [1, 2]}}, "BAD_REQUEST"),
        ({"json": {"ids": [f"SF-{n}" for n in range(501)]}}, "TOO_MANY_IDS"),
    ],
)
@pytest.mark.parametrize("kind", list(BATCH_PATHS))
async def test_a_malformed_batch_is_a_coded_400(
    small_world: DemoWorld, kind: str, request_kwargs: dict[str, Any], code: str
) -> None:
    async with client_for(APP_FACTORIES[kind](small_world)) as client:
        response = await client.post(BATCH_PATHS[kind], **request_kwargs)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


async def test_by_order_ref_returns_every_record_carrying_the_refs(small_world: DemoWorld) -> None:
    refs = [order["id"] for order in small_world.storefront_orders[:25]] + ["SF-1"]
    expected = {
        ("erp", "/sales-orders/by-order-ref"): [
            s["id"] for s in small_world.erp_sales_orders if s["orderRef"] in refs
        ],
        ("wms", "/fulfilment-orders/by-order-ref"): [
            f["id"] for f in small_world.wms_fulfilment_orders if f["orderRef"] in refs
        ],
        ("payments", "/charges/by-order-ref"): [
            c["id"] for c in small_world.charges if c["metadata"]["order_ref"] in refs
        ],
    }
    for (kind, path), ids in expected.items():
        async with client_for(APP_FACTORIES[kind](small_world)) as client:
            body = (await client.post(path, json={"orderRefs": refs})).raise_for_status().json()
            too_many = await client.post(path, json={"orderRefs": ["x"] * 501})
        assert sorted(record["id"] for record in body["data"]) == sorted(ids)
        assert ids, kind
        assert too_many.json()["error"]["code"] == "TOO_MANY_IDS"


def test_a_ref_index_finds_records_added_since_and_keeps_the_collection_order() -> None:
    records = {
        "A": {"id": "A", "orderRef": "SF-2"},
        "B": {"id": "B", "orderRef": "SF-1"},
        "C": {"id": "C", "orderRef": "SF-2"},
    }
    index = RefIndex(records.values, lambda record: record["orderRef"])
    assert [r["id"] for r in index.find(["SF-2", "SF-1", "SF-2"])] == ["A", "B", "C"]
    assert index.find(["SF-9"]) == []
    records["D"] = {"id": "D", "orderRef": "SF-1"}  # added after the first look
    assert [r["id"] for r in index.find(["SF-1"])] == ["B", "D"]


async def test_erp_items_and_payments_batches(small_world: DemoWorld) -> None:
    async with client_for(create_erp_app(small_world)) as erp:
        body = (await erp.post("/items/batch", json={"ids": ["SKU-0001", "SKU-9999"]})).json()
    assert [item["sku"] for item in body["data"]] == ["SKU-0001"]
    assert body["missing"] == ["SKU-9999"]
    payout = small_world.payouts[0]
    async with client_for(create_payments_app(small_world)) as payments:
        txns = (
            await payments.post(
                "/balance-transactions/by-payout", json={"payoutIds": [payout["id"]]}
            )
        ).json()["data"]
    assert txns
    assert {txn["payout"] for txn in txns} == {payout["id"]}
    assert next(t for t in txns if t["type"] == "payout")["amount"] == -payout["amount"]


# -- lists --------------------------------------------------------------------------------------


async def test_orders_page_newest_first_with_stable_cursors(
    storefront: httpx.AsyncClient, small_world: DemoWorld
) -> None:
    seen = await all_pages(storefront, "/orders", limit=7)
    expected = sorted(
        small_world.storefront_orders,
        key=lambda order: (-datetime.fromisoformat(order["placedAt"]).timestamp(), order["id"]),
    )
    assert [order["id"] for order in seen] == [order["id"] for order in expected]
    everything = (await storefront.get("/orders", params={"limit": 500})).json()
    assert everything["nextCursor"] is None
    default = (await storefront.get("/orders")).json()
    assert len(default["data"]) == 50


async def test_a_listing_after_a_change_serves_the_order_as_it_is_now(
    storefront: httpx.AsyncClient, small_world: DemoWorld
) -> None:
    # the storefront keeps its orders' listing order between requests (no re-sort each time):
    # what a listing serves must still be each order as it is now, filtered as it is now
    before = await all_pages(storefront, "/orders", limit=11)
    target = next(order for order in small_world.storefront_orders if order["status"] == "open")
    cancelled = await storefront.post(
        "/commands",
        **command("order.cancel", {"orderId": target["id"], "reason": "customer"}, "list-1"),
    )
    assert cancelled.status_code < 300, cancelled.text
    after = await all_pages(storefront, "/orders", limit=11)
    assert [order["id"] for order in after] == [order["id"] for order in before]
    (now,) = [order for order in after if order["id"] == target["id"]]
    assert (now["status"], now["cancelReason"]) == ("cancelled", "customer")
    found = await all_pages(storefront, "/orders", limit=5, status="cancelled")
    assert target["id"] in {order["id"] for order in found}
    opened = await all_pages(storefront, "/orders", limit=5, status="open")
    assert target["id"] not in {order["id"] for order in opened}


async def test_order_filters_combine(storefront: httpx.AsyncClient, small_world: DemoWorld) -> None:
    orders = small_world.storefront_orders
    middle = orders[len(orders) // 2]["placedAt"]
    sku = orders[0]["lines"][0]["sku"]
    cases: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
        ({"channel": "wholesale"}, lambda o: o["channel"] == "wholesale"),
        ({"status": "cancelled"}, lambda o: o["status"] == "cancelled"),
        ({"sku": sku}, lambda o: any(line["sku"] == sku for line in o["lines"])),
        ({"placedFrom": middle}, lambda o: o["placedAt"] >= middle),
        ({"placedTo": middle.replace("+00:00", "Z")}, lambda o: o["placedAt"] < middle),
        (
            {"channel": "web", "status": "open", "placedFrom": middle},
            lambda o: o["channel"] == "web" and o["status"] == "open" and o["placedAt"] >= middle,
        ),
    ]
    for params, keep in cases:
        found = {order["id"] for order in await all_pages(storefront, "/orders", limit=9, **params)}
        assert found == {order["id"] for order in orders if keep(order)}, params
        assert found, params


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "0"}, "BAD_LIMIT"),
        ({"limit": "501"}, "BAD_LIMIT"),
        ({"limit": "ten"}, "BAD_LIMIT"),
        ({"limit": "-1"}, "BAD_LIMIT"),
        ({"cursor": "not-a-cursor"}, "BAD_CURSOR"),
        ({"cursor": "WzEsMiwzXQ"}, "BAD_CURSOR"),  # valid base64 JSON of the wrong shape
        ({"channel": "fax"}, "BAD_FILTER"),
        ({"placedFrom": "yesterday"}, "BAD_FILTER"),
        ({"placedTo": "2026-02-30T00:00:00Z"}, "BAD_FILTER"),
        ([("limit", "5"), ("limit", "6")], "BAD_QUERY"),
    ],
)
async def test_bad_list_queries_are_coded_400s(
    storefront: httpx.AsyncClient, params: Any, code: str
) -> None:
    response = await storefront.get("/orders", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


async def test_payouts_list_filters_by_status_and_arrival(small_world: DemoWorld) -> None:
    payouts = small_world.payouts
    cutoff = payouts[len(payouts) // 2]["arrival_date"]
    async with client_for(create_payments_app(small_world)) as client:
        paid = await all_pages(client, "/payouts", limit=4, status="paid")
        later = await all_pages(client, "/payouts", arrivalFrom=cutoff)
        earlier = await all_pages(client, "/payouts", arrivalTo=cutoff)
        bad = await client.get("/payouts", params={"arrivalFrom": "soon"})
    assert {p["id"] for p in paid} == {p["id"] for p in payouts if p["status"] == "paid"}
    assert {p["id"] for p in later} == {p["id"] for p in payouts if p["arrival_date"] >= cutoff}
    assert {p["id"] for p in earlier} == {p["id"] for p in payouts if p["arrival_date"] < cutoff}
    created = [p["created"] for p in paid]
    assert created == sorted(created, reverse=True)
    assert bad.json()["error"]["code"] == "BAD_FILTER"


async def test_locations_and_stock(small_world: DemoWorld) -> None:
    async with client_for(create_wms_app(small_world)) as client:
        locations = await all_pages(client, "/locations", limit=2)
        everywhere = (
            await client.post("/stock/query", json={"skus": ["SKU-0001", "SKU-0002"]})
        ).json()
        one_store = (
            await client.post(
                "/stock/query",
                json={"skus": ["SKU-0001", "SKU-0404"], "locationIds": ["store-london"]},
            )
        ).json()
        missing = await client.post("/stock/query", json={"locationIds": None})
    assert [loc["id"] for loc in locations] == ["dc-north", "store-london", "store-manchester"]
    assert {(row["sku"], row["locationId"]) for row in everywhere["data"]} == {
        (sku, loc)
        for sku in ("SKU-0001", "SKU-0002")
        for loc in ("dc-north", "store-london", "store-manchester")
    }
    assert everywhere["asOf"] == small_world.anchor.isoformat()
    assert [(row["sku"], row["locationId"]) for row in one_store["data"]] == [
        ("SKU-0001", "store-london")
    ]
    assert missing.json()["error"]["code"] == "MISSING_FIELD"


# -- change feeds -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(APP_FACTORIES))
async def test_change_feed_pages_by_cursor_to_the_end(small_world: DemoWorld, kind: str) -> None:
    async with client_for(APP_FACTORIES[kind](small_world)) as client:
        events: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 97, **({"after": after} if after else {})}
            page = (await client.get("/changes", params=params)).raise_for_status().json()
            events += page["events"]
            after = page["nextCursor"]
            if not page["hasMore"]:
                break
        assert events == small_world.events[kind]
        tail = (await client.get("/changes", params={"after": after})).json()
        assert tail == {"events": [], "nextCursor": after, "hasMore": False}
        bad = await client.get("/changes", params={"after": "evt_7"})
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, "BAD_CURSOR")


# -- commands -----------------------------------------------------------------------------------


async def test_a_command_runs_once_per_idempotency_key(
    storefront: httpx.AsyncClient, small_world: DemoWorld
) -> None:
    order = next(o for o in small_world.storefront_orders if o["status"] == "open")
    events_before = (await storefront.get("/changes", params={"limit": 500})).json()
    cursor = events_before["nextCursor"]
    cancel = command("order.cancel", {"orderId": order["id"], "reason": "customer"}, "cancel-1")
    first = await storefront.post("/commands", **cancel)
    again = await storefront.post("/commands", **cancel)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert first.json()["status"] == "accepted"
    assert first.json()["type"] == "order.cancel"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    reused = await storefront.post(
        "/commands",
        **command("order.cancel", {"orderId": order["id"], "reason": "fraud"}, "cancel-1"),
    )
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    # The effect happened exactly once: one new event, and the order now reads cancelled.
    new = (await storefront.get("/changes", params={"after": cursor})).json()["events"]
    assert [(e["type"], e["recordId"]) for e in new] == [("order.cancelled", order["id"])]
    current = (await storefront.post("/orders/batch", json={"ids": [order["id"]]})).json()["data"][
        0
    ]
    assert (current["status"], current["cancelReason"]) == ("cancelled", "customer")
    assert new[0]["data"] == current
    log = (await storefront.get("/_commands")).json()["data"]
    assert [(c["idempotencyKey"], c["status"]) for c in log] == [("cancel-1", "accepted")]
    # The world itself is untouched: every app serves its own copy.
    assert next(o for o in small_world.storefront_orders if o["id"] == order["id"]) == order


@pytest.mark.parametrize(
    ("headers", "body", "code"),
    [
        ({}, {"type": "order.cancel", "payload": {}}, "IDEMPOTENCY_KEY_REQUIRED"),
        (
            {"Idempotency-Key": "x" * 256},
            {"type": "order.cancel", "payload": {}},
            "BAD_IDEMPOTENCY_KEY",
        ),
        (
            {"Idempotency-Key": "has space"},
            {"type": "order.cancel", "payload": {}},
            "BAD_IDEMPOTENCY_KEY",
        ),
        (
            {"Idempotency-Key": "k"},
            {"type": "order.explode", "payload": {}},
            "UNKNOWN_COMMAND_TYPE",
        ),
        ({"Idempotency-Key": "k"}, {"type": "order.cancel"}, "BAD_REQUEST"),
        ({"Idempotency-Key": "k"}, {"payload": {}}, "BAD_REQUEST"),
        ({"Idempotency-Key": "k"}, [], "BAD_REQUEST"),
    ],
)
async def test_malformed_commands_are_coded_400s(
    storefront: httpx.AsyncClient, headers: dict[str, str], body: Any, code: str
) -> None:
    response = await storefront.post("/commands", json=body, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)
    assert (await storefront.get("/_commands")).json()["data"] == []


async def test_the_command_log_counts_deliveries_and_applications(
    storefront: httpx.AsyncClient, small_world: DemoWorld
) -> None:
    order = next(o for o in small_world.storefront_orders if o["status"] == "open")
    notify = command("customer.notify", {"orderId": order["id"], "message": "Hi"}, "n-1")
    refused = command("order.reinstate", {"orderId": order["id"]}, "r-1")
    for _ in range(3):
        await storefront.post("/commands", **notify)
    for _ in range(2):
        await storefront.post("/commands", **refused)
    reused = await storefront.post(
        "/commands", **command("customer.notify", {"orderId": order["id"], "message": "Yo"}, "n-1")
    )
    assert reused.status_code == 422
    log = (await storefront.get("/_commands")).json()["data"]
    assert [
        (
            c["idempotencyKey"],
            c["type"],
            c["payload"],
            c["status"],
            c["deliveries"],
            c["applications"],
        )
        for c in log
    ] == [
        ("n-1", "customer.notify", {"orderId": order["id"], "message": "Hi"}, "accepted", 3, 1),
        ("r-1", "order.reinstate", {"orderId": order["id"]}, "rejected", 2, 0),
    ]
    assert [c["commandId"] for c in log] == ["cmd_storefront_000001", "cmd_storefront_000002"]
    assert "not cancelled" in log[1]["detail"]


async def test_two_deliveries_in_flight_at_once_apply_once(small_world: DemoWorld) -> None:
    report = small_world.reported_of("SHORT_PICK")[0]
    payload = {
        "fulfilmentOrderId": report["fulfilmentOrderId"],
        "sku": report["sku"],
        "quantity": report["quantity"],
    }
    async with client_for(create_wms_app(small_world)) as wms:
        # A slow WMS: the second delivery arrives while the first is still being applied.
        await wms.post("/_control/latency", json={"seconds": 0.2})
        deliveries = [
            wms.post("/commands", **command("fulfilment.cancel_line", payload, "twice"))
            for _ in range(2)
        ]
        first, second = await asyncio.gather(*deliveries)
        log = (await wms.get("/_commands")).json()["data"]
        events = (
            await wms.get("/changes", params={"after": len(small_world.events["wms"])})
        ).json()
        record = (
            await wms.post("/fulfilment-orders/batch", json={"ids": [report["fulfilmentOrderId"]]})
        ).json()["data"][0]
    assert first.json() == second.json()
    assert first.json()["status"] == "accepted"
    assert sorted(r.headers.get("idempotent-replayed", "") for r in (first, second)) == ["", "true"]
    assert [(c["deliveries"], c["applications"]) for c in log] == [(2, 1)]
    # Applied once: one order change, one write-off of the short units, one release.
    assert [e["type"] for e in events["events"]] == [
        "inventory.adjustment",
        "inventory.deallocate",
        "fulfilment_order.updated",
    ]
    (line,) = [li for li in record["lines"] if li["sku"] == report["sku"]]
    assert line["cancelled"] == report["quantity"]  # not twice the units


async def test_a_delivery_is_counted_on_receipt(small_world: DemoWorld) -> None:
    async with client_for(create_wms_app(small_world)) as wms:
        await wms.post("/_control/latency", json={"seconds": 0.3})
        order = small_world.wms_fulfilment_orders[0]["id"]
        pending = asyncio.create_task(
            wms.post("/commands", **command("record.resync", {"recordId": order}, "slow"))
        )
        await until(lambda: wms.get("/_commands"), lambda body: bool(body["data"]))
        (received,) = (await wms.get("/_commands")).json()["data"]
        assert (received["status"], received["deliveries"], received["applications"]) == (
            "pending",
            1,
            0,
        )
        assert (await pending).json()["status"] == "accepted"
        (done,) = (await wms.get("/_commands")).json()["data"]
    assert (done["status"], done["deliveries"], done["applications"]) == ("accepted", 1, 1)


# -- switches: stats, outage, auth, unknown routes --------------------------------------------


async def test_stats_count_contract_requests_per_route(storefront: httpx.AsyncClient) -> None:
    await storefront.post("/orders/batch", json={"ids": []})
    await storefront.post("/orders/batch", json={"ids": ["SF-1"]})
    await storefront.get("/orders")
    await storefront.get("/health")
    await storefront.get("/nowhere")
    stats = (await storefront.get("/_stats")).json()
    assert stats == {
        "requests": {"GET /health": 1, "GET /orders": 1, "POST /orders/batch": 2},
        "total": 3,
    }
    reset = (await storefront.post("/_stats/reset")).json()
    assert reset == {"requests": {}, "total": 0}
    assert (await storefront.get("/_stats")).json()["total"] == 0


async def test_outage_switch_answers_503_until_lifted(storefront: httpx.AsyncClient) -> None:
    down = await storefront.post("/_control/outage", json={"down": True})
    assert down.json() == {"down": True}
    for method, path in [
        ("GET", "/health"),
        ("GET", "/orders"),
        ("POST", "/orders/batch"),
        ("GET", "/changes"),
    ]:
        response = await storefront.request(
            method, path, json={"ids": []} if method == "POST" else None
        )
        assert (response.status_code, response.json()["error"]["code"]) == (503, "UNAVAILABLE")
    assert (await storefront.get("/_stats")).json()["requests"]["GET /orders"] == 1
    bad = await storefront.post("/_control/outage", json={"down": "yes"})
    assert bad.status_code == 400
    await storefront.post("/_control/outage", json={"down": False})
    assert (await storefront.get("/health")).json() == {
        "status": "ok",
        "kind": "storefront",
        "name": "storefront",
    }


async def test_an_outage_by_window_ends_on_its_own(storefront: httpx.AsyncClient) -> None:
    window = await storefront.post("/_control/outage", json={"down": True, "seconds": 0.2})
    assert window.json() == {"down": True, "seconds": 0.2}
    assert (await storefront.get("/health")).status_code == 503
    await until(lambda: storefront.get("/health"), lambda body: body.get("status") == "ok")
    assert (await storefront.get("/_stats")).json()["requests"]["GET /health"] >= 2
    for bad in (
        {"down": True, "seconds": 0},
        {"down": False, "seconds": 5},
        {"down": True, "seconds": "1"},
    ):
        answer = await storefront.post("/_control/outage", json=bad)
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "BAD_REQUEST")


async def test_latency_switch_delays_contract_routes_until_turned_off(
    storefront: httpx.AsyncClient,
) -> None:
    assert (await storefront.post("/_control/latency", json={"seconds": 0.5})).json() == {
        "seconds": 0.5
    }
    slow = asyncio.create_task(storefront.get("/health"))
    # The switches themselves are never slowed: stats answer while the health check waits.
    await until(lambda: storefront.get("/_stats"), lambda body: "GET /health" in body["requests"])
    assert not slow.done()
    assert (await slow).status_code == 200
    await storefront.post("/_control/latency", json={"seconds": 0})
    assert (await storefront.get("/health")).status_code == 200
    for bad in ({"seconds": -1}, {"seconds": 31}, {"seconds": True}, {"seconds": "1"}, {}):
        response = await storefront.post("/_control/latency", json=bad)
        assert (response.status_code, response.json()["error"]["code"]) == (400, "BAD_REQUEST")


async def test_fail_next_answers_the_next_requests_with_a_failure(
    storefront: httpx.AsyncClient, small_world: DemoWorld
) -> None:
    order = small_world.storefront_orders[0]["id"]
    notify = command("customer.notify", {"orderId": order, "message": "Hi"}, "f-1")
    armed = await storefront.post("/_control/fail-next", json={"count": 2, "status": 503})
    assert armed.json() == {"count": 2, "status": 503}
    failed = await storefront.post("/commands", **notify)
    assert (failed.status_code, failed.json()["error"]["code"]) == (503, "UNAVAILABLE")
    assert failed.headers["retry-after"] == "1"
    assert (await storefront.get("/_commands")).json()["data"] == []  # nothing was done
    assert (await storefront.get("/health")).status_code == 503
    delivered = await storefront.post("/commands", **notify)
    assert (delivered.status_code, delivered.json()["status"]) == (202, "accepted")
    (logged,) = (await storefront.get("/_commands")).json()["data"]
    assert (logged["deliveries"], logged["applications"]) == (1, 1)
    assert (await storefront.get("/_stats")).json()["requests"] == {
        "GET /health": 1,
        "POST /commands": 2,
    }

    await storefront.post("/_control/fail-next", json={"count": 1, "status": 500})
    assert (await storefront.get("/nowhere")).status_code == 404  # not a contract route
    broken = await storefront.post("/orders/batch", json={"ids": [order]})
    assert (broken.status_code, broken.json()["error"]["code"]) == (500, "INTERNAL_ERROR")
    assert (await storefront.post("/orders/batch", json={"ids": [order]})).status_code == 200

    await storefront.post("/_control/fail-next", json={"count": 5})
    await storefront.post("/_control/fail-next", json={"count": 0})
    assert (await storefront.get("/health")).status_code == 200
    for bad in (
        {"count": -1},
        {"count": "2"},
        {"count": 1, "status": 200},
        {"count": 1, "status": True},
    ):
        response = await storefront.post("/_control/fail-next", json=bad)
        assert (response.status_code, response.json()["error"]["code"]) == (400, "BAD_REQUEST")


async def test_a_configured_token_is_required(small_world: DemoWorld) -> None:
    app = create_wms_app(small_world, token="s3cret")
    async with client_for(app) as anonymous:
        response = await anonymous.get("/health")
        assert (response.status_code, response.json()["error"]["code"]) == (401, "UNAUTHORIZED")
        assert response.headers["www-authenticate"] == "Bearer"
        wrong = await anonymous.get("/health", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert (await anonymous.get("/_stats")).status_code == 200
    async with client_for(app, headers={"Authorization": "Bearer s3cret"}) as client:
        assert (await client.get("/health")).json()["kind"] == "wms"


async def test_unknown_routes_and_methods_answer_in_the_error_shape(
    storefront: httpx.AsyncClient,
) -> None:
    missing = await storefront.get("/nowhere")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")
    wrong = await storefront.delete("/orders/batch")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert wrong.headers["allow"] == "POST"


# -- real HTTP ----------------------------------------------------------------------------------


async def test_demo_systems_serve_real_http_and_survive_a_restart(small_world: DemoWorld) -> None:
    async with DemoSystems(small_world) as demo, httpx.AsyncClient() as client:
        assert list(demo.urls) == ["storefront", "erp", "wms", "payments"]
        for kind, url in demo.urls.items():
            assert url.startswith("http://127.0.0.1:")
            health = (await client.get(f"{url}/health")).json()
            assert health == {"status": "ok", "kind": kind, "name": kind}
        ref = small_world.storefront_orders[0]["id"]
        wms_url = demo.urls["wms"]
        found = (
            await client.post(
                f"{wms_url}/fulfilment-orders/by-order-ref", json={"orderRefs": [ref]}
            )
        ).json()
        assert [f["orderRef"] for f in found["data"]] == [ref]

        await demo.stop("wms")
        assert not demo.is_running("wms")
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{wms_url}/health")
        assert (await client.get(f"{demo.urls['erp']}/health")).status_code == 200
        await demo.start("wms")
        assert demo.urls["wms"] == wms_url
        assert (await client.get(f"{wms_url}/health")).status_code == 200
        # The same app came back, with what it had counted before going down.
        assert (await client.get(f"{wms_url}/_stats")).json()["requests"] == {
            "GET /health": 2,
            "POST /fulfilment-orders/by-order-ref": 1,
        }
    assert not any(demo.is_running(kind) for kind in demo.urls)


async def test_demo_systems_with_a_token_over_http(small_world: DemoWorld) -> None:
    async with DemoSystems(small_world, token="t0k") as demo, httpx.AsyncClient() as client:
        url = demo.urls["payments"]
        assert (await client.get(f"{url}/health")).status_code == 401
        authed = await client.get(f"{url}/health", headers={"Authorization": "Bearer t0k"})
        assert authed.status_code == 200


async def test_a_taken_port_fails_cleanly(small_world: DemoWorld) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        systems = DemoSystems(small_world, ports={"wms": port})
        with pytest.raises(OSError, match="in use"):
            await systems.__aenter__()
        assert not any(systems.is_running(kind) for kind in sim.KINDS)
    with pytest.raises(ValueError, match="unknown source kinds"):
        DemoSystems(small_world, ports={"crm": 1})


async def test_run_forever_serves_until_cancelled(small_world: DemoWorld) -> None:
    ready: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    task = asyncio.create_task(
        run_forever(
            small_world,
            ports={kind: 0 for kind in sim.KINDS},
            ready=lambda urls: ready.put_nowait(dict(urls)),
        )
    )
    urls = await ready.get()
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{urls['erp']}/health")).json()["kind"] == "erp"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{urls['erp']}/health")
