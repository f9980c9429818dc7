"""The schema omnigraph serves: the single-process graph, or one federation subgraph, assembled
from the rooms' parts (``omnigraph.api.subgraphs``) and built by the GraphQL edge."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from strawberry.extensions.base_extension import SchemaExtension
from strawberry.federation import Schema

from omnigraph.api.subgraphs import SUBGRAPHS, single_process_spec
from omnigraph.graph.build import assemble_schema
from omnigraph.graph.limits.query_limits import QueryLimits
from omnigraph.graph.response_cache import ResponseCache
from omnigraph.graph.trusted_documents import TrustedDocuments

__all__ = ["build_schema"]


def build_schema(
    *,
    production: bool = False,
    subgraph: str | None = None,
    limits: QueryLimits | None = None,
    trusted_documents: TrustedDocuments | None = None,
    response_cache: ResponseCache | None = None,
    observers: Sequence[Callable[[], SchemaExtension]] = (),
    framework_overrides: bool = True,
) -> Schema:
    """The single-process graph, or one federation subgraph (``orders``, ``inventory``, ...);
    with ``framework_overrides`` off, on the frameworks' ordinary paths only
    (``omnigraph.graph.overrides``)."""
    spec = SUBGRAPHS[subgraph]() if subgraph else single_process_spec()
    return assemble_schema(
        spec,
        production=production,
        limits=limits,
        trusted_documents=trusted_documents,
        response_cache=response_cache,
        observers=observers,
        framework_overrides=framework_overrides,
    )
