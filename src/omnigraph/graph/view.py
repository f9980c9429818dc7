"""strawberry's ASGI view with the HTTP-level limits: batches, rate, time, coded refusals.

- a batched request (a JSON array) may carry at most ``max_operations`` operations
  (strawberry's ``batching_config``), each run with its own context;
- each operation spends one unit of the caller's rate limit before any GraphQL work;
- each operation, from its parsing to its result, runs for at most ``execution_timeout``
  seconds, then answers ``TIMEOUT`` (``omnigraph.graph.limits.deadline``: an operation whose
  deadline passed while it was parsed and validated is not executed), saying whether it had
  applied a change (``applied``): a write transaction cut off before its commit is rolled back,
  one whose commit had started finishes first (``omnigraph.db.writer``);
- every HTTP-level refusal is JSON with an ``extensions.code``, not strawberry's plain text: a
  body that is not a JSON object (or a batch of them), not UTF-8, nested too deeply or holding a
  lone surrogate is ``400 BAD_REQUEST``, a method other than GET and POST is
  ``405 METHOD_NOT_ALLOWED`` with ``Allow``;
- the answer's media type follows ``Accept`` (``omnigraph.graph.media_types``): with
  ``application/graphql-response+json`` a request error is a 4xx without a ``data`` entry, as
  the GraphQL-over-HTTP specification says; a request admitting neither that nor
  ``application/json`` is ``406 NOT_ACCEPTABLE``;
- a WebSocket's principal is checked again while it lives (``socket_guard``:
  ``omnigraph.graph.live_sockets``), so a revoked key's subscriptions end.

Only strawberry's public view methods are overridden here; what overrides its internals (the
release of each operation's context) is a mixin in ``omnigraph.graph.overrides``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import orjson
import structlog
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.typevars import Context, RootValue
from strawberry.schema.base import BaseSchema
from strawberry.types import ExecutionResult, SubscriptionExecutionResult

from omnigraph.db.writer import tracking_writes
from omnigraph.graph.limits.deadline import deadline, timeout_error
from omnigraph.graph.limits.http_errors import CodedHTTPError, error_response
from omnigraph.graph.limits.rate import RateLimiter, rate_key
from omnigraph.graph.live_sockets import GuardedWebSocketAdapter, SocketGuard
from omnigraph.graph.media_types import GRAPHQL_RESPONSE_JSON, JSON, response_media_type

__all__ = ["LimitedGraphQL", "is_request_error"]

log = structlog.get_logger(__name__)
ALLOWED_METHODS = "GET, POST"


def is_request_error(result: ExecutionResult) -> bool:
    """Whether ``result`` answers a request that never executed: a document that did not parse
    or validate, variables that did not coerce, a refusal before execution (its errors have no
    path). A timeout stopped an execution under way: its ``data`` is null, not absent."""
    errors = result.errors or []
    return (
        result.data is None
        and bool(errors)
        and all(error.path is None for error in errors)
        and not any((error.extensions or {}).get("code") == "TIMEOUT" for error in errors)
    )


def media_type_of(connection: HTTPConnection) -> str:
    """The media type the view chose for this request's answer."""
    chosen = getattr(connection.state, "media_type", None)
    return chosen if isinstance(chosen, str) else JSON


def _lone_surrogate(value: object) -> bool:
    """Whether a decoded JSON value holds a string with a lone UTF-16 surrogate (``"\\ud800"``
    decodes to one: it is no Unicode character, and nothing downstream can encode it)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class LimitedGraphQL(GraphQL[Context, RootValue]):
    """``strawberry.asgi.GraphQL`` with a rate limiter, an execution timeout and coded errors."""

    websocket_adapter_class = GuardedWebSocketAdapter
    socket_guard: SocketGuard | None = None

    def __init__(
        self,
        schema: BaseSchema,
        *,
        rate_limiter: RateLimiter | None = None,
        execution_timeout: float,
        clock: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> None:
        super().__init__(schema, **options)
        self.rate_limiter = rate_limiter
        self.execution_timeout = execution_timeout
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        media_type = response_media_type(request.headers.get("accept"))
        response: Response
        try:
            if media_type is None and not self.should_render_graphql_ide(
                self.request_adapter_class(request)
            ):
                raise CodedHTTPError(
                    406,
                    "NOT_ACCEPTABLE",
                    f"the answer is {GRAPHQL_RESPONSE_JSON} or {JSON}: the Accept header admits"
                    " neither",
                    accepted=[GRAPHQL_RESPONSE_JSON, JSON],
                )
            request.state.media_type = media_type or JSON
            kept = await self.kept_answer(request) if request.method == "POST" else None
            if kept is not None:
                if self.rate_limiter is not None:
                    await self.rate_limiter.spend(rate_key(request), 1)
                response = Response(kept, media_type=JSON)
                if media_type == GRAPHQL_RESPONSE_JSON:
                    response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
            else:
                response = await self.run(request)
        except HTTPException as error:
            if error.status_code == 405 and not isinstance(error, CodedHTTPError):
                error = CodedHTTPError(
                    405,
                    "METHOD_NOT_ALLOWED",
                    f"{request.method} is not a GraphQL request: send GET or POST",
                    headers={"Allow": ALLOWED_METHODS},
                )
            response = error_response(error, media_type=media_type)
        await response(scope, receive, send)

    async def kept_answer(self, request: Request) -> bytes | None:
        """The bytes of an answer to send without parsing or executing anything (a subclass's
        response cache), or ``None``; the rate limit is spent for it all the same."""
        return None

    def is_request_allowed(self, request: Any) -> bool:
        # HEAD too is refused (strawberry answers only GET and POST): with a coded 405
        return bool(request.method in ("GET", "POST"))

    async def get_sub_response(self, request: Request | Any) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = media_type_of(request)
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """strawberry's, without the ``data`` entry for a request error when answering in
        ``application/graphql-response+json`` (the GraphQL specification: a request error
        has no ``data``; ``application/json`` keeps strawberry's ``"data": null``)."""
        processed = await super().process_result(request, result)
        if media_type_of(request) == GRAPHQL_RESPONSE_JSON and is_request_error(result):
            processed.pop("data", None)
        return processed

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """strawberry's, in the chosen media type; with ``application/graphql-response+json`` an
        answer without ``data`` (a request error) is a 400 (a 500 when the error is ours)."""
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type != GRAPHQL_RESPONSE_JSON:
            return response
        response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
        if (
            isinstance(response_data, dict)
            and "data" not in response_data
            and not (sub_response.status_code)
        ):
            errors: list[Any] = list(response_data.get("errors") or [])
            internal = any(
                isinstance(error, dict)
                and (error.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR"
                for error in errors
            )
            response.status_code = 500 if internal else 400
        return response

    def release_context(self, context: Context) -> None:
        """Forget what one operation's context holds, once its result is made; nothing here
        (``omnigraph.graph.overrides.ReleasedContexts`` empties it)."""

    def encode_json(self, data: object) -> str | bytes:
        """The answer as compact UTF-8 JSON, written by orjson (several times faster than
        ``json`` for a page of orders); what orjson cannot write (an integer past 64 bits, a
        string holding a lone surrogate) by strawberry's ``json``, as before."""
        try:
            return orjson.dumps(data)
        except TypeError:  # orjson.JSONEncodeError is one
            return super().encode_json(data)

    def decode_json(self, data: str | bytes) -> object:
        """json's, strictly: UTF-8 text only (json would guess UTF-16 or UTF-32), nested no
        deeper than the interpreter's recursion allows, and no lone surrogate in a string
        (``"\\ud800"``: no Unicode character, nothing downstream can encode it). Every refusal is
        a ``json.JSONDecodeError``, as strawberry's WebSocket reader expects of a message that
        is not JSON."""
        try:
            text = data.decode() if isinstance(data, bytes) else data
        except UnicodeDecodeError as error:
            raise json.JSONDecodeError("the JSON is not UTF-8", "", error.start) from None
        try:
            decoded = json.loads(text)
        except RecursionError:
            raise json.JSONDecodeError("the JSON is nested too deeply", "", 0) from None
        if _lone_surrogate(decoded):
            raise json.JSONDecodeError("a string holds a lone surrogate, no Unicode text", "", 0)
        return decoded

    def parse_json(self, data: str | bytes) -> Any:
        """The decoded JSON (:meth:`decode_json`), each malformed body refused with
        ``400 BAD_REQUEST`` (strawberry answers a 500 for most): not JSON, not UTF-8, nested too
        deeply, holding a lone surrogate, or a body (bytes; a GET request's ``variables`` and
        ``extensions`` come as text) that is not an object or an array (a batch). A batch is
        refused with a code before strawberry reads it: strawberry refuses one too large or
        turned off in plain text, and fails on an item that is not an object. (An array given
        as a GET request's ``variables``, which strawberry refuses too, is refused here as a
        batch would be.)"""
        try:
            decoded = self.decode_json(data)
        except ValueError as error:  # json.JSONDecodeError, orjson's too
            detail = getattr(error, "msg", None) or str(error)
            raise CodedHTTPError(
                400, "BAD_REQUEST", f"Unable to parse request body as JSON: {detail}"
            ) from None
        if isinstance(data, bytes) and not isinstance(decoded, dict | list):
            raise CodedHTTPError(
                400,
                "BAD_REQUEST",
                "a GraphQL request is a JSON object (a batch: an array of them), not"
                f" {type(decoded).__name__ if decoded is not None else 'null'}",
            )
        if isinstance(decoded, list):
            self.check_batch(decoded)
        return decoded

    def check_batch(self, batch: list[Any]) -> None:
        """``BATCHING_DISABLED``, ``TOO_MANY_OPERATIONS`` (with ``maxOperations``) or
        ``BAD_REQUEST`` for an item that is not an object; strawberry's checks follow."""
        batching = self.schema.config.batching_config
        if batching is None:
            raise CodedHTTPError(400, "BATCHING_DISABLED", "batched requests are turned off")
        limit = batching["max_operations"]
        if len(batch) > limit:
            raise CodedHTTPError(
                400,
                "TOO_MANY_OPERATIONS",
                f"a batch may carry at most {limit} operations, this one has {len(batch)}",
                maxOperations=limit,
            )
        if not all(isinstance(item, dict) for item in batch):
            raise CodedHTTPError(400, "BAD_REQUEST", "each operation of a batch is an object")

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: RootValue | None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        batch = request_data if isinstance(request_data, list) else None
        if self.rate_limiter is not None:
            await self.rate_limiter.spend(rate_key(request), len(batch) if batch else 1)
        if batch is None:
            return await super().execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            )
        # Operations of one batch share nothing: each gets its own loaders and notices.
        contexts = [await self.get_context(request, sub_response) for _ in batch]
        results = await asyncio.gather(
            *(
                self.execute_single(
                    request=request,
                    request_adapter=request_adapter,
                    sub_response=sub_response,
                    context=own_context,
                    root_value=root_value,
                    request_data=data,
                )
                for data, own_context in zip(batch, contexts, strict=True)
            )
        )
        return list(results)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: RootValue | None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        cancel = asyncio.timeout(self.execution_timeout)
        try:
            with tracking_writes() as writes, deadline(self.execution_timeout, self.clock):
                async with cancel:
                    return await super().execute_single(
                        request=request,
                        request_adapter=request_adapter,
                        sub_response=sub_response,
                        context=context,
                        root_value=root_value,
                        request_data=request_data,
                    )
        except TimeoutError:
            if not cancel.expired():
                raise
        finally:
            # a query or mutation over HTTP is done with its context once its result is made
            # (subscriptions stream through ``schema.stream`` and keep theirs)
            self.release_context(context)
        log.warning(
            "graphql_timeout",
            operation=request_data.operation_name,
            seconds=self.execution_timeout,
            applied=writes.applied,
        )
        return ExecutionResult(
            data=None, errors=[timeout_error(self.execution_timeout, applied=writes.applied)]
        )
