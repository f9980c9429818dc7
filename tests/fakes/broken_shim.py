"""A deliberately broken payments shim, for the tests of `omnigraph check-source`.

It stands in front of the demo payments system (in-process) and forwards every request to it,
checking the bearer token itself, except that it breaks one rule of the contract: the
:class:`Fault` it is made with. Each fault is named after the conformance check that must catch
it, so a test can assert that exactly that check fails; ``Fault.NONE`` breaks nothing.

The payments kind is the one with every shape of route: batch get (four collections), by order
ref (charges, whose order ref is ``metadata.order_ref``), a list (payouts), the change feed and
commands. :func:`serve` runs a shim over real HTTP on loopback, as a retailer's would be::

    async with serve(broken_shim(world, Fault.CHANGES_ORDER)) as url:
        ...  # run_checks(url, "payments", token=TOKEN, ...)
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from omnigraph.demo import DemoWorld, build_world, create_payments_app
from tests.helpers import on_loopback

__all__ = ["TOKEN", "Fault", "broken_shim", "serve"]

TOKEN = "shim-token"
FAR_FUTURE = "999999999"  # a feed cursor after every event
_PASSED_ON = ("content-type", "idempotent-replayed", "retry-after", "www-authenticate")


class Fault(StrEnum):
    """One broken rule; the value is the name of the check that must fail."""

    NONE = "none"
    HEALTH = "health"  # /health names another kind
    AUTH = "auth"  # any bearer token is let in
    BATCH_MISSING = "batch-missing"  # unknown ids are left out of `missing`
    BATCH_LIMIT = "batch-limit"  # more than 500 ids are quietly cut to 500
    BY_ORDER_REF = "by-order-ref"  # records come back without their order ref
    LIST_PAGES = "list-pages"  # every other request with a cursor ignores it
    LIST_END = "list-end"  # the last page's nextCursor is "end", never null
    CHANGES_ORDER = "changes-order"  # each feed page is newest first
    CHANGES_END = "changes-end"  # hasMore is always true
    CHANGES_START = "changes-start"  # `after` omitted starts at the end of the feed
    ERRORS = "errors"  # an unknown route is a plain-text 404
    COMMAND_REPLAY = "command-replay"  # a replay is not marked Idempotent-Replayed
    COMMAND_KEY_REUSE = "command-key-reuse"  # a reused key with another body is a new command
    COMMAND_KEY_REQUIRED = "command-key-required"  # a command without a key gets one
    SCHEMA = "schema GET /payouts"  # payouts lose their required `object` field


def broken_shim(world: DemoWorld, fault: Fault, token: str | None = TOKEN) -> Starlette:
    """The demo payments system behind a shim that breaks `fault` (no auth when `token` is
    None). It serves `world` as built, not as other tests' commands left the shared instance:
    a check that fails only after some earlier test would not say what the shim broke."""
    world = build_world(seed=world.seed, orders=len(world.storefront_orders), anchor=world.anchor)
    upstream = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_payments_app(world)), base_url="http://payments"
    )
    cursor_requests = itertools.count()
    served = upstream_routes(world)

    async def forward(request: Request) -> Response:
        method, path = request.method, request.url.path
        given = request.headers.get("authorization", "")
        allowed = given.startswith("Bearer ") if fault is Fault.AUTH else given == f"Bearer {token}"
        if token is not None and not allowed:
            return error(401, "UNAUTHORIZED", "send Authorization: Bearer <token>")
        if fault is Fault.ERRORS and f"{method} {path}" not in served:
            return PlainTextResponse("Not Found", status_code=404)
        params = list(request.query_params.multi_items())
        headers = {
            name: value
            for name, value in request.headers.items()
            if name in {"content-type", "idempotency-key"}
        }
        body = await request.body()
        if fault is Fault.BATCH_LIMIT and path.endswith("/batch"):
            with contextlib.suppress(ValueError, TypeError, KeyError):
                asked = json.loads(body)
                body = json.dumps({**asked, "ids": asked["ids"][:500]}).encode()
        ignore_cursor = (
            fault is Fault.LIST_PAGES and path == "/payouts" and "cursor" in dict(params)
        )
        if ignore_cursor and next(cursor_requests) % 2:
            params = [(name, value) for name, value in params if name != "cursor"]
        if fault is Fault.LIST_END and path == "/payouts" and dict(params).get("cursor") == "end":
            return JSONResponse({"data": [], "nextCursor": "end"})
        if fault is Fault.CHANGES_START and path == "/changes" and "after" not in dict(params):
            params.append(("after", FAR_FUTURE))
        if path == "/commands" and method == "POST":
            key = headers.get("idempotency-key")
            if fault is Fault.COMMAND_KEY_REUSE and key is not None:
                headers["idempotency-key"] = f"{key}-{hashlib.sha256(body).hexdigest()[:12]}"
            if fault is Fault.COMMAND_KEY_REQUIRED and key is None:
                headers["idempotency-key"] = str(uuid.uuid4())
        answer = await upstream.request(method, path, params=params, headers=headers, content=body)
        passed_on = {k: v for k, v in answer.headers.items() if k in _PASSED_ON}
        if fault is Fault.COMMAND_REPLAY:
            passed_on.pop("idempotent-replayed", None)
        if not answer.headers.get("content-type", "").startswith("application/json"):
            return Response(answer.content, answer.status_code, passed_on)
        return JSONResponse(break_answer(fault, path, answer.json()), answer.status_code, passed_on)

    routes = [Route("/{path:path}", forward, methods=["GET", "POST"])]
    return Starlette(routes=routes)


def break_answer(fault: Fault, path: str, body: Any) -> Any:
    """The upstream's JSON answer with the fault's rule broken."""
    if fault is Fault.HEALTH and path == "/health":
        return {**body, "kind": "erp"}
    if fault is Fault.BATCH_MISSING and path.endswith("/batch") and "missing" in body:
        return {**body, "missing": []}
    if fault is Fault.BY_ORDER_REF and path.endswith("/by-order-ref") and "data" in body:
        for record in body["data"]:
            record["metadata"].pop("order_ref", None)
    if fault is Fault.LIST_END and path == "/payouts" and body.get("nextCursor", "") is None:
        return {**body, "nextCursor": "end"}
    if fault is Fault.CHANGES_ORDER and path == "/changes" and "events" in body:
        return {**body, "events": body["events"][::-1]}
    if fault is Fault.CHANGES_END and path == "/changes" and "hasMore" in body:
        return {**body, "hasMore": True}
    if fault is Fault.SCHEMA and path == "/payouts" and "data" in body:
        for record in body["data"]:
            record.pop("object", None)
    return body


def upstream_routes(world: DemoWorld) -> frozenset[str]:
    routes: frozenset[str] = create_payments_app(world).state.controls.contract_routes
    return routes


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port for the block; yields its base URL."""
    async with on_loopback(app, access_log=False, ws="none") as port:
        yield f"http://127.0.0.1:{port}"
