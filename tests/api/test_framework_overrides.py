"""The service answers the same bytes with its framework overrides on and off.

``omnigraph.graph.overrides`` buys time by reaching into strawberry's and graphql-core's
internals; off (``OMNIGRAPH_FRAMEWORK_OVERRIDES=false``) the graph runs on their ordinary paths.
Two services over the same demo systems and a database of their own (the mutation's
reservation must not change what other tests see), one each way, are asked the same
representative requests: the reporting page, the support lookup, availability, exceptions, a
mutation, a batch, and the refusals of each limit. Every answer (status and body) must be the
same byte for byte. The whole suite runs with them off as well:
``OMNIGRAPH_FRAMEWORK_OVERRIDES=false pytest``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette

from omnigraph.app import EXAMPLES
from omnigraph.demo import DemoSystems
from omnigraph.graph.overrides import LeafExecutionContext, ReleasedContexts
from omnigraph.inventory.ledger import LedgerReader
from tests.conftest import Graph, running_app, services_of


def example(name: str) -> str:
    return (EXAMPLES / f"{name}.graphql").read_text()


RESERVE = """mutation($input: ReserveInventoryInput!) {
  reserveInventory(input: $input) {
    reservationId
    reservation { sku locationId channel quantity status expiresAt }
    userErrors { code field message }
  }
}"""
ALIASES = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
TOKENS = "{ " + "__typename " * 2_001 + "}"
UNKNOWN = "{ orders(first: 1) { edges { node { nonsense } } } }"
PAGE = "{ orders(first: 2) { edges { node { name state totals { total { amount } } } } } }"
# costs 25,701, over the default 20,000
COSTLY = """{ orders(first: 100) { edges { node {
  lines { provenance { field } } provenance { field } disagreements { others { source } }
  payments { id } shipments { id } } } } }"""

REQUESTS: dict[str, Any] = {
    "reporting page": {"query": example("reporting-orders-page")},
    "support lookup": {
        "query": example("support-order-lookup"),
        "variables": {"source": "web-store", "ref": "SF-100004"},
    },
    "availability": {
        "query": example("storefront-availability"),
        "variables": {"skus": [f"SKU-{i:04d}" for i in range(1, 21)], "channel": "store-pickup"},
    },
    "exceptions": {"query": example("support-open-exceptions")},
    "payouts": {"query": example("finance-payouts")},
    "node and a missing order": {
        "query": '{ orderByRef(source: "web-store", ref: "SF-NONE") { id } __typename }'
    },
    "a mutation (replayed by its idempotency key)": {
        "query": RESERVE,
        "variables": {
            "input": {
                "sku": "SKU-0001",
                "channel": "web",
                "quantity": 1,
                "idempotencyKey": "framework-overrides-compare",
            }
        },
    },
    "a mutation refused": {
        "query": 'mutation { releaseReservation(id: "nope") { userErrors { code message } } }'
    },
    "a batch": [
        {"query": PAGE},
        {"query": example("support-order-lookup"), "variables": {"ref": "SF-100001"}},
    ],
    "too many aliases": {"query": ALIASES},
    "too many tokens": {"query": TOKENS},
    "too costly": {"query": COSTLY},
    "an unknown field": {"query": UNKNOWN},
    "too many operations": [{"query": "{ __typename }"}] * 11,
    "a batch item that is not an object": [{"query": "{ __typename }"}, 1],
    "not JSON": b"{nope",
}


@pytest.fixture(scope="module")
async def services(
    demo: DemoSystems, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[tuple[Starlette, Graph], tuple[Starlette, Graph]]]:
    """The service with the overrides on, and with them off: same sources, same database."""
    database = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('overrides') / 'db.sqlite3'}"
    on = running_app(demo, database, framework_overrides=True)
    off = running_app(demo, database, framework_overrides=False)
    pair = (await anext(on), await anext(off))
    services = services_of(pair[0][0])
    await LedgerReader(services.sessions, services.registry).sync_once()
    yield pair
    for started in (off, on):
        with pytest.raises(StopAsyncIteration):
            await anext(started)


async def post(graph: Graph, body: Any) -> tuple[int, bytes]:
    if isinstance(body, bytes):
        response = await graph.client.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
    else:
        response = await graph.client.post("/graphql", json=body)
    return response.status_code, response.content


async def test_the_overrides_are_on_in_one_and_off_in_the_other(
    services: tuple[tuple[Starlette, Graph], tuple[Starlette, Graph]],
) -> None:
    (on, _), (off, _) = services
    assert isinstance(on.state.graphql, ReleasedContexts)
    assert not isinstance(off.state.graphql, ReleasedContexts)
    assert on.state.graphql.schema.execution_context_class is LeafExecutionContext
    assert off.state.graphql.schema.execution_context_class is not LeafExecutionContext


@pytest.mark.parametrize("name", list(REQUESTS))
async def test_both_answer_the_same_bytes(
    services: tuple[tuple[Starlette, Graph], tuple[Starlette, Graph]], name: str
) -> None:
    (_, on), (_, off) = services
    body = REQUESTS[name]
    answered = await post(on, body)
    assert answered == await post(off, body)
    status, content = answered
    assert content  # an answer, not an empty body
    if name.startswith(("reporting", "support", "availability", "exceptions", "payouts")):
        assert status == 200
        assert b'"errors"' not in content, content[:500]
