"""Each demo system serves exactly what its OpenAPI file (docs/sources/<kind>.yaml) promises.

schemathesis generates valid and invalid requests per operation and checks every answer: no 5xx,
documented status codes and content types, response bodies that match the schemas, invalid input
refused with 4xx and valid input accepted. Explicit cases then push every real record through
the response schemas, which random ids would rarely reach.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from omnigraph.demo import (
    APP_FACTORIES,
    build_world,
)

from .conftest import ANCHOR, BATCH_PATHS
from .test_commands import every_accepted_command

if TYPE_CHECKING:
    from collections.abc import Callable

    from omnigraph.demo import DemoWorld


DOCS = Path(__file__).resolve().parents[2] / "docs" / "sources"
TOKEN = "conformance-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WORLD = build_world(seed=7, orders=60, anchor=ANCHOR)
# schemathesis sends the token itself, so it can also check that requests without it fail.
CONFIG = schemathesis.Config.from_dict({"auth": {"openapi": {"bearerAuth": {"bearer": TOKEN}}}})
LISTS = {"storefront": "/orders", "wms": "/locations", "payments": "/payouts"}


def first_page_cursor(schema: Any, kind: str) -> str | None:
    """A cursor the system really handed out (random strings are rightly refused)."""
    if kind not in LISTS:
        return None
    case = schema[LISTS[kind]]["GET"].Case(query={"limit": 1})
    cursor = case.call(app=APP_FACTORIES[kind](WORLD), headers=AUTH).json()["nextCursor"]
    assert isinstance(cursor, str)
    return cursor


def conformance_test(kind: str) -> Callable[..., None]:
    schema = schemathesis.openapi.from_path(DOCS / f"{kind}.yaml", config=CONFIG)
    # Route schemathesis' own follow-up requests (auth probes) in-process too.
    schema.app = APP_FACTORIES[kind](WORLD, token=TOKEN)
    cursor = first_page_cursor(schema, kind)

    @schema.parametrize()
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def test(case: schemathesis.Case[Any]) -> None:
        positive = case.meta is None or not case.meta.generation.mode.is_negative
        if positive and case.query:
            # Opaque cursors cannot be generated, only handed out: use real ones.
            if "cursor" in case.query and cursor is not None:
                case.query["cursor"] = cursor
            if "after" in case.query:
                case.query["after"] = "3"
            if "starting_after" in case.query:
                case.query["starting_after"] = WORLD.balance_transactions[2]["id"]
        # A fresh system per case: commands change state, and keys must not collide.
        case.call_and_validate(app=APP_FACTORIES[kind](WORLD, token=TOKEN))

    return cast("Callable[..., None]", test)


test_storefront_conforms = conformance_test("storefront")
test_erp_conforms = conformance_test("erp")
test_wms_conforms = conformance_test("wms")
test_payments_conforms = conformance_test("payments")


@pytest.mark.parametrize("kind", list(APP_FACTORIES))
def test_contract_files_are_valid_openapi_3_0(kind: str) -> None:
    schema = schemathesis.openapi.from_path(DOCS / f"{kind}.yaml", config=CONFIG)
    schema.validate()  # against the OpenAPI 3.0 meta-schema
    assert schema.raw_schema["openapi"] == "3.0.3"


@pytest.mark.parametrize("kind", list(APP_FACTORIES))
def test_contract_files_document_exactly_the_routes_served(kind: str) -> None:
    schema = schemathesis.openapi.from_path(DOCS / f"{kind}.yaml", config=CONFIG)
    documented = {
        f"{method.upper()} {path}"
        for path, item in schema.raw_schema["paths"].items()
        for method in item
    }
    served = APP_FACTORIES[kind](WORLD).state.controls.contract_routes
    assert documented == served


def real_requests(world: DemoWorld, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Requests that return every record of `kind`, so each one meets its response schema."""
    orders = [order["id"] for order in world.storefront_orders]
    common: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/health", {}),
        ("GET", "/changes", {"params": {"limit": 500}}),
        ("GET", "/changes", {"params": {"after": 500, "limit": 500}}),
        ("GET", "/changes", {"params": {"after": 1000, "limit": 500}}),
        ("GET", "/changes", {"params": {"after": "nonsense"}}),
        (
            "POST",
            "/commands",
            {"json": {"type": "nope", "payload": {}}, "headers": {"Idempotency-Key": "k"}},
        ),
    ]
    specific: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
        "storefront": [
            ("POST", "/orders/batch", {"json": {"ids": [*orders, "SF-1"]}}),
            ("GET", "/orders", {"params": {"limit": 500}}),
            ("GET", "/orders", {"params": {"limit": 5, "channel": "wholesale"}}),
            ("POST", "/orders/batch", {"content": b"{not json"}),
        ],
        "erp": [
            (
                "POST",
                "/sales-orders/batch",
                {"json": {"ids": [s["id"] for s in world.erp_sales_orders]}},
            ),
            ("POST", "/sales-orders/by-order-ref", {"json": {"orderRefs": orders}}),
            ("POST", "/items/batch", {"json": {"ids": [i["sku"] for i in world.erp_items]}}),
        ],
        "wms": [
            (
                "POST",
                "/fulfilment-orders/batch",
                {"json": {"ids": [f["id"] for f in world.wms_fulfilment_orders]}},
            ),
            ("POST", "/fulfilment-orders/by-order-ref", {"json": {"orderRefs": orders}}),
            ("GET", "/locations", {}),
            ("POST", "/stock/query", {"json": {"skus": [i["sku"] for i in world.erp_items]}}),
        ],
        "payments": [
            ("POST", "/charges/by-order-ref", {"json": {"orderRefs": orders}}),
            ("POST", "/payouts/batch", {"json": {"ids": [p["id"] for p in world.payouts]}}),
            ("GET", "/payouts", {"params": {"limit": 500}}),
            (
                "POST",
                "/balance-transactions/by-payout",
                {"json": {"payoutIds": [p["id"] for p in world.payouts]}},
            ),
            ("GET", "/balance-transactions", {"params": {"limit": 1000}}),
            (
                "GET",
                "/balance-transactions",
                {"params": {"payout": world.payouts[0]["id"], "limit": 3}},
            ),
            ("GET", "/balance-transactions", {"params": {"limit": 0}}),
            ("GET", "/balance-transactions", {"params": {"starting_after": "txn_nope"}}),
            (
                "POST",
                "/refunds/batch",
                {"json": {"ids": [r["id"] for c in world.charges for r in c["refunds"]]}},
            ),
            (
                "POST",
                "/disputes/batch",
                {"json": {"ids": [d["id"] for c in world.charges for d in c["disputes"]]}},
            ),
        ],
    }
    return common + specific[kind]


@pytest.mark.parametrize("kind", list(APP_FACTORIES))
async def test_every_real_record_meets_its_schema(world: DemoWorld, kind: str) -> None:
    schema = schemathesis.openapi.from_path(DOCS / f"{kind}.yaml", config=CONFIG)
    transport = httpx.ASGITransport(app=APP_FACTORIES[kind](world, token=TOKEN))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sim", headers=AUTH
    ) as client:
        for method, path, kwargs in real_requests(world, kind):
            response = await client.request(method, path, **kwargs)
            assert response.status_code < 500, (path, response.text)
            schema[path][method].validate_response(response)


@pytest.mark.parametrize("kind", list(APP_FACTORIES))
async def test_what_commands_change_still_meets_its_schema(kind: str) -> None:
    """Each accepted command, on a system of its own, leaves records and events in shape."""
    schema = schemathesis.openapi.from_path(DOCS / f"{kind}.yaml", config=CONFIG)
    batch = BATCH_PATHS[kind]
    for command_type, payload in [(t, p) for k, t, p in every_accepted_command(WORLD) if k == kind]:
        transport = httpx.ASGITransport(app=APP_FACTORIES[kind](WORLD))
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            response = await client.post(
                "/commands",
                json={"type": command_type, "payload": payload},
                headers={"Idempotency-Key": "k"},
            )
            schema["/commands"]["POST"].validate_response(response)
            assert response.json()["status"] == "accepted", response.json()
            after = {"after": len(WORLD.events[kind]), "limit": 500}
            changes = await client.get("/changes", params=after)
            schema["/changes"]["GET"].validate_response(changes)
            (event,) = [
                e for e in changes.json()["events"] if e["recordType"] != "inventory_movement"
            ]
            if event["recordType"] in {"order", "sales_order", "fulfilment_order", "payout"}:
                records = await client.post(batch, json={"ids": [event["recordId"]]})
                schema[batch]["POST"].validate_response(records)
                assert records.json()["data"] == [event["data"]], command_type
