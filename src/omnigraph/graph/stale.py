"""Lets a GraphQL operation be answered from stale copies when a source is down, and says so.

Queries open a stale-reads scope; the sources served from their last good copy are listed in
the response's ``extensions.stale`` with the copy's age. Mutations and subscriptions never
open the scope, so their results are never stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from omnigraph.sources.stale import StaleRead, stale_reads

__all__ = ["StaleIfError"]


class StaleIfError(SchemaExtension):
    def __init__(self, *, execution_context: Any = None) -> None:
        super().__init__()
        self._served: list[StaleRead] = []

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.operation_type is not OperationType.QUERY:
            yield
            return
        with stale_reads() as served:
            yield
        self._served = served

    def get_results(self) -> dict[str, Any]:
        if not self._served:
            return {}
        worst: dict[str, StaleRead] = {}
        for read in self._served:
            if read.source not in worst or read.age_seconds > worst[read.source].age_seconds:
                worst[read.source] = read
        return {"stale": [read.as_extension() for _, read in sorted(worst.items())]}
