"""The per-request context: the process's services, this request's loaders, degraded answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.errors import UpstreamUnavailable
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.resolvers.loaders import Loaders
from omnigraph.settings import Settings
from omnigraph.sources.registry import SourceRegistry
from omnigraph.truth.authority import AuthorityRules

__all__ = ["RequestContext", "Services"]


@dataclass(slots=True)
class Services:
    """What lives as long as the process: settings, source adapters, database, rules."""

    settings: Settings
    registry: SourceRegistry
    sessions: async_sessionmaker[AsyncSession]
    rules: AuthorityRules
    catalogue: ExceptionCatalogue

    def now(self) -> datetime:
        return datetime.now(UTC)


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

    def report_degraded(self, error: UpstreamUnavailable, path: list[str | int]) -> None:
        """A value was served from a fallback because its owner was down: say so in ``errors``."""
        self.degraded.append(GraphQLError(error.message, path=path, extensions=error.extensions))
