"""An export's rows read by its compiled extraction are the rows GraphQL answers for the same
page, byte for byte: for many selections (nested lists, provenance, disagreements, money, null
fields, aliases, fragments, each root), and a selection the extraction cannot read still
exports through GraphQL."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from omnigraph.bulk.plan import Plan
from omnigraph.bulk.resolvers import SchemaPages, analyse
from omnigraph.security import api_keys
from omnigraph.security.principal import Principal, Role
from tests.bulk.conftest import Bulk

ORDERS = "{ orders%s { edges { node { %s } } } }"
SELECTIONS = {
    "the benchmark's": ORDERS
    % (
        "",
        """id name channel state placedAt totals { total { amount currency } }
        lines { sku quantity unitPrice { amount currency } } provenance { field source asOf }""",
    ),
    "aliases": ORDERS
    % ("", "ref: id n: name t: totals { grand: total { amount } tax { amount currency } }"),
    "fragments": ORDERS % ("", "id ...Kept ... on Order { placedAt }")
    + " fragment Kept on Order { state channel lines { sku } }",
    "skip and include": ORDERS
    % ("", "id name @skip(if: true) channel @include(if: true) state @include(if: false)"),
    "line provenance (an async resolver)": ORDERS
    % ("", "id lines { sku provenance { field source recordRef asOf authoritative } }"),
    "a provenance argument": ORDERS
    % ("", 'id provenance(field: "state") { field source recordRef asOf authoritative }'),
    "disagreements": ORDERS
    % (
        "",
        "id disagreements { field authoritative { source value asOf }"
        " others { source value asOf } }",
    ),
    "nulls and enums": ORDERS
    % ("", "__typename id name financialStatus channelState fulfilmentMethod currency state"),
    "every system's records": ORDERS
    % (
        "",
        "id externalRefs { source sourceKind ref }"
        " shipments { id carrier trackingNumber shippedAt deliveredAt lines { sku quantity } }",
    ),
    "line quantities and money": ORDERS
    % (
        "",
        "id lines { sku title quantity allocated cancelled backordered picked packed shipped"
        " short damaged returned unitPrice { amount currency } }"
        " totals { subtotal { amount currency } discount { amount } shipping { amount } }",
    ),
    "a filter": ORDERS % ('(filter: {channel: "web"})', "id name channel"),
    "payouts": "{ payouts { edges { node { id source ref status arrivalDate createdAt"
    " amount { amount currency } } } } }",
    "exceptions": "{ exceptions { edges { node { id kind status ownerSource } } } }",
}
# an order's exceptions are resolved from their parent: GraphQL reads those
NOT_EXTRACTED = {"a parent's resolver": ORDERS % ("", "id exceptions { id kind }")}


@pytest.fixture
def pages(bulk: Bulk) -> SchemaPages:
    found = bulk.services.get(SchemaPages)
    if not found.extract:
        pytest.skip("framework overrides off: every page runs through GraphQL")
    return found


async def reporting(bulk: Bulk) -> Principal:
    token = await bulk.key(Role.REPORTING)
    principal = await api_keys.principal_for_key(bulk.services.sessions, token)
    assert principal is not None
    return principal


def plan_of(bulk: Bulk, pages: SchemaPages, query: str) -> Plan:
    analysis = analyse(pages.schema._schema, query, bulk.services.settings.limits)
    assert not hasattr(analysis, "code"), analysis
    plan: Plan = analysis.plan  # type: ignore[union-attr]
    return plan


async def both_ways(
    pages: SchemaPages, plan: Plan, principal: Principal, *, extracted: bool
) -> tuple[list[bytes], list[bytes]]:
    """Every page's nodes as GraphQL answers them and as the export writes them."""
    graphql: list[bytes] = []
    written: list[bytes] = []
    after: str | None = None
    extraction = pages.extraction(plan.document, principal)
    assert (extraction is not None) is extracted
    while True:
        variables = plan.variables(after)
        direct = await pages.run_as(principal, plan.document, variables)
        assert direct.errors == [], direct.errors
        assert direct.data is not None
        page = plan.page_of(direct.data)
        graphql += [orjson.dumps(node) for node in page.nodes]
        if extraction is not None:
            answer: Any = await pages.extracted(extraction, plan, principal, variables)
            assert answer is not None, "the page fell back to GraphQL"
        else:
            answer = await pages.run_as(principal, plan.document, variables)
        assert answer.errors == []
        mine = plan.page_of(answer.data)
        assert (mine.has_next, mine.end_cursor) == (page.has_next, page.end_cursor)
        written += [orjson.dumps(node) for node in mine.nodes]
        if not page.has_next:
            return graphql, written
        after = page.end_cursor


@pytest.mark.parametrize("name", list(SELECTIONS))
async def test_extracted_rows_are_the_graphql_rows_byte_for_byte(
    bulk: Bulk, pages: SchemaPages, name: str
) -> None:
    plan = plan_of(bulk, pages, SELECTIONS[name])
    graphql, extracted = await both_ways(pages, plan, await reporting(bulk), extracted=True)
    assert graphql or name == "exceptions"  # rows to compare
    assert extracted == graphql


@pytest.mark.parametrize("name", list(NOT_EXTRACTED))
async def test_a_selection_the_extraction_cannot_read_runs_through_graphql(
    bulk: Bulk, pages: SchemaPages, name: str
) -> None:
    plan = plan_of(bulk, pages, NOT_EXTRACTED[name])
    graphql, written = await both_ways(pages, plan, await reporting(bulk), extracted=False)
    assert written == graphql


@pytest.mark.parametrize(
    "selection",
    [
        "id payments { id status }",  # a money role's
        "id customer { id email }",  # a role's, or a storefront key's own channel's, per row
    ],
)
async def test_a_field_the_caller_may_not_read_on_every_row_is_not_extracted(
    bulk: Bulk, pages: SchemaPages, selection: str
) -> None:
    """For a storefront key the extraction is not compiled (GraphQL refuses the field as it
    would the direct query); a reporting key reads it on every row, extracted."""
    plan = plan_of(bulk, pages, ORDERS % ("", selection))
    token = await bulk.key(Role.STOREFRONT, channel="web")
    storefront = await api_keys.principal_for_key(bulk.services.sessions, token)
    assert storefront is not None
    assert pages.extraction(plan.document, storefront) is None
    graphql, extracted = await both_ways(pages, plan, await reporting(bulk), extracted=True)
    assert extracted == graphql
    refused = await pages.run_as(storefront, plan.document, plan.variables(None))
    assert "FORBIDDEN" in {error.code for error in refused.errors}
