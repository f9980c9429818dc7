"""``/metrics``: what a Prometheus scrape shows after real operations against the demo systems."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import delete
from starlette.applications import Starlette

from omnigraph.core.errors import SourceContractViolation, UpstreamUnavailable
from omnigraph.core.sources import SourceKind
from omnigraph.db.models import ExceptionRow, OutboxCommandRow
from omnigraph.demo import DemoSystems
from omnigraph.observability.metrics import MAX_OPERATION_NAMES, ServiceMetrics
from omnigraph.settings import SourceConfig
from omnigraph.sources.contract import ContractClient
from tests.conftest import Graph, running_app, services_of
from tests.observability.scrape import scrape, series, value

PAGE = """query OrdersPage {
  orders(first: 5) { edges { node { id state totals { total { amount } } } } }
}"""
REQUESTS = "omnigraph_graphql_requests_total"
PERIODIC = "omnigraph_periodic_runs_total"
LEDGER_OK = {"task": "ledger", "outcome": "ok"}
UPSTREAM = "omnigraph_upstream_requests_total"


async def test_operations_are_counted_and_timed_by_name(graph: Graph) -> None:
    before = await scrape(graph.client)
    body = await graph.query(PAGE)
    assert "errors" not in body
    await graph.query("{ orders(first: 1) { edges { node { id } } } }")
    await graph.query("query Broken { orders(first: 1) { nope } }")
    after = await scrape(graph.client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(REQUESTS, operation="OrdersPage", outcome="ok") == 1
    assert delta(REQUESTS, operation="anonymous", outcome="ok") == 1
    assert delta(REQUESTS, operation="Broken", outcome="rejected") == 1
    assert delta("omnigraph_graphql_request_seconds_count", operation="OrdersPage") == 1
    assert delta("omnigraph_graphql_request_seconds_sum", operation="OrdersPage") > 0
    # the page asked the storefront for the listing and the ERP and WMS for the records
    for source in ("web-store", "erp", "wms"):
        assert delta(UPSTREAM, source=source, outcome="ok") >= 1, source
        assert delta("omnigraph_upstream_request_seconds_count", source=source) >= 1, source


async def test_operation_names_are_names_not_text(graph: Graph) -> None:
    before = await scrape(graph.client)
    # an operationName the document does not hold runs nothing: it is not a label either
    response = await graph.client.post(
        "/graphql",
        json={"query": "query A { __typename }", "operationName": "not { a name }"},
    )
    assert response.json()["errors"]
    await graph.client.post("/graphql", json={"query": "{ unparsable"})
    after = await scrape(graph.client)
    operations = {dict(labels)["operation"] for labels in series(after, REQUESTS)}
    assert "not { a name }" not in operations
    rejected = {"operation": "anonymous", "outcome": "rejected"}
    assert value(after, REQUESTS, **rejected) - value(before, REQUESTS, **rejected) == 2


def test_a_client_inventing_names_cannot_grow_the_series() -> None:
    metrics = ServiceMetrics()
    for n in range(MAX_OPERATION_NAMES + 20):
        metrics.observe_operation(f"Op{n}", "ok", 0.01)
    names = {
        sample.labels["operation"]
        for family in metrics.registry.collect()
        if family.name == "omnigraph_graphql_requests"
        for sample in family.samples
    }
    assert len(names) == MAX_OPERATION_NAMES + 1
    assert "other" in names


async def test_upstream_outcomes_are_counted_by_source() -> None:
    metrics = ServiceMetrics()
    answers = iter([httpx.Response(200, json={}), httpx.Response(503), httpx.Response(404)])

    def answer(request: httpx.Request) -> httpx.Response:
        try:
            return next(answers)
        except StopIteration:
            raise httpx.ConnectTimeout("slow", request=request) from None

    config = SourceConfig(name="wms-east", kind=SourceKind.WMS, base_url="http://wms.test")
    client = ContractClient(
        config,
        timeout_seconds=1,
        cache_ttl_seconds=0,
        cache_max_entries=0,
        redis_key_prefix="omnigraph-test",
        transport=httpx.MockTransport(answer),
        observers=[metrics.upstream],
    )
    for _ in range(4):
        with contextlib.suppress(UpstreamUnavailable, SourceContractViolation):
            await client.upstream.request("GET", "/health")
    await client.upstream.aclose()
    counted = {
        (sample.labels["outcome"], sample.value)
        for family in metrics.registry.collect()
        if family.name == "omnigraph_upstream_requests"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["source"] == "wms-east"
    }
    assert counted == {
        ("ok", 1),
        ("server_error", 1),
        ("client_error", 1),
        ("timeout", 1),
        ("transport_error", 0),
    }


async def test_cache_hits_and_misses_are_counted_when_the_cache_is_on(
    demo: DemoSystems, clean_database: str
) -> None:
    async for _, graph in running_app(demo, clean_database, cache_ttl_seconds=60):
        await graph.query(PAGE)
        first = await scrape(graph.client)
        await graph.query(PAGE)
        second = await scrape(graph.client)
    lookups = "omnigraph_cache_lookups_total"
    assert value(first, lookups, source="erp", result="miss") >= 5
    assert value(first, lookups, source="erp", result="hit") == 0
    # the second page's records all came from the cache
    assert value(second, lookups, source="erp", result="hit") >= 5
    assert value(second, lookups, source="erp", result="miss") == value(
        first, lookups, source="erp", result="miss"
    )


async def test_no_cache_series_while_the_cache_is_off(graph: Graph) -> None:
    await graph.query(PAGE)
    assert series(await scrape(graph.client), "omnigraph_cache_lookups_total") == {}


async def test_outbox_depth_and_age_of_the_oldest_pending_command(
    app: Starlette, graph: Graph
) -> None:
    services = services_of(app)
    now = datetime.now(UTC)
    before = await scrape(graph.client)
    exception_id = str(uuid.uuid4())
    async with services.sessions() as session, session.begin():
        session.add(
            ExceptionRow(
                id=exception_id,
                kind="SHORT_PICK",
                status="RESOLUTION_PENDING",
                owner_source="wms",
                owner_kind="wms",
                subject="metrics-test",
                subject_type="order",
                dedupe_key=f"metrics-test:{exception_id}",
                detected_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        for status, age in (("PENDING", timedelta(hours=2)), ("DEAD", timedelta(minutes=1))):
            session.add(
                OutboxCommandRow(
                    id=str(uuid.uuid4()),
                    exception_id=exception_id,
                    resolution="test",
                    owner_source="wms",
                    command_type="test",
                    payload={},
                    idempotency_key=str(uuid.uuid4()),
                    status=status,
                    attempts=0,
                    # not due for a long while: no dispatcher takes it meanwhile
                    next_attempt_at=now + timedelta(days=365),
                    created_at=now - age,
                    updated_at=now,
                )
            )
    try:
        after = await scrape(graph.client)
    finally:
        async with services.sessions() as session, session.begin():
            await session.execute(
                delete(OutboxCommandRow).where(OutboxCommandRow.exception_id == exception_id)
            )
            await session.execute(delete(ExceptionRow).where(ExceptionRow.id == exception_id))
    depth = "omnigraph_outbox_commands"
    assert value(after, depth, status="PENDING") == value(before, depth, status="PENDING") + 1
    assert value(after, depth, status="DEAD") == value(before, depth, status="DEAD") + 1
    assert set(dict(labels)["status"] for labels in series(after, depth)) == {
        "PENDING",
        "DELIVERED",
        "REJECTED",
        "DEAD",
    }
    assert value(after, "omnigraph_outbox_oldest_pending_age_seconds") >= 2 * 3600


@pytest.mark.usefixtures("ledger")
async def test_ledger_lag_per_wms_after_the_feed_is_read(graph: Graph) -> None:
    samples = await scrape(graph.client)
    lag = value(samples, "omnigraph_ledger_lag_seconds", source="wms")
    assert 0 <= lag < 600
    assert value(samples, "omnigraph_ledger_last_sequence", source="wms") > 0
    assert set(series(samples, "omnigraph_ledger_lag_seconds")) == {frozenset({("source", "wms")})}


async def test_background_task_runs_are_in_the_scrape(
    demo: DemoSystems, clean_database: str
) -> None:
    """The service hands its metrics to the periodic tasks it starts (here the ledger)."""
    async for _, graph in running_app(
        demo, clean_database, ledger_enabled=True, ledger_poll_seconds=0.05
    ):
        for _ in range(200):  # the first run starts with the service; it takes a moment
            samples = await scrape(graph.client)
            if value(samples, PERIODIC, **LEDGER_OK):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the ledger task did not run within 10 s")
        assert value(samples, PERIODIC, task="ledger", outcome="failed") == 0
        ran = {dict(labels)["task"] for labels in series(samples, PERIODIC)}
        assert "ledger" in ran  # beside the housekeeping every service runs
        assert ran <= {"ledger", "websocket_recheck", "persisted_documents_expiry"}
        assert all(value(samples, PERIODIC, task=t, outcome="failed") == 0 for t in ran)
        succeeded = value(
            samples, "omnigraph_periodic_last_success_timestamp_seconds", task="ledger"
        )
        assert abs(succeeded - time.time()) < 60
        assert value(samples, "omnigraph_periodic_last_duration_seconds", task="ledger") > 0


async def test_metrics_can_be_turned_off(demo: DemoSystems, clean_database: str) -> None:
    async for _, graph in running_app(demo, clean_database, metrics_enabled=False):
        assert (await graph.client.get("/metrics")).status_code == 404
        assert "errors" not in await graph.query(PAGE)


async def test_openmetrics_when_the_scraper_asks_for_it(graph: Graph) -> None:
    response = await graph.client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
