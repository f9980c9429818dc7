"""What tests in several rooms make the same way: a service on a loopback port, a short pick
reported, a stock position seeded, the payouts reconciled as the service's worker would."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import structlog
import uvicorn
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.types import ASGIApp

from omnigraph.app import BACKGROUND_SWITCHES, catch_up, create_app
from omnigraph.db.models import IdempotencyKeyRow, InventoryPositionRow, ReservationRow
from omnigraph.exceptions.catalogue import ExceptionCatalogue, ExceptionKind
from omnigraph.exceptions.intake import ExceptionReport
from omnigraph.inventory.projection import positions_rewritten
from omnigraph.payouts.reconciler import Reconciler
from omnigraph.payouts.returns import ReturnSweep
from omnigraph.payouts.sync import PaymentsReader
from omnigraph.runtime.services import Services
from omnigraph.settings import Settings
from omnigraph.sources.contract import JsonRecord
from omnigraph.sources.registry import SourceRegistry
from tests.conftest import ANCHOR, FRAMEWORK_OVERRIDES, serving

__all__ = [
    "LINE_KINDS",
    "PLANTED_EXCEPTION",
    "RESERVE",
    "free_port",
    "fresh_position",
    "logging_put_back",
    "on_loopback",
    "position",
    "reconcile_payouts",
    "served_demo",
    "short_pick",
    "ten_sellable",
    "until",
    "web_reservation",
    "wms_short_pick",
]

# planted disagreement (in the demo world) -> the exception the detector raises for it
PLANTED_EXCEPTION = {
    "late_sync": "STATE_DISAGREEMENT",
    "cancelled_but_shipped": "LATE_CANCELLATION",
    "total_mismatch": "PRICE_DISAGREEMENT",
    "price_mismatch": "PRICE_DISAGREEMENT",
}
# planted kind (in the demo world) -> the reconciliation line status its record must get
LINE_KINDS = {
    "charge_without_order": "UNMATCHED",
    "capture_amount_mismatch": "AMOUNT_MISMATCH",
    "currency_mismatch": "CURRENCY_MISMATCH",
    "duplicate_charge": "DUPLICATE",
    "refund_without_return": "REFUND_WITHOUT_RETURN",
    "refund_without_credit_memo": "MISSING_CREDIT_MEMO",
    "return_without_refund": "RETURN_WITHOUT_REFUND",
}


async def until(condition: Callable[[], bool], turns: int = 500) -> None:
    """Wait for something the service does in the background (a subscription starting to
    listen): a bounded number of event-loop turns, never a fixed time."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the service never got there")


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _LoopbackServer(uvicorn.Server):
    """Leaves signals to the test process, which may host several servers in one loop, and says
    when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()


@contextlib.asynccontextmanager
async def on_loopback(app: ASGIApp, **config: Any) -> AsyncIterator[int]:
    """Serve ``app`` with uvicorn on a free loopback port for the block; yields the port.
    ``config`` are ``uvicorn.Config`` options (``lifespan="on"`` to start the app with it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = _LoopbackServer(
        uvicorn.Config(app, **{"lifespan": "off", "log_level": "warning", **config})
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    listening = asyncio.create_task(server.listening.wait())
    try:
        await asyncio.wait({task, listening}, return_when=asyncio.FIRST_COMPLETED)
        if not listening.done():
            await task  # re-raises why it could not start
            raise RuntimeError("the server stopped while starting")
        yield int(sock.getsockname()[1])
    finally:
        listening.cancel()
        server.should_exit = True
        await task
        sock.close()


@contextlib.contextmanager
def logging_put_back() -> Iterator[None]:
    """Whatever the block does to the process's logging (``configure_logging``) is undone after
    it: structlog's configuration and the root logger's handlers and level."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.configure(**saved)
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


# the built-in demo as documented, whatever the environment of the run says
DEMO = ("demo_seed", "demo_orders", "demo_as_of", "demo_base_port")


@contextlib.asynccontextmanager
async def served_demo(
    folder: Path, *, clock: Callable[[], datetime] | None = None, **overrides: Any
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """``omnigraph serve`` on the built-in demo (a fresh SQLite database in ``folder``) once its
    first background rounds are done (:func:`omnigraph.app.catch_up`), and a client speaking
    to it as GraphiQL and curl would; ``overrides`` are settings (``demo_orders=60``)."""
    values: dict[str, Any] = {
        "config": None,
        "sources": [],
        "database_url": f"sqlite+aiosqlite:///{folder / 'demo.sqlite3'}",
        "framework_overrides": FRAMEWORK_OVERRIDES,
        **dict.fromkeys(BACKGROUND_SWITCHES, False),  # caught up below, step by step
        # bulk exports run by catch_up too, their files in the folder
        "bulk": {"enabled": False, "directory": str(folder / "bulk")},
        **{name: Settings.model_fields[name].default for name in DEMO},
        **overrides,
    }
    app = create_app(Settings(**values), clock=clock)
    async with serving(app, base_url="http://127.0.0.1:8000") as client:
        await catch_up(app.state.services)
        yield app, client


def short_pick(
    order_ref: str,
    *,
    dedupe_key: str,
    summary: str = "short at the pick face",
    reported_by: str = "test",
    details: dict[str, Any] | None = None,
) -> ExceptionReport:
    """A short pick at the WMS about web-store order ``order_ref``."""
    return ExceptionReport(
        kind=ExceptionKind.SHORT_PICK,
        dedupe_key=dedupe_key,
        subject=order_ref,
        subject_type="order",
        summary=summary,
        detected_at=datetime.now(UTC),
        reported_by=reported_by,
        owner_source="wms",
        order_source="web-store",
        order_ref=order_ref,
        details=details or {},
    )


def wms_short_pick(
    order: dict[str, Any], line: dict[str, Any], *, dedupe_key: str, **details: Any
) -> ExceptionReport:
    """The short pick the WMS reports for one unit of ``line`` of fulfilment order ``order``,
    with the facts a resolution sends back to it."""
    return short_pick(
        order["orderRef"],
        dedupe_key=dedupe_key,
        summary=f"1 x {line['sku']} short on {order['id']}",
        reported_by="wms",
        details={
            "fulfilmentOrderId": order["id"],
            "orderRef": order["orderRef"],
            "locationId": order["locationId"],
            "sku": line["sku"],
            "quantity": 1,
            **details,
        },
    )


def position(sku: str, **fields: Any) -> InventoryPositionRow:
    """``sku``'s position at dc-north with ``fields`` set and every other bucket zero."""
    row = InventoryPositionRow.empty(sku, "dc-north")
    for name, value in fields.items():
        setattr(row, name, value)
    return row


def ten_sellable(sku: str, **fields: Any) -> InventoryPositionRow:
    """``sku`` at dc-north with 10 units the web may sell: 20 on hand, 5 committed, 1 damaged,
    2 in quality control, 2 of safety stock."""
    return position(sku, on_hand=20, committed=5, damaged=1, quality_control=2, **fields)


async def fresh_position(session: AsyncSession, sku: str, **fields: Any) -> None:
    """Forget ``sku``'s reservations, position and idempotency keys (named ``sku:...``), then
    add its position at dc-north with ``fields`` and every other bucket zero."""
    await session.execute(delete(ReservationRow).where(ReservationRow.sku == sku))
    await session.execute(delete(InventoryPositionRow).where(InventoryPositionRow.sku == sku))
    await positions_rewritten(session)  # written here, not by the ledger
    await session.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.key.like(f"{sku}:%")))
    session.add(position(sku, **fields))


# the reservation mutation, as a channel calls it (its input: ``web_reservation``)
RESERVE = """
mutation($input: ReserveInventoryInput!) {
  reserveInventory(input: $input) {
    reservationId reservation { status locationId quantity expiresAt }
    userErrors { code field message }
  }
}
"""


def web_reservation(sku: str, key: str, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    """``reserveInventory``'s input: ``quantity`` of ``sku`` at dc-north for the web."""
    return {
        "sku": sku,
        "locationId": "dc-north",
        "channel": "web",
        "quantity": quantity,
        "idempotencyKey": key,
        **extra,
    }


async def reconcile_payouts(services: Services) -> tuple[int, int]:
    """Sync, reconcile and sweep as the service's worker does, on the demo world's clock;
    answer the transactions stored and the exceptions raised."""
    clock = lambda: ANCHOR  # noqa: E731  (the demo world's "now")
    catalogue = services.get(ExceptionCatalogue)
    sync = await PaymentsReader(services.sessions, services.registry, clock=clock).sync_once()
    done = await Reconciler(
        services.sessions, services.registry, catalogue, clock=clock
    ).reconcile_pending()
    await ReturnSweep(
        services.sessions, services.registry, catalogue, grace=timedelta(days=1), clock=clock
    ).sweep()
    return sync.transactions_stored, done.exceptions_raised


async def feed_events_about(
    registry: SourceRegistry, order_ref: str
) -> list[tuple[str, JsonRecord]]:
    """Every storefront, ERP and WMS change-feed event about ``order_ref`` (an order event, or
    one whose data names it), read from the systems themselves: (system, event)."""
    found = []
    for adapter in (*registry.storefronts, *registry.erps, *registry.warehouses):
        cursor = None
        while True:
            events, cursor, more = await adapter.client.changes(cursor, 500)
            for e in events:
                data = e.get("data") or {}
                about = e["recordId"] if e["recordType"] == "order" else data.get("orderRef")
                if about == order_ref:
                    found.append((adapter.name, e))
            if not more or not events:
                break
    return found
