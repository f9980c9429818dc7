"""The demo WMS: physical truth (fulfilment orders, locations, stock), per wms.yaml.

Its records change only through commands, which `warehouse.Warehouse` carries out; its change
feed also carries the exception reports the world planted (`exception.reported`) and every stock
movement (`inventory.<movement>`, see movements.py).

Beside the shared test switches it has two of its own (not part of the contract):
`POST /_control/feed-fault {"fault": "gap" | "malformed" | "redeliver"}` makes the feed
misbehave once, and `POST /_control/movements {"movements": [..]}` moves stock on demand.
"""

from __future__ import annotations

import copy
import operator
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse
from starlette.routing import Route

from omnigraph.demo.contract import (
    ContractError,
    RefIndex,
    SourceAppFactory,
    SourceParts,
    batch_route,
    by_order_ref_route,
    list_route,
    read_object,
    string_list,
)
from omnigraph.demo.warehouse import Warehouse

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from omnigraph.demo.contract import SourceSystem
    from omnigraph.demo.world import DemoWorld

__all__ = ["FEED_FAULTS", "REDELIVERED", "create_wms_app"]

FEED_FAULTS = ("gap", "malformed", "redeliver")
REDELIVERED = 3  # events a redelivering page sends again


def _wms(world: DemoWorld, wms: SourceSystem) -> SourceParts:
    """The WMS over its own copy of the world's fulfilment orders, locations and stock."""
    feed = wms.feed
    warehouse = Warehouse(world, feed, wms.now)
    fulfilments = warehouse.fulfilments
    locations = copy.deepcopy(world.wms_locations)
    as_of = world.anchor.isoformat()

    by_order_ref = RefIndex(fulfilments.values, operator.itemgetter("orderRef")).find

    async def stock_query(request: Request) -> Response:
        body = await read_object(request)
        skus = set(string_list(body, "skus") or [])
        location_ids = string_list(body, "locationIds", required=False)
        wanted = None if location_ids is None else set(location_ids)
        rows = [
            row
            for row in warehouse.stock
            if row["sku"] in skus and (wanted is None or row["locationId"] in wanted)
        ]
        return JSONResponse({"data": rows, "asOf": as_of})

    async def feed_fault(request: Request) -> Response:
        fault = (await read_object(request)).get("fault")
        if fault == "gap":
            feed.skip_sequence()
        elif fault == "redeliver":
            feed.redeliver(REDELIVERED)
        elif fault == "malformed":
            warehouse.append_malformed()
        else:
            raise ContractError(
                400, "BAD_REQUEST", f"`fault` must be one of {', '.join(FEED_FAULTS)}"
            )
        return JSONResponse({"fault": fault})

    async def move_stock(request: Request) -> Response:
        body = await read_object(request)
        return JSONResponse({"data": warehouse.append_movements(body.get("movements"))})

    return SourceParts(
        routes=[
            batch_route("fulfilment-orders", fulfilments.get),
            by_order_ref_route("fulfilment-orders", by_order_ref),
            list_route("locations", lambda: locations, sort_key=lambda loc: (loc["id"],)),
            Route("/stock/query", stock_query, methods=["POST"]),
        ],
        commands=warehouse.commands(),
        switches=[
            Route("/_control/feed-fault", feed_fault, methods=["POST"]),
            Route("/_control/movements", move_stock, methods=["POST"]),
        ],
        state={"warehouse": warehouse},
    )


create_wms_app = SourceAppFactory("wms", _wms)
