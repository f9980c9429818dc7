"""Log lines: JSON objects carrying the request id of the request that wrote them."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from omnigraph.core.ids import encode_global_id
from omnigraph.observability.logging import configure_logging
from omnigraph.settings import Settings
from tests.conftest import Graph
from tests.helpers import logging_put_back


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The process's logging sent to a buffer as JSON lines, and put back afterwards."""
    with logging_put_back():
        stream = io.StringIO()
        configure_logging("json", level="INFO", stream=stream)
        yield stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_a_requests_log_lines_are_json_with_its_request_id(
    graph: Graph, json_log: io.StringIO
) -> None:
    response = await graph.client.post(
        "/graphql",
        json={"query": "query($id: ID!) { order(id: $id) { name } }", "variables": {"id": "x"}},
        headers={"X-Request-Id": "support-case-77"},
    )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_ID"
    logging.getLogger("omnigraph.test").warning("from the standard library, %s", "formatted")

    logged = lines(json_log)
    (line,) = [line for line in logged if line["event"] == "graphql_error"]
    assert line["request_id"] == "support-case-77"
    assert line["code"] == "INVALID_ID"
    assert line["level"] == "info"
    assert line["logger"] == "omnigraph.graph.build"
    assert line["timestamp"].endswith("Z")
    (stdlib,) = [line for line in logged if line["logger"] == "omnigraph.test"]
    assert stdlib["event"] == "from the standard library, formatted"
    assert stdlib["level"] == "warning"
    assert "request_id" not in stdlib  # written outside any request


async def test_lines_of_concurrent_requests_keep_their_own_ids(
    graph: Graph, json_log: io.StringIO
) -> None:
    ids = [f"req-{n}" for n in range(8)]
    query = "query($id: ID!) { order(id: $id) { name } }"
    await asyncio.gather(
        *(
            graph.client.post(
                "/graphql",
                # an id of another type: each request logs one INVALID_ID line
                json={"query": query, "variables": {"id": encode_global_id("Payout", n)}},
                headers={"X-Request-Id": n},
            )
            for n in ids
        )
    )
    errors = [line for line in lines(json_log) if line["event"] == "graphql_error"]
    assert sorted(line["request_id"] for line in errors) == ids


def test_json_in_production_console_in_development() -> None:
    assert Settings(mode="production").effective_log_format == "json"
    assert Settings(mode="development").effective_log_format == "console"
    assert Settings(mode="production", log_format="console").effective_log_format == "console"
    assert Settings(log_level="WARNING").log_level == "warning"
