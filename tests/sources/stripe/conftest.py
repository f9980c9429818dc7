"""Stripe's recorded payloads (``fixtures/``, shaped as Stripe's API reference documents them)
and clients wired to them through ``httpx.MockTransport``: no test here reaches the internet."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import tenacity

from omnigraph.settings import SourceConfig
from omnigraph.sources.stripe import StripeClient, StripePaymentsAdapter

FIXTURES = Path(__file__).with_name("fixtures")
SECRET_KEY = "sk_test_51OmniGraphFakeKey"


def recorded(name: str) -> Any:
    """A recorded Stripe payload from ``fixtures/<name>.json``."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def stripe_config(**overrides: Any) -> SourceConfig:
    values: dict[str, Any] = {
        "name": "stripe",
        "kind": "payments",
        "type": "stripe",
        "base_url": "https://api.stripe.test",
        "token_env": "OMNIGRAPH_TEST_STRIPE_KEY",
        **overrides,
    }
    return SourceConfig.model_validate(values)


Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def stripe_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIGRAPH_TEST_STRIPE_KEY", SECRET_KEY)


@pytest.fixture
async def stripe_client(stripe_env: None) -> AsyncIterator[Callable[..., StripeClient]]:
    """``stripe_client(handler_or_transport, **config)``: a client that never waits to retry."""
    made: list[StripeClient] = []

    def make(
        transport: Handler | httpx.AsyncBaseTransport, *, cache_ttl: float = 0, **config: Any
    ) -> StripeClient:
        if not isinstance(transport, httpx.AsyncBaseTransport):
            transport = httpx.MockTransport(transport)
        client = StripeClient(
            stripe_config(**config),
            timeout_seconds=2,
            cache_ttl_seconds=cache_ttl,
            cache_max_entries=1000,
            redis_key_prefix="omnigraph-test",
            transport=transport,
            retry_wait=tenacity.wait_none(),
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.upstream.aclose()


def adapter_for(client: StripeClient) -> StripePaymentsAdapter:
    return StripePaymentsAdapter(client)
