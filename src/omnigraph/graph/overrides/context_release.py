"""Each HTTP operation's context emptied once its result is made, so reference counting frees it.

graphql-core's execution context refers to itself, so the request context it holds, and every
record, truth and future that one keeps, would otherwise wait for the cyclic garbage collector:
about 7,600 objects a reporting page, a quarter of its CPU time under load (docs/PERFORMANCE.md,
optimisation 9). ``ReleasedContexts`` is a mixin for the view (``LimitedGraphQL``), which calls
``release_context`` once an HTTP query's or mutation's result is made; without it the hook does
nothing and the collector frees the same objects later. Subscriptions (and every operation of a
WebSocket connection, which share one context) are never released here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omnigraph.graph.context import RequestContext

__all__ = ["ReleasedContexts", "release"]


def release(context: RequestContext) -> None:
    """Forget what this request remembered: its truths' memo and every loader's answers
    (``RequestContext.release``)."""
    context.release()


class ReleasedContexts:
    """View mixin: an HTTP operation's context is released as soon as its result is made."""

    def release_context(self, context: RequestContext) -> None:
        release(context)
