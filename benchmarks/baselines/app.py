"""The service with the benchmark's baselines mounted beside ``/graphql``, for benchmarks only.

``create_benchmark_app()`` is ``omnigraph.app.create_app(Settings())`` (so every ``OMNIGRAPH_*``
variable applies, production mode included) plus, behind the same bearer-key authentication:

- ``POST /baseline/raw/availability``, ``.../order-lookup``, ``.../orders-page``: hand-written
  starlette endpoints (``raw.py``);
- ``POST /baseline/naive/graphql``: a plain strawberry schema without dataloaders (``naive.py``);
- ``POST /baseline/_caches/clear``: forget every source record and kept answer (the response
  cache) this process holds, so one request can be counted cold;
- ``GET /baseline/_inflight``: how many HTTP requests the process is still serving (a client
  that went away does not stop its request), so a benchmark can wait for an idle server, and
  how many it has finished per path;
- ``PUT /baseline/limit/{name}`` (authenticated) keeps the bytes of an answer, and
  ``POST /baseline/limit/{name}`` serves them as they are from a bare starlette app in front of
  the service (none of its middleware, no authentication, no work): the serving limit, what
  uvicorn and starlette alone reach with the same answer in the same process.

The shipped app never has these routes. Serve with
``uvicorn --app-dir benchmarks --factory baselines.app:create_benchmark_app``, or run this module
(``python benchmarks/baselines/app.py``: logging and uvicorn as ``omnigraph serve`` sets them up).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from omnigraph.app import create_app
from omnigraph.runtime.services import Services
from omnigraph.security.backend import BearerBackend, unauthenticated
from omnigraph.settings import Settings, SourcesConfig

if __package__ in (None, ""):  # run as a script: make ``baselines`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baselines.naive import NaiveGraphQL
from baselines.raw import raw_availability, raw_order_lookup, raw_orders_page

__all__ = ["InFlight", "create_benchmark_app"]

INFLIGHT_PATH = "/baseline/_inflight"
LIMIT_PATH = "/baseline/limit/"


# requests the naive baseline serves at once: the harness's 16 connections; more are only in
# flight when wrk gave up on an answer (its 2 s timeout) and asked again, and are refused
NAIVE_AT_ONCE = 16


class AtMost:
    """At most ``limit`` requests served at once; another is refused with a 503 at once (wrk
    counts it failed). The naive baseline's reporting page takes about a CPU second a request:
    unbounded, wrk's timed-out connections leave minutes of requests queued after each cell."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.serving = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.serving >= self.limit:
            refusal = JSONResponse({"error": "the naive baseline is saturated"}, status_code=503)
            await refusal(scope, receive, send)
            return
        self.serving += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.serving -= 1


class InFlight:
    """Counts the HTTP requests being served and those finished per path, and answers both
    on ``INFLIGHT_PATH``; ``POST {LIMIT_PATH}{name}`` goes to ``limit`` (a bare app)."""

    def __init__(self, app: ASGIApp, limit: ASGIApp | None = None) -> None:
        self.app = app
        self.limit = limit
        self.serving = 0
        self.served: Counter[str] = Counter()
        self.running: Counter[str] = Counter()  # per path, what is being served now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif (
            self.limit is not None
            and scope["method"] == "POST"
            and scope["path"].startswith(LIMIT_PATH)
        ):
            await self.limit(scope, receive, send)
            self.served[scope["path"]] += 1
        elif scope["path"] == INFLIGHT_PATH:
            running = {path: n for path, n in self.running.items() if n}
            answer = {"serving": self.serving, "served": dict(self.served), "running": running}
            await JSONResponse(answer)(scope, receive, send)
        else:
            self.serving += 1
            self.running[scope["path"]] += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self.serving -= 1
                self.running[scope["path"]] -= 1
                self.served[scope["path"]] += 1


def create_benchmark_app(
    settings: Settings | None = None, *, sources: SourcesConfig | None = None
) -> InFlight:
    settings = settings or Settings()
    app = create_app(settings, sources=sources)

    def services() -> Services:
        found: Services = app.state.services
        return found

    # the authentication ``/graphql`` has (the one its open sockets are checked again with)
    backend: BearerBackend = app.state.graphql.socket_guard.backend

    def guarded(endpoint: object) -> AuthenticationMiddleware:
        return AuthenticationMiddleware(endpoint, backend=backend, on_error=unauthenticated)  # type: ignore[arg-type]

    async def clear_caches(_request: Request) -> Response:
        await services().registry.clear_caches()
        app.state.response_cache.invalidate()
        return JSONResponse({"cleared": True})

    answers: dict[str, bytes] = {}

    async def keep_limit_answer(request: Request) -> Response:
        answers[request.path_params["name"]] = await request.body()
        return JSONResponse({"kept": True})

    async def limit_answer(request: Request) -> Response:
        return Response(answers[request.path_params["name"]], media_type="application/json")

    app.router.routes.extend(
        [
            Route(
                "/baseline/limit/{name}",
                guarded(request_response(keep_limit_answer)),
                methods=["PUT"],
            ),
            Route(
                "/baseline/raw/availability",
                guarded(request_response(raw_availability)),
                methods=["POST"],
            ),
            Route(
                "/baseline/raw/order-lookup",
                guarded(request_response(raw_order_lookup)),
                methods=["POST"],
            ),
            Route(
                "/baseline/raw/orders-page",
                guarded(request_response(raw_orders_page)),
                methods=["POST"],
            ),
            Route(
                "/baseline/naive/graphql",
                AtMost(guarded(NaiveGraphQL(services)), NAIVE_AT_ONCE),
                methods=["POST"],
            ),
            Route(
                "/baseline/_caches/clear", guarded(request_response(clear_caches)), methods=["POST"]
            ),
        ]
    )
    limit = Starlette(routes=[Route(LIMIT_PATH + "{name}", limit_answer, methods=["POST"])])
    return InFlight(app, limit)


def main() -> None:
    """Serve like ``omnigraph serve`` does: its logging set-up, uvicorn with the same options."""
    import uvicorn

    from omnigraph.observability.logging import configure_logging

    settings = Settings()
    configure_logging(settings.effective_log_format, level=settings.log_level)
    uvicorn.run(
        create_benchmark_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,
    )


if __name__ == "__main__":
    main()
