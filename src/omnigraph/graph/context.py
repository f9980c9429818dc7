"""The per-request context: the process's services, this request's loaders, degraded answers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.errors import UpstreamUnavailable
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.live import ExceptionEventBus
from omnigraph.graph.loaders import Loaders
from omnigraph.inventory.live import AvailabilityBus
from omnigraph.orders.authority import AuthorityRules
from omnigraph.security.principal import Principal
from omnigraph.settings import Settings
from omnigraph.sources.registry import SourceRegistry

__all__ = ["RequestContext", "Services"]


@dataclass(slots=True)
class Services:
    """What lives as long as the process: settings, source adapters, database, rules."""

    settings: Settings
    registry: SourceRegistry
    sessions: async_sessionmaker[AsyncSession]
    rules: AuthorityRules
    catalogue: ExceptionCatalogue
    exception_events: ExceptionEventBus
    availability_events: AvailabilityBus = field(default_factory=AvailabilityBus)
    dispatch_wakeup: asyncio.Event | None = None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wake_dispatcher(self) -> None:
        """Let an in-process dispatcher deliver a new command now instead of at its next poll."""
        if self.dispatch_wakeup is not None:
            self.dispatch_wakeup.set()


@dataclass(slots=True)
class RequestContext:
    services: Services
    loaders: Loaders
    request: Any = None
    response: Any = None
    degraded: list[GraphQLError] = field(default_factory=list)
    memo: dict[Any, Any] = field(default_factory=dict)

    @classmethod
    def for_request(
        cls, services: Services, request: Any = None, response: Any = None
    ) -> RequestContext:
        return cls(
            services=services,
            loaders=Loaders(services.registry, services.sessions),
            request=request,
            response=response,
        )

    @property
    def actor(self) -> str:
        """Who is acting, for the audit trail: the authenticated key or token subject.

        The local developer (development mode, no token) may name itself with the
        ``X-Omnigraph-Actor`` header, so demo sessions still leave a readable trail.
        """
        scope = getattr(self.request, "scope", None)
        user = scope.get("user") if isinstance(scope, dict) else None
        if isinstance(user, Principal) and user.via != "development":
            return user.identity[:128]
        headers = getattr(self.request, "headers", None)
        actor = headers.get("x-omnigraph-actor") if headers is not None else None
        return (actor or "anonymous")[:128]

    def release(self) -> None:
        """Forget what this request remembered, once its answer is made.

        graphql-core's execution context refers to itself, so the context it holds, and every
        record, truth and future this one keeps, would otherwise wait for the cyclic garbage
        collector: about 7,600 objects a reporting page, a quarter of its CPU time under load
        (docs/PERFORMANCE.md, optimisation 9). Emptied here, reference counting frees them at
        once.
        """
        self.memo.clear()
        self.loaders.forget()

    def report_degraded(self, error: UpstreamUnavailable, path: list[str | int]) -> None:
        """A value was served from a fallback because its owner was down: say so in ``errors``."""
        self.degraded.append(GraphQLError(error.message, path=path, extensions=error.extensions))
