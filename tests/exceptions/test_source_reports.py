"""The WMS reports shorts, damages and missed pickups on its feed; each becomes one exception,
and resolving one really changes the WMS's record."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy import select

from omnigraph.core.ids import encode_global_id
from omnigraph.db.models import ExceptionRow, SourceCursorRow
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.dispatcher import CommandDispatcher
from omnigraph.exceptions.source_reports import SourceReportReader
from omnigraph.runtime.services import Services
from tests.conftest import Graph
from tests.exceptions.conftest import RESOLVE, SHOW, resolve_input


async def reported(services: Services) -> list[ExceptionRow]:
    async with services.sessions() as session:
        return list(
            await session.scalars(
                select(ExceptionRow).where(ExceptionRow.dedupe_key.like("wms:report:%"))
            )
        )


async def test_reports_become_exceptions_once_each(services: Services, world: DemoWorld) -> None:
    reader = SourceReportReader(
        services.sessions, services.registry, services.get(ExceptionCatalogue)
    )
    truth = {r["id"]: r for r in world.reported_exceptions}
    assert {r["kind"] for r in truth.values()} == {"SHORT_PICK", "DAMAGE", "MISSED_PICKUP"}
    first = await reader.sync_once()
    again = await reader.sync_once()
    rows = await reported(services)
    assert first == len(truth)  # the report the WMS sent twice counts once
    assert again == 0
    assert {row.dedupe_key.removeprefix("wms:report:") for row in rows} == set(truth)
    for row in rows:
        report = truth[row.dedupe_key.removeprefix("wms:report:")]
        assert row.kind == report["kind"]
        assert (row.owner_kind, row.owner_source) == ("wms", "wms")
        assert row.order_ref == report["orderRef"]
        assert row.details["fulfilmentOrderId"] == report["fulfilmentOrderId"]
        assert row.status == "OPEN"
    async with services.sessions() as session:
        cursor = await session.get(SourceCursorRow, ("wms", "exception-reports"))
    assert cursor is not None
    assert cursor.cursor


async def test_resolving_a_reported_short_pick_changes_the_wms_record(
    egraph: Graph,
    services: Services,
    world: DemoWorld,
    own_demo: DemoSystems,
    dispatcher: Callable[..., CommandDispatcher],
) -> None:
    await SourceReportReader(
        services.sessions, services.registry, services.get(ExceptionCatalogue)
    ).sync_once()
    short = next(r for r in await reported(services) if r.kind == "SHORT_PICK")
    exception_id = encode_global_id("Exception", short.id)
    body = await egraph.query(
        RESOLVE, input=resolve_input(exception_id, "SHIP_PARTIAL_AND_REFUND", f"ship-{short.id}")
    )
    assert body["data"]["resolveException"]["userErrors"] == []
    await dispatcher().run_once()
    shown = (await egraph.query(SHOW, id=exception_id))["data"]["exception"]
    assert shown["status"] == "RESOLVED", shown
    fulfilment_id = short.details["fulfilmentOrderId"]
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{own_demo.urls['wms']}/fulfilment-orders/batch", json={"ids": [fulfilment_id]}
        )
    (record,) = response.json()["data"]
    before = next(f for f in world.wms_fulfilment_orders if f["id"] == fulfilment_id)
    assert record != before  # the WMS really did something
    assert len(record["shipments"]) > len(before["shipments"])
