"""Rate limits per API key (per client address without one): HTTP 429, RATE_LIMITED and
Retry-After; off by default in development, on by default in production."""

from __future__ import annotations

import httpx
import pytest

from omnigraph.core.errors import ConfigurationError
from omnigraph.demo import DemoSystems
from omnigraph.security.principal import Role
from omnigraph.settings import PRODUCTION_RATE_LIMIT, Settings
from tests.conftest import authorize
from tests.security.conftest import serve

PING = {"query": "{ __typename }"}


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": retry_after}


async def test_an_anonymous_development_caller_is_limited_by_address(
    demo: DemoSystems, clean_database: str
) -> None:
    async for app, client in serve(demo, clean_database, rate_limit="3/minute"):
        for _ in range(3):
            assert (await client.post("/graphql", json=PING)).status_code == 200
        assert_rate_limited(await client.post("/graphql", json=PING))
        # another address has its own budget
        other = httpx.ASGITransport(app=app, client=("127.0.0.2", 50000))
        async with httpx.AsyncClient(transport=other, base_url="http://omnigraph") as neighbour:
            assert (await neighbour.post("/graphql", json=PING)).status_code == 200


async def test_each_api_key_has_its_own_budget_and_a_batch_spends_one_per_operation(
    demo: DemoSystems, clean_database: str
) -> None:
    async for app, client in serve(demo, clean_database, mode="production", rate_limit="3/minute"):
        await authorize(app, client, Role.REPORTING)
        batch = await client.post("/graphql", json=[PING, PING])
        assert batch.status_code == 200
        assert (await client.post("/graphql", json=PING)).status_code == 200
        assert_rate_limited(await client.post("/graphql", json=PING))

        await authorize(app, client, Role.SUPPORT)  # another key, another budget
        assert (await client.post("/graphql", json=PING)).status_code == 200
        assert_rate_limited(await client.post("/graphql", json=[PING, PING, PING]))


def test_rate_limits_are_off_in_development_and_on_in_production() -> None:
    assert Settings(mode="development").effective_rate_limit is None
    assert Settings(mode="production").effective_rate_limit == PRODUCTION_RATE_LIMIT
    assert Settings(mode="production", rate_limit="off").effective_rate_limit is None
    assert Settings(rate_limit="5/second;100/minute").effective_rate_limit == "5/second;100/minute"


def test_a_rate_that_does_not_parse_stops_the_service_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match=r"rate_limit \(OMNIGRAPH_RATE_LIMIT\): .*lots"):
        Settings(rate_limit="lots")
