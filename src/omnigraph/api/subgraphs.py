"""Which types and root fields each federation subgraph serves, and the single-process graph.

Four subgraphs (orders, inventory, payouts, exceptions) compose into the same API the single
process serves; ``schema/`` holds each one's SDL and the composed supergraph.
"""

from __future__ import annotations

from collections.abc import Callable

from strawberry.tools import merge_types

from omnigraph.api.nodes import full_node_resolvers, node_query
from omnigraph.api.references import (
    ExceptionReference,
    InventoryAvailabilityReference,
    OrderWithExceptions,
    PayoutReference,
    reference_resolvers,
)
from omnigraph.bulk.schema import BulkMutations, BulkQueries, BulkSubscriptions
from omnigraph.exceptions.schema import (
    ExceptionMutations,
    ExceptionQueries,
    ExceptionRecord,
    ExceptionSubscriptions,
)
from omnigraph.graph.build import SubgraphSpec
from omnigraph.inventory.schema import (
    AvailabilitySubscriptions,
    InventoryAvailability,
    InventoryMutations,
    InventoryQueries,
    PolicyQueries,
)
from omnigraph.orders.schema import Order, OrderCore, order_queries
from omnigraph.payouts.schema import Payout, PayoutQueries

__all__ = ["SUBGRAPHS", "single_process_spec"]


def single_process_spec() -> SubgraphSpec:
    query = merge_types(
        "Query",
        (
            node_query(full_node_resolvers(Order)),
            order_queries(Order),
            InventoryQueries,
            PolicyQueries,
            PayoutQueries,
            ExceptionQueries,
            BulkQueries,
        ),
    )
    return SubgraphSpec(
        query,
        [Order, Payout, ExceptionRecord, InventoryAvailability],
        merge_types("Mutation", (ExceptionMutations, InventoryMutations, BulkMutations)),
        merge_types(
            "Subscription",
            (ExceptionSubscriptions, AvailabilitySubscriptions, BulkSubscriptions),
        ),
    )


def _orders() -> SubgraphSpec:
    """The orders, and bulk exports: reporting tools' whole data sets (an export's pages run
    through the whole graph in this subgraph's process, which knows every source)."""
    resolvers = {**full_node_resolvers(OrderCore), **reference_resolvers()}
    resolvers["Order"] = full_node_resolvers(OrderCore)["Order"]
    query = merge_types("Query", (node_query(resolvers), order_queries(OrderCore), BulkQueries))
    return SubgraphSpec(
        query,
        [OrderCore, PayoutReference, ExceptionReference, InventoryAvailabilityReference],
        merge_types("Mutation", (BulkMutations,)),
        merge_types("Subscription", (BulkSubscriptions,)),
    )


def _inventory() -> SubgraphSpec:
    return SubgraphSpec(
        merge_types("Query", (InventoryQueries, PolicyQueries)),
        [InventoryAvailability],
        InventoryMutations,
        AvailabilitySubscriptions,
    )


def _payouts() -> SubgraphSpec:
    return SubgraphSpec(PayoutQueries, [Payout])


def _exceptions() -> SubgraphSpec:
    return SubgraphSpec(
        ExceptionQueries,
        [ExceptionRecord, OrderWithExceptions],
        ExceptionMutations,
        ExceptionSubscriptions,
    )


SUBGRAPHS: dict[str, Callable[[], SubgraphSpec]] = {
    "orders": _orders,
    "inventory": _inventory,
    "payouts": _payouts,
    "exceptions": _exceptions,
}
