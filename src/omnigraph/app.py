"""``create_app(settings) -> Starlette``: ``/graphql`` (with GraphiQL in development), ``/livez``,
``/readyz`` and ``/healthz`` (omnigraph.observability.health), ``/metrics``, ``/examples`` and the
operations console at ``/console`` (omnigraph.console);
when no sources are configured, the built-in demo systems start alongside."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import structlog
from opentelemetry.trace import TracerProvider
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute, request_response
from strawberry.extensions import SchemaExtension

from omnigraph import console
from omnigraph.api.schema import build_schema
from omnigraph.bulk.download import bulk_file
from omnigraph.bulk.events import BulkEvents, BulkWakeup
from omnigraph.bulk.resolvers import SchemaPages
from omnigraph.bulk.runner import BulkCleanup, BulkRunner
from omnigraph.bulk.store import BulkFiles
from omnigraph.core.clock import StartedClock
from omnigraph.core.closing import cancelled
from omnigraph.core.errors import ConfigurationError
from omnigraph.core.http_errors import error_json, http_exception_json, internal_error_json
from omnigraph.core.request_id import RequestIdMiddleware
from omnigraph.core.sources import SourceKind
from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
from omnigraph.db.idempotency import KeyClaims
from omnigraph.db.leases import LeaseStore, process_holder
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.dispatcher import CommandDispatcher, DispatcherWakeup
from omnigraph.exceptions.live import ExceptionEventBus
from omnigraph.exceptions.source_reports import SourceReportReader
from omnigraph.graph import ide
from omnigraph.graph.context import RequestContext
from omnigraph.graph.limits.body_size import BodySizeLimit
from omnigraph.graph.limits.rate import RateLimiter
from omnigraph.graph.live_sockets import SocketGuard
from omnigraph.graph.overrides import ReleasedContexts, overrides_in_force
from omnigraph.graph.response_cache import ResponseCache, forget_on_changes
from omnigraph.graph.trusted_documents import TrustedDocuments
from omnigraph.graph.view import LimitedGraphQL
from omnigraph.inventory.drift import DriftMonitor
from omnigraph.inventory.ledger import LedgerReader
from omnigraph.inventory.live import AvailabilityBus
from omnigraph.inventory.locations import KnownLocations
from omnigraph.inventory.projection import PositionsProjection
from omnigraph.observability.health import Health
from omnigraph.observability.metrics import ServiceMetrics
from omnigraph.observability.tracing import Tracing
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.detector import DisagreementDetector
from omnigraph.orders.resolvers import order_export
from omnigraph.orders.truth import OrderTruths
from omnigraph.payouts.reconciler import Reconciler
from omnigraph.payouts.report_endpoint import reconciliation_csv
from omnigraph.payouts.returns import ReturnSweep
from omnigraph.payouts.sync import PaymentsReader
from omnigraph.payouts.webhook import stripe_webhook
from omnigraph.payouts.worker import ReconciliationWorker
from omnigraph.runtime.garbage_collection import tuned_collector
from omnigraph.runtime.periodic import (
    Leases,
    PeriodicObserver,
    PeriodicRunner,
    PeriodicTask,
)
from omnigraph.runtime.pubsub import connect_redis
from omnigraph.runtime.services import Services, utc_now
from omnigraph.security.backend import BearerBackend, unauthenticated
from omnigraph.security.document_store import LearningLimits, PersistedDocuments
from omnigraph.security.jwt_tokens import JwtVerifier
from omnigraph.security.principal import Principal
from omnigraph.settings import Settings, SourcesConfig
from omnigraph.sources.observers import UpstreamObserver
from omnigraph.sources.registry import SourceRegistry
from omnigraph.sources.shopify.webhooks import receive_shopify_webhook

__all__ = [
    "DEMO_SOURCE_NAMES",
    "EXAMPLES",
    "NO_SOURCES_IN_PRODUCTION",
    "catch_up",
    "check_configuration",
    "create_app",
    "demo_ports",
    "demo_sources_config",
    "service_clock",
]

EXAMPLES = Path(__file__).with_name("examples")
# the federation subgraph that serves bulk exports (omnigraph.api.subgraphs), and runs them
BULK_SUBGRAPH = "orders"
# Each wait between two runs of a background task is its interval give or take 10 %, so loops
# started together (and replicas restarted together) spread out; the mean interval is the same.
BACKGROUND_JITTER = 0.1
log = structlog.get_logger(__name__)


class OmnigraphGraphQL(LimitedGraphQL[RequestContext, None]):
    """strawberry's ASGI app with the abuse limits, and a context built from the process's
    services per request."""

    def __init__(
        self,
        app: Starlette,
        settings: Settings,
        observers: Sequence[Callable[[], SchemaExtension]] = (),
    ) -> None:
        production = settings.is_production
        self.documents = documents = PersistedDocuments(
            lambda: app.state.services.sessions,
            limits=LearningLimits(
                max_document_bytes=settings.apq_max_document_bytes,
                max_documents_per_owner=settings.apq_max_documents_per_key,
                unused=timedelta(days=settings.apq_unused_days),
            ),
        )
        rate = settings.effective_rate_limit
        self.response_cache = ResponseCache(
            settings.response_cache_seconds,
            max_entries=settings.response_cache_max_entries,
            fields=settings.response_cache_fields,
        )
        super().__init__(
            build_schema(
                production=production,
                subgraph=settings.subgraph,
                limits=settings.limits,
                trusted_documents=TrustedDocuments(
                    settings.trusted_documents, documents, clock=lambda: app.state.services.now()
                ),
                response_cache=self.response_cache,
                observers=observers,
                framework_overrides=settings.framework_overrides,
            ),
            graphql_ide=None if production else "graphiql",
            allow_queries_via_get=not production,
            rate_limiter=(
                RateLimiter(
                    rate,
                    settings.effective_rate_limit_storage,
                    key_prefix=f"{settings.redis_key_prefix}:limits",
                )
                if rate
                else None
            ),
            execution_timeout=settings.limits.execution_timeout_seconds,
        )
        self._app = app

    async def kept_answer(self, request: Request) -> bytes | None:
        """A fresh kept answer to a trusted document, sent before any GraphQL work: found by
        the body's hash, operation and variables and the authenticated caller."""
        cache = self.response_cache
        if cache.seconds <= 0 or not len(cache):
            return None
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None  # the ordinary path refuses it with its code
        user = request.scope.get("user")
        key = cache.request_key(body, user if isinstance(user, Principal) else None)
        return cache.fresh_answer(key) if key is not None else None

    async def get_context(self, request: Any, response: Any) -> RequestContext:
        services: Services = self._app.state.services
        return RequestContext.for_request(services, request, response)

    async def render_graphql_ide(self, request: Request) -> Response:
        """strawberry's GraphiQL page, its scripts and styles served by this service."""
        return HTMLResponse(ide.offline_page(self.graphql_ide_html))

    def encode_json(self, data: object) -> str:
        """orjson, several times faster than ``json.dumps`` on a page of orders; a text, as
        WebSocket frames must be. Anything orjson refuses (an integer past 64 bits) is
        encoded by ``json.dumps``, as before."""
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return json.dumps(data, separators=(",", ":"))

    def decode_json(self, data: str | bytes) -> object:
        """orjson; what it refuses (``NaN``, integers past 64 bits) is read by the view's strict
        ``json.loads`` (UTF-8, no lone surrogate, not too deep), so a request means what it
        meant before and a malformed one is refused alike."""
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode_json(data)


class ReleasingGraphQL(ReleasedContexts, OmnigraphGraphQL):
    """The same app, releasing each HTTP operation's context once its result is made (one of
    the framework overrides: served while ``settings.framework_overrides`` is on)."""


NO_SOURCES_IN_PRODUCTION = (
    "production mode serves only configured sources: name them in the file OMNIGRAPH_CONFIG"
    " points at, or set OMNIGRAPH_DEMO=true to serve the built-in demo systems"
)


# each demo system's source name, by kind
DEMO_SOURCE_NAMES = {"storefront": "web-store", "erp": "erp", "wms": "wms", "payments": "psp"}


def demo_sources_config(urls: Mapping[str, str]) -> SourcesConfig:
    """The configuration that points at the built-in demo systems."""
    names = DEMO_SOURCE_NAMES
    return SourcesConfig.model_validate(
        {"sources": [{"name": names[k], "kind": k, "base_url": url} for k, url in urls.items()]}
    )


def check_configuration(settings: Settings, sources: SourcesConfig | None = None) -> None:
    """What start-up would refuse, found before anything starts (no database touched, no port
    bound): sources in production, the authority rules and the exception catalogue and the
    sources they name. Raises :class:`ConfigurationError` with the message alone."""
    config = sources if sources is not None else settings.sources_config
    if config is None and not settings.serves_demo:
        raise ConfigurationError(NO_SOURCES_IN_PRODUCTION)
    configured = (
        {s.name: s.kind for s in config.sources}
        if config is not None
        else {name: SourceKind(kind) for kind, name in DEMO_SOURCE_NAMES.items()}
    )
    ExceptionCatalogue.load(settings.exception_catalogue or None).check_sources(configured)
    AuthorityRules.load(settings.authority_rules).check_sources(configured)


def service_clock(settings: Settings, *, built_in_demo: bool) -> Callable[[], datetime]:
    """The process's clock: started at ``settings.demo_as_of`` (then running with real time)
    while the built-in demo systems stand in, or when it is set (the sources file
    ``omnigraph demo --write`` writes for its systems sets it); else the wall clock."""
    if built_in_demo or "demo_as_of" in settings.model_fields_set:
        return StartedClock(settings.demo_as_of)
    return utc_now


# the settings that turn on the background work (each off in one-shot commands and some tests)
BACKGROUND_SWITCHES = (
    "dispatcher_enabled",
    "report_feed_enabled",
    "ledger_enabled",
    "drift_enabled",
    "detector_enabled",
    "reconcile_enabled",
)


async def catch_up(services: Services) -> None:
    """Run every background task once, to its end, one after another: where a freshly
    started ``serve`` is after its first rounds (the ledger and the feeds read, the orders
    scanned, the payouts reconciled, due commands delivered). Whatever the settings enable:
    for one-shot commands and tests that want that state without waiting."""
    every = services.settings.model_copy(
        update=dict.fromkeys(BACKGROUND_SWITCHES, True)
        | {"bulk": services.settings.bulk.model_copy(update={"enabled": True})}
    )
    for task in background_tasks(dataclasses.replace(services, settings=every)):
        while await task.step():
            pass


def background_tasks(services: Services) -> list[PeriodicTask]:
    """The periodic work this process does, as its settings enable it: delivering resolution
    commands, reading the WMS feeds (exception reports, the inventory ledger), the drift and
    disagreement checks, payments reconciliation and the returns sweep; and, on every replica,
    closing open WebSockets whose key was revoked and forgetting the documents automatic
    persisted queries learnt that nobody asked for lately."""
    settings = services.settings
    tasks: list[PeriodicTask] = []
    if settings.dispatcher_enabled:
        dispatcher = CommandDispatcher(
            services.sessions,
            services.registry,
            worker=f"{socket.gethostname()}:{os.getpid()}:serve",
            policy=settings.dispatch,
            clock=services.now,
        )
        tasks += dispatcher.periodic(
            wakeup=services.get(DispatcherWakeup).event, jitter=BACKGROUND_JITTER
        )
    if settings.report_feed_enabled:
        reader = SourceReportReader(
            services.sessions, services.registry, services.get(ExceptionCatalogue)
        )
        tasks.append(
            reader.periodic(
                poll_seconds=settings.report_feed_poll_seconds, jitter=BACKGROUND_JITTER
            )
        )
    if settings.ledger_enabled:
        ledger = LedgerReader(
            services.sessions,
            services.registry,
            clock=services.now,
            on_change=services.get(AvailabilityBus).publish,
        )
        tasks.append(
            ledger.periodic(poll_seconds=settings.ledger_poll_seconds, jitter=BACKGROUND_JITTER)
        )
    if settings.drift_enabled:
        drift = DriftMonitor(
            services.sessions,
            services.registry,
            services.get(ExceptionCatalogue),
            tolerance=settings.drift_tolerance_units,
            grace=timedelta(seconds=settings.drift_grace_seconds),
            clock=services.now,
        )
        tasks.append(
            drift.periodic(
                interval_seconds=settings.drift_interval_seconds,
                services=services,
                jitter=BACKGROUND_JITTER,
            )
        )
    if settings.detector_enabled:
        detector = DisagreementDetector(
            services.sessions,
            services.registry,
            services.get(AuthorityRules),
            services.get(ExceptionCatalogue),
        )
        tasks.append(
            detector.periodic(
                interval_seconds=settings.detector_interval_seconds,
                clock=services.now,
                jitter=BACKGROUND_JITTER,
            )
        )
        tasks.append(
            detector.following(
                interval_seconds=settings.detector_follow_seconds,
                clock=services.now,
                jitter=BACKGROUND_JITTER,
            )
        )
    if settings.reconcile_enabled:
        tasks += reconciliation_worker(services).periodic(jitter=BACKGROUND_JITTER)
    pages = services.find(SchemaPages)
    if settings.bulk.enabled and pages is not None:
        tasks += bulk_tasks(services, pages)
    sockets = services.find(SocketGuard)
    if sockets is not None:
        # each replica re-checks the keys of its own open WebSockets
        tasks.append(sockets.periodic(jitter=BACKGROUND_JITTER))
    documents = services.find(PersistedDocuments)
    if documents is not None:
        # what automatic persisted queries learnt and nobody asked for since is forgotten
        tasks.append(documents.expiry(services.now, jitter=BACKGROUND_JITTER))
    return tasks


def bulk_tasks(services: Services, pages: SchemaPages) -> list[PeriodicTask]:
    """The runners of bulk exports (``bulk.workers`` of them) and the cleanup of their files."""
    policy = services.settings.bulk
    files = services.get(BulkFiles)
    events = services.find(BulkEvents)
    wakeup = services.find(BulkWakeup)
    tasks = []
    for number in range(1, policy.workers + 1):
        runner = BulkRunner(
            services.sessions,
            files,
            pages,
            worker=f"{socket.gethostname()}:{os.getpid()}:bulk:{number}",
            policy=policy,
            clock=services.now,
            on_change=events.publish if events is not None else None,
        )
        tasks.append(
            runner.periodic(
                "bulk_runner" if number == 1 else f"bulk_runner_{number}",
                wakeup=wakeup.event if wakeup is not None else None,
                jitter=BACKGROUND_JITTER,
            )
        )
    cleanup = BulkCleanup(services.sessions, files, clock=services.now)
    tasks.append(
        cleanup.periodic(interval_seconds=policy.cleanup_interval_seconds, jitter=BACKGROUND_JITTER)
    )
    return tasks


@contextlib.asynccontextmanager
async def background_workers(
    services: Services,
    observer: PeriodicObserver | None = None,
    *,
    leases: Leases | None = None,
) -> AsyncIterator[None]:
    """:func:`background_tasks` running as tasks of this process while the block runs (each
    step under way finishes when it ends), each run reported to ``observer``. Every replica
    runs them with the same settings: the singleton tasks run only while this process holds
    their lease (``leases``, by default one in this process's database under a name of its
    own), the others (the dispatcher, each replica's own checks) in every replica."""
    if leases is None:
        leases = LeaseStore(services.sessions, process_holder("serve"), services.now)
    runner = PeriodicRunner(
        background_tasks(services),
        observer=observer,
        leases=leases,
        lease_seconds=services.settings.task_lease_seconds,
    )
    async with runner:
        yield


def reconciliation_worker(services: Services) -> ReconciliationWorker:
    """Payments sync, payout reconciliation and the returns sweep, wired to this process."""
    settings = services.settings
    return ReconciliationWorker(
        PaymentsReader(services.sessions, services.registry, clock=services.now),
        Reconciler(
            services.sessions,
            services.registry,
            services.get(ExceptionCatalogue),
            clock=services.now,
        ),
        ReturnSweep(
            services.sessions,
            services.registry,
            services.get(ExceptionCatalogue),
            grace=timedelta(seconds=settings.refund_grace_seconds),
            clock=services.now,
        ),
        interval_seconds=settings.reconcile_interval_seconds,
        sweep_interval_seconds=settings.returns_sweep_interval_seconds,
    )


def bulk_schema(settings: Settings) -> Any:
    """The schema export pages run through: the single-process graph with the same limits and
    production masking as ``/graphql``'s, without trusted documents (checked at the start)."""
    return build_schema(
        production=settings.is_production,
        limits=settings.limits,
        framework_overrides=settings.framework_overrides,
    )


def demo_ports(settings: Settings) -> dict[str, int] | None:
    """The demo systems' fixed ports (from OMNIGRAPH_DEMO_BASE_PORT), or None: ephemeral."""
    base = settings.demo_base_port
    kinds = ("storefront", "erp", "wms", "payments")
    return {kind: base + i for i, kind in enumerate(kinds)} if base else None


def create_app(
    settings: Settings | None = None,
    *,
    sources: SourcesConfig | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    tracer_provider: TracerProvider | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """The service. ``sources`` overrides ``settings.sources``; with neither, demo systems start
    (their world as of ``settings.demo_as_of``).

    ``clock`` is the process's time; by default the wall clock, or one started at the demo's
    instant while the built-in demo systems stand in or ``demo_as_of`` is set
    (:func:`service_clock`); the demo systems share it. Spans go to ``tracer_provider`` when
    given, else where the ``OTEL_*`` variables say (by default nowhere: tracing is off)."""
    settings = settings or Settings()
    if settings.framework_overrides and not overrides_in_force(requested=True):
        # the installed frameworks lack an internal the overrides reach (logged): run without
        settings = settings.model_copy(update={"framework_overrides": False})
    metrics = ServiceMetrics() if settings.metrics_enabled else None
    tracing = (
        Tracing(tracer_provider) if tracer_provider is not None else Tracing.from_environment()
    )
    upstream_observers: list[UpstreamObserver] = [
        observer
        for observer in (metrics.upstream if metrics else None, tracing)
        if observer is not None
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if tracing is not None:
                stack.callback(tracing.shutdown)  # last: flushes the spans of the shutdown too
            config = sources if sources is not None else settings.sources_config
            if config is None and not settings.serves_demo:
                raise ConfigurationError(NO_SOURCES_IN_PRODUCTION)
            now = clock or service_clock(settings, built_in_demo=config is None)
            if config is None:
                from omnigraph.demo import DemoSystems, build_world

                world = await asyncio.to_thread(
                    build_world,
                    seed=settings.demo_seed,
                    orders=settings.demo_orders,
                    anchor=settings.demo_as_of,
                )
                demo = await stack.enter_async_context(
                    DemoSystems(
                        world, host=settings.demo_host, ports=demo_ports(settings), clock=now
                    )
                )
                config = demo_sources_config(demo.urls)
                log.info("demo_sources_started", **demo.urls)
                app.state.demo_urls = dict(demo.urls)  # for `omnigraph rehearse`
            engine = create_engine(settings.database_url)
            stack.push_async_callback(engine.dispose)
            if tracing is not None:
                tracing.instrument_engine(engine)
            await upgrade_database(engine)
            # With Redis the replicas share the record cache and hear each other's events.
            redis = connect_redis(settings.redis_url) if settings.redis_url else None
            if redis is not None:
                stack.push_async_callback(redis.aclose)
            if graphql.rate_limiter is not None:
                stack.push_async_callback(graphql.rate_limiter.aclose)
            registry = SourceRegistry(
                config,
                settings,
                transports=transports,
                redis=redis,
                observers=upstream_observers,
            )
            stack.push_async_callback(registry.aclose)
            configured = {s.name: s.kind for s in config.sources}
            catalogue = ExceptionCatalogue.load(settings.exception_catalogue or None)
            catalogue.check_sources(configured)
            rules = AuthorityRules.load(settings.authority_rules)
            rules.check_sources(configured)
            sessions = create_session_factory(engine)
            events = settings.redis_key_prefix + ":events"
            exception_events = ExceptionEventBus(
                sessions, redis=redis, channel=f"{events}:exceptions"
            )
            exception_events.watch(sessions)
            stack.push_async_callback(exception_events.aclose)
            availability_events = AvailabilityBus(redis, channel=f"{events}:availability")
            stack.push_async_callback(availability_events.aclose)
            bulk_events = BulkEvents(redis, channel=f"{events}:bulk")
            stack.push_async_callback(bulk_events.aclose)
            # a kept answer is forgotten as soon as this process hears of a change, and, while
            # the cache is on, when another replica's change reaches this one
            exception_events.listen(graphql.response_cache.invalidate)
            availability_events.listen(graphql.response_cache.invalidate)
            if graphql.response_cache.seconds > 0:
                watcher = asyncio.create_task(
                    forget_on_changes(graphql.response_cache, exception_events, availability_events)
                )
                stack.push_async_callback(cancelled, watcher)
            services = Services(settings=settings, registry=registry, sessions=sessions, clock=now)
            # a request holds an idempotency key (or a webhook delivery) at most as long as
            # one operation may run; a claim older than that was left by a process that died
            key_claims = KeyClaims(
                sessions,
                lease=timedelta(seconds=settings.limits.execution_timeout_seconds),
            )
            known_locations = KnownLocations(sessions, clock=services.now)
            stack.push_async_callback(known_locations.aclose)
            for part in (
                rules,
                catalogue,
                exception_events,
                availability_events,
                DispatcherWakeup(),
                graphql.documents,
                sockets,
                key_claims,
                bulk_events,
                BulkWakeup(),
                BulkFiles(settings.bulk.directory),
                known_locations,
                PositionsProjection(),
                OrderTruths(max_entries=settings.truth_cache_max_entries),
            ):
                services.provide(part)
            if settings.subgraph in (None, BULK_SUBGRAPH):
                # exports run each page through the whole graph, as the caller
                services.provide(
                    SchemaPages(services, lambda: bulk_schema(settings), direct=order_export())
                )
            app.state.services = services
            health = Health(
                sessions,
                registry,
                source_status_seconds=settings.source_status_seconds,
                now=services.now,
            )
            stack.push_async_callback(health.aclose)
            app.state.health = health
            if metrics is not None:
                metrics.watch(services)
            await stack.enter_async_context(
                background_workers(services, metrics.periodic if metrics is not None else None)
            )
            # last: what start-up built is frozen out of the collector's way
            stack.enter_context(tuned_collector(settings.gc_young_threshold))
            yield

    def changing(
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        """A webhook accepted tells of a change at its source: kept answers are forgotten (a
        forged or malformed delivery is refused and forgets nothing)."""

        async def handle(request: Request) -> Response:
            response = await endpoint(request)
            if response.status_code < 300:
                graphql.response_cache.invalidate()
            return response

        return handle

    async def livez(_request: Request) -> Response:
        """The process answers (no I/O: a slow database or a down source is not a reason to
        restart it)."""
        return JSONResponse({"status": "live"})

    async def readyz(request: Request) -> Response:
        """This process can serve: its database answers and holds its migrations; 503 else."""
        health: Health = request.app.state.health
        readiness = await health.ready()
        return JSONResponse(readiness.as_json(), status_code=200 if readiness.ready else 503)

    async def healthz(request: Request) -> Response:
        """Readiness (its status code too) and each source's last probe: ``degraded`` while a
        source is down, which the graph serves around, so still 200."""
        health: Health = request.app.state.health
        readiness, sources = await asyncio.gather(health.ready(), health.source_status())
        status = "ok" if all(s["status"] == "ok" for s in sources.values()) else "degraded"
        return JSONResponse(
            {
                "status": status if readiness.ready else "unready",
                "ready": readiness.as_json(),
                "sources": sources,
            },
            status_code=200 if readiness.ready else 503,
        )

    async def example(request: Request) -> Response:
        name = request.path_params["name"]
        path = EXAMPLES / f"{name}.graphql"
        if not name.replace("-", "").isalnum() or not path.is_file():
            return error_json(404, "NOT_FOUND", f"no example {name!r}: GET /examples lists them")
        return PlainTextResponse(path.read_text(), media_type="application/graphql")

    async def examples(_request: Request) -> Response:
        return JSONResponse(sorted(p.stem for p in EXAMPLES.glob("*.graphql")))

    async def prometheus_metrics(request: Request) -> Response:
        assert metrics is not None
        await metrics.refresh()  # the gauges read from the database
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(metrics.registry), headers={"Content-Type": content_type})

    middleware = [Middleware(RequestIdMiddleware)]
    if tracing is not None:
        middleware.append(tracing.asgi_middleware())  # inside: its spans carry the request id
    app = Starlette(
        lifespan=lifespan,
        middleware=middleware,
        # no route, a method a route does not take, an error nothing handled: coded JSON too
        exception_handlers={HTTPException: http_exception_json, Exception: internal_error_json},
    )
    view = ReleasingGraphQL if settings.framework_overrides else OmnigraphGraphQL
    graphql = view(
        app,
        settings,
        observers=[
            *([metrics.graphql_extension] if metrics else []),
            *([tracing.graphql_extension] if tracing else []),
        ],
    )
    app.state.graphql = graphql
    app.state.response_cache = graphql.response_cache
    if metrics is not None:
        metrics.response_cache = graphql.response_cache
    backend = BearerBackend(
        lambda: app.state.services.sessions,
        require_token=settings.is_production,
        cache_seconds=settings.auth_cache_seconds,
        clock=lambda: app.state.services.now().timestamp(),
        jwt=JwtVerifier(
            secret=settings.jwt_secret.get_secret_value() if settings.jwt_secret else None,
            jwks_url=settings.jwt_jwks_url,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            roles_claim=settings.jwt_roles_claim,
        ),
    )
    # an open WebSocket's key is checked again while it lives: a revoked one is closed
    graphql.socket_guard = sockets = SocketGuard(
        backend,
        clock=lambda: app.state.services.now().timestamp(),
        recheck_seconds=settings.auth_cache_seconds,
    )
    guarded = AuthenticationMiddleware(
        BodySizeLimit(graphql, max_bytes=settings.limits.max_body_bytes),
        backend=backend,
        on_error=unauthenticated,
    )
    app.router.routes.extend(
        [
            # every method reaches the view, which refuses all but GET and POST with a coded 405
            Route("/graphql", guarded),
            WebSocketRoute("/graphql", guarded),
            Route(
                "/reports/reconciliation.csv",
                AuthenticationMiddleware(
                    request_response(reconciliation_csv),
                    backend=backend,
                    on_error=unauthenticated,
                ),
                methods=["GET"],
            ),
            Route("/livez", livez, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route(
                "/bulk/{id}/file",
                AuthenticationMiddleware(
                    request_response(bulk_file), backend=backend, on_error=unauthenticated
                ),
                methods=["GET"],
            ),
            Route("/healthz", healthz, methods=["GET"]),
            # signed by Shopify (X-Shopify-Hmac-Sha256), not by an API key: verified there
            Route("/webhooks/shopify", changing(receive_shopify_webhook), methods=["POST"]),
            # signed by Stripe, not by an API key: verified in the handler
            Route("/webhooks/stripe", changing(stripe_webhook), methods=["POST"]),
            Route("/webhooks/stripe/{source}", changing(stripe_webhook), methods=["POST"]),
            Route("/examples", examples, methods=["GET"]),
            Route("/examples/{name}", example, methods=["GET"]),
            # the operations console: pages without data, which ask /graphql with the user's key
            *console.routes(lambda request: sorted(request.app.state.services.registry.clients)),
        ]
    )
    if not settings.is_production:
        # GraphiQL's scripts and styles: the IDE works inside a network without the internet
        app.router.routes.append(Mount(ide.ASSETS_PATH, ide.assets()))
    if metrics is not None:
        # unauthenticated, for a scraper: keep /metrics off the public network (docs/operations.md)
        app.router.routes.append(Route("/metrics", prometheus_metrics, methods=["GET"]))
    return app
