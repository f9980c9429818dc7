"""The execution timeout of one HTTP operation, over its parsing and validation too.

The view (``LimitedGraphQL.execute_single``) starts the deadline before the operation is
parsed and cancels what is still awaited when it passes. Parsing, validation and the cost
count are CPU work without an ``await``, which no cancellation can interrupt; they are bounded
(``omnigraph.graph.limits.shape``, the validation budget), and once they are done, before
anything runs, ``DeadlineCheck`` answers ``TIMEOUT`` when the deadline has passed meanwhile, so
an operation never starts executing, nor a mutation writing, past its deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import structlog
from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension

from omnigraph.core.request_id import current_request_id

__all__ = ["Deadline", "DeadlineCheck", "deadline", "timeout_error"]

log = structlog.get_logger(__name__)
_current: ContextVar[Deadline | None] = ContextVar("omnigraph_deadline", default=None)


@dataclass(frozen=True, slots=True)
class Deadline:
    """``seconds`` from when it was started, on ``clock`` (monotonic seconds)."""

    seconds: float
    ends: float
    clock: Callable[[], float]

    def passed(self) -> bool:
        return self.clock() >= self.ends


@contextmanager
def deadline(seconds: float, clock: Callable[[], float]) -> Iterator[Deadline]:
    """The deadline of the operation run inside (this task's, not its caller's)."""
    started = Deadline(seconds, clock() + seconds, clock)
    token = _current.set(started)
    try:
        yield started
    finally:
        _current.reset(token)


def timeout_error(seconds: float, *, applied: bool = False) -> GraphQLError:
    """``TIMEOUT`` with ``timeoutSeconds``, whether the operation had saved a change
    (``applied``: ``omnigraph.db.writer.tracking_writes``) and the ``requestId`` of the log
    line."""
    saved = "what it changed was saved" if applied else "nothing it changed was saved"
    return GraphQLError(
        f"the operation did not finish within {seconds:g} s; {saved}",
        extensions={
            "code": "TIMEOUT",
            "timeoutSeconds": seconds,
            "applied": applied,
            "requestId": current_request_id(),
        },
    )


class DeadlineCheck(SchemaExtension):
    """After parsing and validation, before the cost count and execution: ``TIMEOUT`` if the
    operation's deadline has passed (nothing without one: a subscription, an operation run
    outside the view). Synchronous, as strawberry's ``execute_sync`` (``introspect``) needs."""

    def on_execute(self) -> Iterator[None]:
        started = _current.get()
        context = self.execution_context
        if started is not None and context.result is None and started.passed():
            log.warning(
                "graphql_timeout",
                operation=context.operation_name,
                seconds=started.seconds,
                stage="before execution",
            )
            context.result = ExecutionResult(data=None, errors=[timeout_error(started.seconds)])
        yield
