"""The four subgraphs compose (with the Guild's composition) into the single-process API."""

from __future__ import annotations

import pytest
from graphql import GraphQLSchema, build_ast_schema, parse
from graphql.type import GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from omnigraph.api.export import CompositionError, compose_supergraph, subgraph_files
from omnigraph.api.schema import build_schema
from omnigraph.graph.overrides import graphql_schema

FEDERATION_ONLY = {"_Service", "_Entity", "_Any", "FieldSet", "link__Import", "link__Purpose"}


def api_shape(schema: GraphQLSchema) -> dict[str, set[str]]:
    """Type name -> field names, as a client sees them (federation plumbing removed)."""
    shape = {}
    for name, graphql_type in schema.type_map.items():
        if name.startswith("__") or name in FEDERATION_ONLY or "__" in name:
            continue
        if isinstance(
            graphql_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType
        ):
            shape[name] = {f for f in graphql_type.fields if not f.startswith("_")}
    return shape


@pytest.fixture(scope="module")
def supergraph() -> str:
    """The four subgraphs as they are in the code, composed."""
    return compose_supergraph(subgraph_files())


def test_supergraph_serves_the_same_api_as_the_single_process(supergraph: str) -> None:
    composed = build_ast_schema(parse(supergraph), assume_valid_sdl=True)
    single = graphql_schema(build_schema())
    assert api_shape(composed) == api_shape(single)


def test_order_exceptions_come_from_the_exceptions_subgraph(supergraph: str) -> None:
    text = supergraph
    order = text[text.index("type Order implements Node") :]
    order = order[: order.index("\n}\n")]
    exceptions_line = next(line for line in order.splitlines() if "exceptions:" in line)
    assert "@join__field(graph: EXCEPTIONS)" in exceptions_line


def test_subgraphs_that_clash_do_not_compose() -> None:
    files = subgraph_files()
    clashing = (
        files["payouts"]
        .replace("type PageInfo @shareable", "type PageInfo")
        .replace("type Money @shareable", "type Money")
    )
    with pytest.raises(CompositionError, match="Non-shareable field"):
        compose_supergraph({**files, "payouts": clashing})
