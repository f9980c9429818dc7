"""The schema omnigraph serves: the single-process graph, or one federation subgraph, assembled
from the rooms' parts (``omnigraph.api.subgraphs``) and built by the GraphQL edge."""

from __future__ import annotations

from typing import Unpack

from strawberry.federation import Schema

from omnigraph.api.subgraphs import SUBGRAPHS, single_process_spec
from omnigraph.graph.build import SchemaOptions, assemble_schema

__all__ = ["build_schema"]


def build_schema(*, subgraph: str | None = None, **options: Unpack[SchemaOptions]) -> Schema:
    """The single-process graph, or one federation subgraph (``orders``, ``inventory``, ...),
    assembled with ``options`` (``omnigraph.graph.build.assemble_schema``'s); with
    ``framework_overrides`` off, on the frameworks' ordinary paths only
    (``omnigraph.graph.overrides``)."""
    spec = SUBGRAPHS[subgraph]() if subgraph else single_process_spec()
    return assemble_schema(spec, **options)
