"""OpenTelemetry: one GraphQL request is one trace, from the HTTP request down to the upstream
calls and SQL statements it caused; and tracing is off unless the OTEL_* variables turn it on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import httpx
import pytest
from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from omnigraph.app import create_app, demo_sources_config
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.observability.tracing import Tracing, tracing_requested
from tests.conftest import make_settings, serving

QUERY = """
query OrderWithExceptions($source: String!, $ref: String!) {
  orderByRef(source: $source, ref: $ref) { name exceptions { id } }
}
"""


@pytest.fixture
async def traced(
    demo: DemoSystems, clean_database: str
) -> AsyncIterator[tuple[httpx.AsyncClient, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(
        make_settings(clean_database),
        sources=demo_sources_config(demo.urls),
        tracer_provider=provider,
    )
    async with serving(app) as client:
        yield client, exporter
    provider.shutdown()


def ancestors(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> list[str]:
    """Names of the span's parents, nearest first."""
    by_id = {s.context.span_id: s for s in spans}
    names = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        found = by_id[parent.span_id]
        names.append(found.name)
        parent = found.parent
    return names


async def test_one_query_is_one_trace_down_to_http_and_sql(
    traced: tuple[httpx.AsyncClient, InMemorySpanExporter], world: DemoWorld
) -> None:
    client, exporter = traced
    order = world.storefront_orders[0]
    exporter.clear()
    response = await client.post(
        "/graphql",
        json={"query": QUERY, "variables": {"source": "web-store", "ref": order["id"]}},
    )
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["orderByRef"]["name"] == order["name"]

    spans = exporter.get_finished_spans()
    (root,) = [s for s in spans if s.parent is None and s.name == "POST /graphql"]
    trace_id = root.context.trace_id
    mine = [s for s in spans if s.context.trace_id == trace_id]
    assert root.kind is SpanKind.SERVER
    assert root.attributes is not None
    assert root.attributes["omnigraph.core.request_id"] == response.headers["x-request-id"]

    (operation,) = [s for s in mine if s.name == "GraphQL Query: OrderWithExceptions"]
    assert ancestors(operation, mine) == ["POST /graphql"]
    resolver = next(s for s in mine if s.name == "GraphQL Resolving: orderByRef")
    assert ancestors(resolver, mine)[0] == operation.name

    upstream = [
        s
        for s in mine
        if s.kind is SpanKind.CLIENT and demo_url(s).startswith(world_url(client, "storefront"))
    ]
    assert upstream, [s.name for s in mine]
    assert operation.name in ancestors(upstream[0], mine)

    sql = [s for s in mine if (s.attributes or {}).get("db.system") in {"sqlite", "postgresql"}]
    assert sql, [s.name for s in mine]
    assert all(operation.name in ancestors(s, mine) for s in sql)
    assert any("exceptions" in str((s.attributes or {}).get("db.statement", "")) for s in sql)


def demo_url(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    return str(attributes.get("url.full") or attributes.get("http.url") or "")


def world_url(client: httpx.AsyncClient, kind: str) -> str:
    services = client._transport.app.state.services  # type: ignore[attr-defined]
    storefront = next(c for c in services.registry.clients.values() if c.kind.value == kind)
    return storefront.upstream.base_url


async def test_health_checks_and_scrapes_are_not_traced(
    traced: tuple[httpx.AsyncClient, InMemorySpanExporter],
) -> None:
    client, exporter = traced
    exporter.clear()
    await client.get("/metrics")
    assert not [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]


def test_tracing_is_off_unless_the_otel_variables_ask() -> None:
    assert Tracing.from_environment({}) is None
    assert not tracing_requested({"OTEL_SERVICE_NAME": "shop-graph"})
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing_requested(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}
    )
    assert tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing_requested({"OTEL_TRACES_EXPORTER": "console"})


def test_the_otlp_exporter_and_the_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    tracing = Tracing.from_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing is not None
    assert isinstance(tracing.provider, TracerProvider)
    assert tracing.provider.resource.attributes[SERVICE_NAME] == "omnigraph"
    tracing.shutdown()

    monkeypatch.setenv("OTEL_SERVICE_NAME", "shop-graph")
    named = Tracing.from_environment({"OTEL_TRACES_EXPORTER": "console"})
    assert named is not None
    assert isinstance(named.provider, TracerProvider)
    assert named.provider.resource.attributes[SERVICE_NAME] == "shop-graph"
    processor = named.provider._active_span_processor._span_processors[0]
    assert isinstance(processor.span_exporter, ConsoleSpanExporter)  # type: ignore[attr-defined]
    named.shutdown()


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER='zipkin'"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "http/protobuf",
        ),
    ],
)
def test_what_omnigraph_cannot_export_to_stops_it_at_start(
    environ: dict[str, str], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        Tracing.from_environment(environ)
