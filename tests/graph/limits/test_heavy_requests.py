"""One request must not stall the service (issue 18, point 3).

Parsing, validation and the cost count are CPU work the event loop cannot interrupt: each is
bounded, and that is proved by count (a budget of Python calls for the whole request), never by
the clock. The execution timeout covers the whole operation: a deadline that passed while the
document was parsed and validated answers ``TIMEOUT`` before anything runs (proved with an
injected clock).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from strawberry.extensions import SchemaExtension

from omnigraph.api.schema import build_schema
from omnigraph.demo import DemoSystems
from omnigraph.graph.limits.shape import CEILING
from omnigraph.graph.view import LimitedGraphQL
from omnigraph.settings import QueryLimits
from tests.clocks import SecondsClock
from tests.graph.limits.budget import call_budget
from tests.graph.limits.test_fragments import doubling
from tests.security.conftest import serve

# Each about 2,000 tokens (the default cap) or a body well within 1 MiB, each the worst we
# found for one step: the doubling fragments (every limit's counting), one field repeated
# (graphql-core's field-merging rule), fragments nested as deep as graphql-core allows, a
# selection nested past the parser's depth, and `_entities` given 12,000 references.
HEAVY: dict[str, tuple[dict[str, Any], str]] = {
    "fragments spread twice, 150 levels": ({"query": doubling(150)}, "TOO_MANY_NODES"),
    "one field 1,990 times": (
        {"query": "{" + " __typename" * 1990 + " }"},
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "one alias 660 times": (
        {"query": "{" + " a: __typename" * 660 + " }"},
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "240 fragments, each spreading the next": (
        {
            "query": "query { ...F239 } fragment F0 on Query { __typename }\n"
            + "\n".join(f"fragment F{i} on Query {{ ...F{i - 1} }}" for i in range(1, 240))
        },
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "selections 300 deep": (
        {"query": "{" + " a {" * 300 + " b" + " }" * 300 + " }"},
        "GRAPHQL_PARSE_FAILED",
    ),
    "_entities given 12,000 references": (
        {
            "query": "query($reps: [_Any!]!) { _entities(representations: $reps) {"
            " ... on Payout { id status amount { amount currency } } } }",
            "variables": {
                "reps": [{"__typename": "Payout", "id": "UGF5b3V0OnBzcDpwb18w"}] * 12_000
            },
        },
        "TOO_MANY_REPRESENTATIONS",
    ),
}
# Python calls one whole request may make, HTTP client and ASGI app included: the heaviest
# above makes about half as many.
BUDGET = 1_000_000


@pytest.fixture(scope="module")
async def service(demo: DemoSystems, clean_database: str) -> AsyncIterator[httpx.AsyncClient]:
    """The default limits."""
    async for _, client in serve(demo, clean_database):
        yield client


@pytest.mark.parametrize("name", list(HEAVY))
async def test_each_heavy_document_is_answered_with_a_code_in_bounded_work(
    service: httpx.AsyncClient, name: str
) -> None:
    body, code = HEAVY[name]
    with call_budget(BUDGET):
        response = await service.post("/graphql", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["data"] is None
    assert [error["extensions"]["code"] for error in answer["errors"]][:1] == [code]


async def test_the_doubling_document_reports_its_fields_at_the_ceiling(
    service: httpx.AsyncClient,
) -> None:
    body, _ = HEAVY["fragments spread twice, 150 levels"]
    with call_budget(BUDGET):
        response = await service.post("/graphql", json=body)
    (error,) = response.json()["errors"]
    assert error["extensions"]["nodes"] == CEILING


async def test_a_light_request_is_answered_among_heavy_ones(service: httpx.AsyncClient) -> None:
    light = {"query": "{ __typename }"}
    with call_budget(BUDGET * len(HEAVY)):
        *heavy, answered = await asyncio.gather(
            *(service.post("/graphql", json=body) for body, _ in HEAVY.values()),
            service.post("/graphql", json=light),
        )
    assert answered.json() == {"data": {"__typename": "Query"}}
    assert [r.json()["errors"][0]["extensions"]["code"] for r in heavy] == [
        code for _, code in HEAVY.values()
    ]


def slow_validation(clock: SecondsClock, seconds: float) -> type[SchemaExtension]:
    class SlowValidation(SchemaExtension):
        """Validation that takes ``seconds`` on ``clock``."""

        def on_validate(self) -> Iterator[None]:
            clock.now += seconds
            yield

    return SlowValidation


@pytest.mark.parametrize(("validation_seconds", "timed_out"), [(0.0, False), (31.0, True)])
async def test_the_timeout_covers_parsing_and_validation(
    validation_seconds: float, timed_out: bool
) -> None:
    clock = SecondsClock(1000.0)
    schema = build_schema(
        limits=QueryLimits(), observers=[slow_validation(clock, validation_seconds)]
    )
    view: LimitedGraphQL[Any, None] = LimitedGraphQL(schema, execution_timeout=30.0, clock=clock)
    transport = httpx.ASGITransport(app=view)
    async with httpx.AsyncClient(transport=transport, base_url="http://omnigraph") as client:
        response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 200
    body = response.json()
    if not timed_out:
        assert body == {"data": {"__typename": "Query"}}
        return
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "TIMEOUT"
    assert error["extensions"]["timeoutSeconds"] == 30.0
