"""Observability: Prometheus metrics on ``/metrics``, OpenTelemetry tracing when the ``OTEL_*``
variables ask for it, and structured log lines carrying the request id."""

from omnigraph.observability.logging import LogFormat, configure_logging
from omnigraph.observability.metrics import GraphQLRequestMetrics, ServiceMetrics
from omnigraph.observability.tracing import Tracing, tracing_requested

__all__ = [
    "GraphQLRequestMetrics",
    "LogFormat",
    "ServiceMetrics",
    "Tracing",
    "configure_logging",
    "tracing_requested",
]
