"""Services under test with the limits turned down so each control trips on a small request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from omnigraph.app import create_app, demo_sources_config
from omnigraph.demo import DemoSystems
from omnigraph.security.principal import Role
from tests.conftest import authorize, make_settings, serving


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


def production_service(*roles: Role, **overrides: Any) -> Any:
    """A module-scoped fixture: the service in production mode on the demo systems, with
    ``overrides`` (settings, or ``serve``'s transports) and its client authorized as ``roles``
    (a key each; none, the client has no key)."""

    @pytest.fixture(scope="module")
    async def production(
        demo: DemoSystems, clean_database: str
    ) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
        async for app, client in serve(demo, clean_database, mode="production", **overrides):
            if roles:
                await authorize(app, client, *roles)
            yield app, client

    return production
