"""Prometheus metrics of one service, in a registry of its own (so several apps in one
process, as in the tests, never share or collide).

Counted as they happen: GraphQL operations by operation name and outcome, and their latency
(:class:`GraphQLRequestMetrics`, a schema extension); upstream requests by source and outcome,
and their latency (an :class:`~omnigraph.sources.observers.UpstreamObserver`); background task
runs by task and outcome, their last duration and last success (a
:class:`~omnigraph.runtime.periodic.PeriodicObserver`). Read when
scraped: record-cache lookups by source (the clients keep plain counts), response-cache lookups
and entries (when it is on), and from the database
the outbox's depth by status and the age of its oldest pending command, and how long ago the
ledger last read each WMS feed.

Example::

    metrics = ServiceMetrics()
    schema = build_schema(observers=[metrics.graphql_extension])
    registry = SourceRegistry(config, settings, observers=[metrics.upstream])
    metrics.watch(services)
    await metrics.refresh()  # the database gauges, then
    text = generate_latest(metrics.registry)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

import httpx
import structlog
from graphql import GraphQLError, OperationDefinitionNode
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from omnigraph.db.models import OutboxCommandRow, SourceCursorRow
from omnigraph.exceptions.lifecycle import OutboxStatus
from omnigraph.graph.response_cache import ResponseCache
from omnigraph.inventory.ledger import FEED as LEDGER_FEED
from omnigraph.runtime.periodic import PERIODIC_OUTCOMES, PeriodicOutcome, PeriodicRecorder
from omnigraph.runtime.services import Services
from omnigraph.sources.observers import UPSTREAM_OUTCOMES, RequestRecorder, UpstreamOutcome

__all__ = [
    "ANONYMOUS",
    "MAX_OPERATION_NAMES",
    "OTHER_OPERATIONS",
    "GraphQLRequestMetrics",
    "ServiceMetrics",
    "operation_label",
]

ANONYMOUS: Final = "anonymous"
OTHER_OPERATIONS: Final = "other"
# Operation names come from clients: past this many distinct names a new one is counted as
# "other", so a client inventing names cannot grow the series without bound.
MAX_OPERATION_NAMES: Final = 500
# Seconds; the last bucket is the default execution timeout.
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DATABASE_TIMEOUT_SECONDS: Final = 5.0

GraphQLOutcome = Literal["ok", "error", "rejected", "cancelled"]
# Raised through the extensions when a request is refused before it runs: no query, an
# operationName the document lacks, a mutation over GET, a persisted query refused.
_REFUSALS = (
    GraphQLError,
    MissingQueryError,
    CannotGetOperationTypeError,
    InvalidOperationTypeError,
)
log = structlog.get_logger(__name__)


def operation_label(context: ExecutionContext) -> str:
    """The name of the operation the document runs, ``anonymous`` when it has none (or there
    is no parsed document); never the text of the request."""
    document = context.graphql_document
    if document is None:
        return ANONYMOUS
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    requested = context.operation_name  # the client's operationName, else the first operation
    for operation in operations:
        if operation.name is not None and operation.name.value == requested:
            return requested
    return ANONYMOUS


class GraphQLRequestMetrics(SchemaExtension):
    """Counts each operation by name and outcome and times it, parsing to result.

    Outcomes: ``ok`` (no errors), ``error`` (ran, with errors: partial data), ``rejected``
    (refused before it ran: parse, validation, limits, trusted documents) and ``cancelled``
    (timed out, or the client went away). Subscriptions are counted but not timed: they last
    as long as the client listens.
    """

    def __init__(
        self, metrics: ServiceMetrics, *, execution_context: ExecutionContext | None = None
    ) -> None:
        super().__init__()
        self._metrics = metrics
        if execution_context is not None:
            self.execution_context = execution_context

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        outcome: GraphQLOutcome = "ok"
        try:
            yield
            outcome = self._outcome()
        except _REFUSALS:
            outcome = "rejected"
            raise
        except (asyncio.CancelledError, TimeoutError):
            outcome = "cancelled"
            raise
        except BaseException:
            outcome = "error"
            raise
        finally:
            context = self.execution_context
            timed = _operation_type(context) is not OperationType.SUBSCRIPTION
            seconds = time.perf_counter() - started if timed else None
            self._metrics.observe_operation(operation_label(context), outcome, seconds)

    def _outcome(self) -> GraphQLOutcome:
        context = self.execution_context
        result = context.result
        if context.graphql_document is None or result is None:
            return "rejected"
        if isinstance(result, PreExecutionError):
            return "rejected"
        return "error" if getattr(result, "errors", None) else "ok"


def _operation_type(context: ExecutionContext) -> OperationType | None:
    try:
        return context.operation_type
    except (RuntimeError, ValueError, GraphQLError):
        return None


class _UpstreamMetrics:
    """An upstream observer: counters and a histogram bound once per source."""

    def __init__(self, requests: Counter, seconds: Histogram) -> None:
        self._requests = requests
        self._seconds = seconds

    def attach(self, source: str, http: httpx.AsyncClient) -> RequestRecorder:
        counts = {outcome: self._requests.labels(source, outcome) for outcome in UPSTREAM_OUTCOMES}
        latency = self._seconds.labels(source)

        def record(outcome: UpstreamOutcome, seconds: float) -> None:
            counts[outcome].inc()
            latency.observe(seconds)

        return record


class _PeriodicMetrics:
    """A periodic-task observer: runs by outcome, the last run's duration and the time of the
    last success, bound once per task."""

    def __init__(self, runs: Counter, seconds: Gauge, succeeded: Gauge) -> None:
        self._runs = runs
        self._seconds = seconds
        self._succeeded = succeeded

    def attach(self, task: str) -> PeriodicRecorder:
        counts = {outcome: self._runs.labels(task, outcome) for outcome in PERIODIC_OUTCOMES}
        seconds = self._seconds.labels(task)
        succeeded = self._succeeded.labels(task)

        def record(outcome: PeriodicOutcome, duration: float, ended: float) -> None:
            counts[outcome].inc()
            seconds.set(duration)
            if outcome == "ok":
                succeeded.set(ended)

        return record


@dataclass(slots=True)
class _DatabaseSnapshot:
    """What the last scrape read from the database; empty when it could not."""

    outbox: dict[str, int] = field(default_factory=dict)
    oldest_pending_age: float | None = None
    ledger_lag: dict[str, float] = field(default_factory=dict)
    ledger_sequence: dict[str, int] = field(default_factory=dict)
    read: bool = False


class _ScrapeTimeCollector(Collector):
    """Families read when scraped: cache lookups from the clients, the database snapshot."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return ()  # the families depend on what is configured; describe nothing up front

    def collect(self) -> Iterable[Metric]:
        services = self._metrics.services
        if services is not None:
            lookups = CounterMetricFamily(
                "omnigraph_cache_lookups",
                "Record-cache lookups by source (sources whose cache is on): hit or miss.",
                labels=["source", "result"],
            )
            for name, client in services.registry.clients.items():
                upstream = client.upstream
                if upstream.caching:
                    lookups.add_metric([name, "hit"], upstream.cache_hits)
                    lookups.add_metric([name, "miss"], upstream.cache_misses)
            yield lookups
        answers = self._metrics.response_cache
        if answers is not None and answers.seconds > 0:
            kept = CounterMetricFamily(
                "omnigraph_response_cache_lookups",
                "Response-cache lookups of trusted documents: hit (served without executing)"
                " or miss (executed, and kept if it had no error).",
                labels=["result"],
            )
            kept.add_metric(["hit"], answers.hits)
            kept.add_metric(["miss"], answers.misses)
            yield kept
            yield GaugeMetricFamily(
                "omnigraph_response_cache_entries", "Answers kept now.", value=len(answers)
            )
        snapshot = self._metrics.snapshot
        if not snapshot.read:
            return
        outbox = GaugeMetricFamily(
            "omnigraph_outbox_commands",
            "Commands in the outbox by status (PENDING is the depth still to deliver).",
            labels=["status"],
        )
        for status in OutboxStatus:
            outbox.add_metric([status.value], snapshot.outbox.get(status.value, 0))
        yield outbox
        yield GaugeMetricFamily(
            "omnigraph_outbox_oldest_pending_age_seconds",
            "Age of the oldest command still pending delivery; 0 when none is.",
            value=snapshot.oldest_pending_age or 0.0,
        )
        lag = GaugeMetricFamily(
            "omnigraph_ledger_lag_seconds",
            "Seconds since the inventory ledger last read each WMS change feed (it was"
            " complete then): grows while the reader is stopped or the WMS does not answer.",
            labels=["source"],
        )
        for source, seconds in sorted(snapshot.ledger_lag.items()):
            lag.add_metric([source], seconds)
        yield lag
        sequence = GaugeMetricFamily(
            "omnigraph_ledger_last_sequence",
            "Highest WMS feed sequence the inventory ledger has applied.",
            labels=["source"],
        )
        for source, value in sorted(snapshot.ledger_sequence.items()):
            sequence.add_metric([source], value)
        yield sequence


class ServiceMetrics:
    """Every metric family of one service, registered in :attr:`registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            # the process's own (memory, CPU, GC), shared by every registry in the process
            self.registry.register(collector)
        self.graphql_requests = Counter(
            "omnigraph_graphql_requests",
            "GraphQL operations by operation name and outcome (ok, error, rejected, cancelled).",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.graphql_seconds = Histogram(
            "omnigraph_graphql_request_seconds",
            "Time from parsing a GraphQL operation to its result, by operation name.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        upstream_requests = Counter(
            "omnigraph_upstream_requests",
            "HTTP requests to source systems by source and outcome.",
            ["source", "outcome"],
            registry=self.registry,
        )
        upstream_seconds = Histogram(
            "omnigraph_upstream_request_seconds",
            "Time a source system took to answer (or fail), by source.",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream = _UpstreamMetrics(upstream_requests, upstream_seconds)
        self.periodic = _PeriodicMetrics(
            Counter(
                "omnigraph_periodic_runs",
                "Runs of each background task by outcome: ok, deferred (a source did not"
                " answer, the database was busy: retried next interval) or failed.",
                ["task", "outcome"],
                registry=self.registry,
            ),
            Gauge(
                "omnigraph_periodic_last_duration_seconds",
                "How long each background task's last run took, whatever its outcome.",
                ["task"],
                registry=self.registry,
            ),
            Gauge(
                "omnigraph_periodic_last_success_timestamp_seconds",
                "When each background task's last successful run ended (Unix time); 0 before"
                " the first.",
                ["task"],
                registry=self.registry,
            ),
        )
        self.services: Services | None = None
        self.response_cache: ResponseCache | None = None
        self.snapshot = _DatabaseSnapshot()
        self._operation_names: set[str] = set()
        self._series: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
        self.registry.register(_ScrapeTimeCollector(self))

    def graphql_extension(self) -> SchemaExtension:
        """A fresh :class:`GraphQLRequestMetrics` (strawberry makes one per operation)."""
        return GraphQLRequestMetrics(self)

    def watch(self, services: Services) -> None:
        """Read cache counts and database gauges from ``services`` when scraped."""
        self.services = services

    def observe_operation(
        self, operation: str, outcome: GraphQLOutcome, seconds: float | None
    ) -> None:
        series = self._series.get((operation, outcome)) or self._bind(operation, outcome)
        series[0].inc()
        if seconds is not None:
            series[1].observe(seconds)

    def _bind(self, operation: str, outcome: GraphQLOutcome) -> tuple[Counter, Histogram]:
        """The operation's series, bound once (``labels()`` takes a lock and checks values)."""
        if operation not in self._operation_names:
            if len(self._operation_names) >= MAX_OPERATION_NAMES:
                operation = OTHER_OPERATIONS  # not remembered: the cache stays bounded too
            self._operation_names.add(operation)
        series = (
            self.graphql_requests.labels(operation, outcome),
            self.graphql_seconds.labels(operation),
        )
        self._series[(operation, outcome)] = series
        return series

    async def refresh(self) -> None:
        """Read the database gauges; on failure they are left out of the scrape, and logged."""
        services = self.services
        if services is None:
            return
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
                self.snapshot = await _read_database(services)
        except (SQLAlchemyError, OSError, TimeoutError) as error:
            log.warning("metrics_database_unreadable", error=str(error))
            self.snapshot = _DatabaseSnapshot()


async def _read_database(services: Services) -> _DatabaseSnapshot:
    now = services.now()
    warehouses = [wms.name for wms in services.registry.warehouses]
    async with services.sessions() as session:
        counts = await session.execute(
            select(OutboxCommandRow.status, func.count()).group_by(OutboxCommandRow.status)
        )
        oldest = await session.scalar(
            select(func.min(OutboxCommandRow.created_at)).where(
                OutboxCommandRow.status == OutboxStatus.PENDING.value
            )
        )
        cursors = await session.execute(
            select(
                SourceCursorRow.source, SourceCursorRow.updated_at, SourceCursorRow.last_sequence
            ).where(SourceCursorRow.feed == LEDGER_FEED, SourceCursorRow.source.in_(warehouses))
        )
        snapshot = _DatabaseSnapshot(
            outbox={status: count for status, count in counts},
            oldest_pending_age=_age(now, oldest),
            read=True,
        )
        for source, updated_at, last_sequence in cursors:
            snapshot.ledger_lag[source] = _age(now, updated_at) or 0.0
            if last_sequence is not None:
                snapshot.ledger_sequence[source] = last_sequence
    return snapshot


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())
