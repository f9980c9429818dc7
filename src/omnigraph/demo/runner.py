"""Runs the four demo systems as real HTTP servers on loopback, inside the caller's event loop.

Tests and the CLI get the same thing: four uvicorn servers, one per source kind, each serving
its own app. A system can be stopped and started again on the same port to play a real outage
(connection refused), which the `/_control/outage` switch (HTTP 503) cannot.

    async with DemoSystems(build_world(orders=60)) as demo:
        async with httpx.AsyncClient(base_url=demo.urls["wms"]) as client:
            (await client.get("/health")).json()  # {"status": "ok", "kind": "wms", ...}
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING, Self

import uvicorn

from omnigraph.core.closing import AsyncClosing
from omnigraph.demo.erp import create_erp_app
from omnigraph.demo.payments import create_payments_app
from omnigraph.demo.storefront import create_storefront_app
from omnigraph.demo.wms import create_wms_app

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from datetime import datetime

    from starlette.applications import Starlette

    from omnigraph.demo.world import DemoWorld

__all__ = ["APP_FACTORIES", "DEFAULT_PORTS", "KINDS", "DemoSystems", "run_forever"]

KINDS = ("storefront", "erp", "wms", "payments")
DEFAULT_PORTS = {"storefront": 8101, "erp": 8102, "wms": 8103, "payments": 8104}
# each system's app: ``factory(world, token=..., clock=...)``
APP_FACTORIES: dict[str, Callable[..., Starlette]] = {
    "storefront": create_storefront_app,
    "erp": create_erp_app,
    "wms": create_wms_app,
    "payments": create_payments_app,
}


class _HostedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its host: four share one process and loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    """Bind here rather than in uvicorn, whose bind failure calls sys.exit inside the loop."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class DemoSystems(AsyncClosing):
    """The storefront, ERP, WMS and payments demo systems, serving `world` over HTTP.

    `ports` pins a port per kind; kinds left out get an ephemeral port. `urls` holds each
    running system's base URL (kept across `stop`/`start`, which reuse the port). `clock` is
    the systems' time (default: the wall clock), never before the world's anchor.
    """

    def __init__(
        self,
        world: DemoWorld,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        *,
        token: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        unknown = set(ports or {}) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown source kinds {sorted(unknown)}; expected {KINDS}")
        self.world = world
        self.host = host
        self.apps: dict[str, Starlette] = {
            kind: factory(world, token=token, clock=clock)
            for kind, factory in APP_FACTORIES.items()
        }
        self.urls: dict[str, str] = {}
        self._ports = {kind: (ports or {}).get(kind, 0) for kind in KINDS}
        self._running: dict[str, tuple[uvicorn.Server, asyncio.Task[None]]] = {}

    async def __aenter__(self) -> Self:
        try:
            for kind in KINDS:
                await self.start(kind)
        except BaseException:
            await self.aclose()
            raise
        return self

    def is_running(self, kind: str) -> bool:
        return kind in self._running

    async def start(self, kind: str) -> None:
        """Serve `kind` (again), on the port it had before if it ran already."""
        if kind in self._running:
            return
        sock = _bind(self.host, self._ports[kind])
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.apps[kind],
            lifespan="off",
            log_level="warning",
            access_log=False,
            ws="none",
            timeout_graceful_shutdown=1,
        )
        server = _HostedServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"demo-{kind}")
        while not server.started:
            if task.done():
                sock.close()
                await task  # re-raises why it could not start
                raise RuntimeError(f"demo {kind} stopped while starting")
            await asyncio.sleep(0.005)
        self._ports[kind] = port
        self.urls[kind] = f"http://{self.host}:{port}"
        self._running[kind] = (server, task)

    async def stop(self, kind: str) -> None:
        """Stop serving `kind`: its port refuses connections until `start(kind)`."""
        running = self._running.pop(kind, None)
        if running is None:
            return
        server, task = running
        server.should_exit = True
        await task

    async def aclose(self) -> None:
        for kind in list(self._running):
            await self.stop(kind)


async def run_forever(
    world: DemoWorld,
    *,
    host: str = "127.0.0.1",
    ports: Mapping[str, int] | None = None,
    token: str | None = None,
    clock: Callable[[], datetime] | None = None,
    ready: Callable[[Mapping[str, str]], None] | None = None,
) -> None:
    """Serve the demo systems until cancelled (Ctrl-C under `asyncio.run`).

    `ports` defaults to DEFAULT_PORTS; `ready` is told each system's URL once all four answer.
    """
    ports = DEFAULT_PORTS if ports is None else ports
    async with DemoSystems(world, host, ports, token=token, clock=clock) as systems:
        if ready is not None:
            ready(dict(systems.urls))
        await asyncio.Event().wait()
