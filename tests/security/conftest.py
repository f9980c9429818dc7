"""Services under test with the limits turned down so each control trips on a small request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from starlette.applications import Starlette

from omnigraph.app import create_app, demo_sources_config
from omnigraph.demo import DemoSystems
from tests.conftest import make_settings, serving


async def serve(
    demo: DemoSystems,
    database_url: str,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    client: tuple[str, int] = ("127.0.0.1", 50000),
    **overrides: Any,
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """Like ``running_app``, with fake source transports and the client's address to choose."""
    app = create_app(
        make_settings(database_url, **overrides),
        sources=demo_sources_config(demo.urls),
        transports=transports,
    )
    async with serving(app, client=client) as http:
        yield app, http
