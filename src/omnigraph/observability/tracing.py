"""OpenTelemetry tracing of operations, resolvers, upstream calls and SQL: off unless the
standard ``OTEL_*`` environment variables ask for it.

Tracing is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
or ``OTEL_TRACES_EXPORTER`` is set, and off for ``OTEL_TRACES_EXPORTER=none`` or
``OTEL_SDK_DISABLED=true``. Spans go to an OTLP collector over HTTP/protobuf (``otlp``) or to
stdout (``console``); the exporter, the batch processor and the sampler read their own
variables (``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*``, ``OTEL_TRACES_SAMPLER``, ...), and the
service is named by ``OTEL_SERVICE_NAME`` (default ``omnigraph``).

Everything is instrumented per instance, never by patching libraries for the whole process:
the ASGI app (one server span per request), strawberry's ``OpenTelemetryExtension`` (the
operation, its parsing, validation and each resolver), each source's httpx client (one client
span per upstream call, with ``traceparent`` sent on) and the SQLAlchemy engine (one span per
statement).

Example::

    tracing = Tracing.from_environment()  # None unless OTEL_* ask for tracing
    if tracing is not None:
        schema = build_schema(observers=[tracing.graphql_extension])
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

import httpx
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware import Middleware
from strawberry.extensions import SchemaExtension
from strawberry.extensions.tracing import OpenTelemetryExtension

from omnigraph.core.request_id import current_request_id
from omnigraph.sources.observers import RequestRecorder

__all__ = ["DEFAULT_SERVICE_NAME", "Tracing", "tracing_requested"]

DEFAULT_SERVICE_NAME: Final = "omnigraph"
EXPORTERS: Final = ("otlp", "console")
# Scrapes and health checks are not worth a trace each.
UNTRACED_PATHS: Final = r"/livez$,/readyz$,/healthz$,/metrics$"
_ROUTES: Final = frozenset(
    {
        "/graphql",
        "/livez",
        "/readyz",
        "/healthz",
        "/metrics",
        "/examples",
        "/reports/reconciliation.csv",
    }
)


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER")
    if exporters is not None and exporters.strip():
        return _exporter_names(exporters) != []
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    )


def _exporter_names(value: str) -> list[str]:
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    return [] if names == ["none"] else names


def _exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    exporters: list[SpanExporter] = []
    for name in _exporter_names(environ.get("OTEL_TRACES_EXPORTER") or "otlp"):
        if name == "otlp":
            protocol = (
                environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf"
            )
            if protocol.strip() != "http/protobuf":
                raise ValueError(
                    f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: omnigraph exports OTLP over"
                    " http/protobuf (a collector's port 4318)"
                )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        else:
            known = ", ".join((*EXPORTERS, "none"))
            raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: omnigraph knows {known}")
    return exporters


def _resource(environ: Mapping[str, str]) -> Resource:
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES itself; a service
    # that names itself nowhere is "omnigraph", not the SDK's "unknown_service".
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


def _span_details(scope: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """``POST /graphql``: a route, never a client's arbitrary path, so span names stay few."""
    path = str(scope.get("path", ""))
    route = path if path in _ROUTES else None
    if route is None and path.startswith("/examples/"):
        route = "/examples/{name}"
    method = str(scope.get("method", "")) if scope.get("type") == "http" else "WEBSOCKET"
    name = f"{method} {route}" if route else method
    return name, ({"http.route": route} if route else {})


def _tag_request_id(span: trace.Span, _scope: Mapping[str, Any]) -> None:
    request_id = current_request_id()
    if request_id and span.is_recording():
        span.set_attribute("omnigraph.core.request_id", request_id)


class Tracing:
    """The tracer provider of one service and what it instruments with it."""

    def __init__(self, provider: trace.TracerProvider, *, owned: bool = False) -> None:
        """``owned``: this service made the provider, and shuts it down (flushing its spans)."""
        self.provider = provider
        self._owned = owned
        self._engine_tracers: list[EngineTracer] = []

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Tracing | None:
        """Tracing as the ``OTEL_*`` variables configure it, or None when they do not ask for
        it; a variable naming something omnigraph cannot export to is a ``ValueError``."""
        if not tracing_requested(environ):
            return None
        provider = TracerProvider(resource=_resource(environ))  # sampler: OTEL_TRACES_SAMPLER
        for exporter in _exporters(environ):
            provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider, owned=True)

    def graphql_extension(self) -> SchemaExtension:
        """strawberry's extension: a span for the operation and one for each resolver."""
        return OpenTelemetryExtension(tracer_provider=self.provider)

    def asgi_middleware(self) -> Middleware:
        """A server span per HTTP request, continuing a ``traceparent`` the client sent."""
        return Middleware(
            OpenTelemetryMiddleware,
            excluded_urls=UNTRACED_PATHS,
            default_span_details=_span_details,
            server_request_hook=_tag_request_id,
            tracer_provider=self.provider,
            # a span per ASGI message is noise: the request's own span says enough
            exclude_spans=["receive", "send"],
        )

    def attach(self, source: str, http: httpx.AsyncClient) -> RequestRecorder | None:
        """As an upstream observer: a client span for each request to the source."""
        HTTPXClientInstrumentor.instrument_client(http, tracer_provider=self.provider)
        return None

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """A span for each SQL statement the engine runs."""
        tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", None, self.provider)
        # the connection-usage counter wants a meter; metrics are Prometheus's job here
        usage = NoOpMeter("omnigraph").create_up_down_counter("db.client.connections")
        self._engine_tracers.append(
            EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]
        )

    def shutdown(self) -> None:
        """Flush and stop the provider, when this service made it."""
        if self._owned and isinstance(self.provider, TracerProvider):
            self.provider.shutdown()
