"""The per-request context: the process's services, this request's loaders, degraded answers.

Each room keeps its own loaders (``OrderLoaders``, ``PayoutLoaders``, ...): a class made from
the services. ``context.loaders(OrderLoaders)`` makes the room's set on first use in a request
and hands the same one back after, so every resolver of the request batches into it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from aiodataloader import DataLoader
from graphql import GraphQLError

from omnigraph.core.errors import UpstreamUnavailable
from omnigraph.runtime.services import Services
from omnigraph.security.principal import Principal

__all__ = ["RequestContext"]

LoadersT = TypeVar("LoadersT")


@dataclass(slots=True)
class RequestContext:
    services: Services
    request: Any = None
    response: Any = None
    degraded: list[GraphQLError] = field(default_factory=list)
    memo: dict[Any, Any] = field(default_factory=dict)
    _loaders: dict[Callable[[Services], Any], Any] = field(default_factory=dict)

    @classmethod
    def for_request(
        cls, services: Services, request: Any = None, response: Any = None
    ) -> RequestContext:
        return cls(services=services, request=request, response=response)

    def loaders(self, kind: Callable[[Services], LoadersT]) -> LoadersT:
        """This request's loaders of one room, made on first use."""
        found = self._loaders.get(kind)
        if found is None:
            found = self._loaders[kind] = kind(self.services)
        return cast(LoadersT, found)

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
        once. The view calls it while the framework overrides are on
        (``omnigraph.graph.overrides.ReleasedContexts``).
        """
        self.memo.clear()
        for loaders in self._loaders.values():
            for loader in vars(loaders).values():
                if isinstance(loader, DataLoader):
                    loader.clear_all()
        self._loaders.clear()

    def report_degraded(self, error: UpstreamUnavailable, path: list[str | int]) -> None:
        """A value was served from a fallback because its owner was down: say so in ``errors``."""
        self.degraded.append(GraphQLError(error.message, path=path, extensions=error.extensions))
