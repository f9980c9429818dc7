"""strawberry's ASGI view with the HTTP-level limits: batches, rate, time, coded refusals.

- a batched request (a JSON array) may carry at most ``max_operations`` operations
  (strawberry's ``batching_config``), each run with its own context;
- each operation spends one unit of the caller's rate limit before any GraphQL work;
- each operation runs for at most ``execution_timeout`` seconds, then answers ``TIMEOUT``;
- every HTTP-level refusal is JSON with an ``extensions.code``, not strawberry's plain text;
- a WebSocket's principal is checked again while it lives (``socket_guard``:
  ``omnigraph.graph.live_sockets``), so a revoked key's subscriptions end.

Only strawberry's public view methods are overridden here; what overrides its internals (the
release of each operation's context) is a mixin in ``omnigraph.graph.overrides``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.http.typevars import Context, RootValue
from strawberry.schema.base import BaseSchema
from strawberry.types import ExecutionResult, SubscriptionExecutionResult

from omnigraph.core.request_id import current_request_id
from omnigraph.graph.limits.http_errors import CodedHTTPError, error_response
from omnigraph.graph.limits.rate import RateLimiter, rate_key
from omnigraph.graph.live_sockets import GuardedWebSocketAdapter, SocketGuard

__all__ = ["LimitedGraphQL"]

log = structlog.get_logger(__name__)


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
        **options: Any,
    ) -> None:
        super().__init__(schema, **options)
        self.rate_limiter = rate_limiter
        self.execution_timeout = execution_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        response: Response
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as error:
            response = error_response(error)
        await response(scope, receive, send)

    def release_context(self, context: Context) -> None:
        """Forget what one operation's context holds, once its result is made; nothing here
        (``omnigraph.graph.overrides.ReleasedContexts`` empties it)."""

    def parse_json(self, data: str | bytes) -> Any:
        """strawberry's, refusing a batch (a JSON array) with a code before strawberry reads
        it: strawberry refuses one too large or turned off in plain text, and fails on an item
        that is not an object. (An array given as a GET request's ``variables``, which
        strawberry refuses too, is refused here as a batch would be.)"""
        decoded = super().parse_json(data)
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
        deadline = asyncio.timeout(self.execution_timeout)
        try:
            async with deadline:
                return await super().execute_single(
                    request=request,
                    request_adapter=request_adapter,
                    sub_response=sub_response,
                    context=context,
                    root_value=root_value,
                    request_data=request_data,
                )
        except TimeoutError:
            if not deadline.expired():
                raise
        finally:
            # a query or mutation over HTTP is done with its context once its result is made
            # (subscriptions stream through ``schema.stream`` and keep theirs)
            self.release_context(context)
        log.warning(
            "graphql_timeout",
            operation=request_data.operation_name,
            seconds=self.execution_timeout,
        )
        error = GraphQLError(
            f"the operation did not finish within {self.execution_timeout:g} s",
            extensions={
                "code": "TIMEOUT",
                "timeoutSeconds": self.execution_timeout,
                "requestId": current_request_id(),
            },
        )
        return ExecutionResult(data=None, errors=[error])
