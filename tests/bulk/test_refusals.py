"""What a bulk export refuses, each with a coded error, and nothing started: a query that is
not one over a connection, and a field the key may not read, exactly as the same query asked
directly is refused."""

from __future__ import annotations

import pytest
from graphql import parse

from omnigraph.api.schema import build_schema
from omnigraph.bulk.operations import Problem, bulk_operation_key
from omnigraph.bulk.resolvers import analyse
from omnigraph.db.models import BulkOperationRow
from omnigraph.graph.limits.cost import operation_cost
from omnigraph.graph.overrides import graphql_schema
from omnigraph.security import api_keys
from omnigraph.security.principal import Role
from omnigraph.settings import QueryLimits
from tests.bulk.conftest import DIRECT_PAGE_SIZE, Bulk
from tests.bulk.test_exports import ORDERS_EXPORT

MINE = "{ bulkOperations(first: 5) { edges { node { id status } } } }"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ('{ order(id: "T3JkZXI6d2ViLXN0b3JlOjE") { id } }', "BULK_ROOT_NOT_A_CONNECTION"),
        ("{ exceptionOperations { resolved } }", "BULK_ROOT_NOT_A_CONNECTION"),
        (
            "{ orders { edges { node { id } } } exceptions { edges { node { id } } } }",
            "BULK_ROOT_NOT_A_CONNECTION",
        ),
        ("{ orders(first: 10) { edges { node { id } } } }", "BULK_PAGING_ARGUMENT"),
        ('{ orders(after: "x") { edges { node { id } } } }', "BULK_PAGING_ARGUMENT"),
        ("{ orders { pageInfo { hasNextPage } } }", "BULK_QUERY_INVALID"),
        ("{ orders { edges { node { id lines { sku } nope } } } }", "BULK_QUERY_INVALID"),
        ("{ orders { edges { node { id }", "BULK_QUERY_INVALID"),
        (
            "query($c: String) { orders(filter: {channel: $c}) { edges { node { id } } } }",
            "BULK_QUERY_INVALID",
        ),
        ('mutation { acknowledgeException(id: "x") { note } }', "BULK_QUERY_INVALID"),
        ("{ orders { edges { node { name lines { sku } } } } }", "BULK_PARENT_ID_REQUIRED"),
    ],
)
async def test_a_query_that_is_not_one_over_a_connection_gets_a_coded_error(
    bulk: Bulk, query: str, code: str
) -> None:
    token = await bulk.key(Role.REPORTING)
    payload = await bulk.start(token, query)
    assert payload["bulkOperation"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, ["input", "query"])]
    assert (await bulk.query(token, MINE))["data"]["bulkOperations"]["edges"] == []


@pytest.mark.parametrize(
    ("roles", "query", "named"),
    [
        # the payments provider's view of an order is not a storefront's to read
        (
            (Role.STOREFRONT,),
            "{ orders { edges { node { id payments { amount { amount } } } } } }",
            "`Order.payments`",
        ),
        # nor are payouts a support agent's
        ((Role.SUPPORT,), "{ payouts { edges { node { id } } } }", "`Query.payouts`"),
        # a filter on what a key may not read is refused as the direct query's is
        (
            (Role.STOREFRONT,),
            "{ orders(filter: {hasOpenException: true}) { edges { node { id } } } }",
            "`OrderFilter.hasOpenException`",
        ),
    ],
)
async def test_a_key_cannot_export_a_field_it_cannot_read(
    bulk: Bulk, roles: tuple[Role, ...], query: str, named: str
) -> None:
    token = await bulk.key(*roles)
    payload = await bulk.start(token, query)
    assert payload["bulkOperation"] is None
    [error] = payload["userErrors"]
    assert error["code"] == "FORBIDDEN"
    assert named in error["message"]
    assert (await bulk.query(token, MINE))["data"]["bulkOperations"]["edges"] == []


async def test_a_field_readable_only_on_some_rows_fails_the_export_as_the_listing_refuses_it(
    bulk: Bulk,
) -> None:
    """A storefront key reads customers' emails on its own channel's orders only: exporting
    every order's email fails (FORBIDDEN, as the listing refuses the others'), exporting its
    own channel's completes."""
    token = await bulk.key(Role.STOREFRONT, channel="web")
    emails = "{{ orders{} {{ edges {{ node {{ id customer {{ email }} }} }} }} }}"
    everyone = (await bulk.start(token, emails.format("")))["bulkOperation"]
    await bulk.run()
    failed = await bulk.status(token, everyone["id"])
    assert (failed["status"], failed["errorCode"], failed["url"]) == ("FAILED", "FORBIDDEN", None)

    own = (await bulk.start(token, emails.format('(filter: {channel: "web"})')))["bulkOperation"]
    await bulk.run()
    done = await bulk.status(token, own["id"])
    assert done["status"] == "COMPLETED"
    response = await bulk.download(token, done["url"])
    assert response.status_code == 200
    assert int(done["rootObjectCount"]) == len(response.content.splitlines()) > 0


async def test_an_export_whose_key_is_revoked_fails(bulk: Bulk) -> None:
    token = await bulk.key(Role.REPORTING)
    operation = (await bulk.start(token, ORDERS_EXPORT))["bulkOperation"]
    runner = bulk.runner()
    await runner.step()
    prefix = token.removeprefix("og_").split("_", 1)[0]
    assert await api_keys.revoke_key(bulk.services.sessions, prefix, now=bulk.clock())
    await bulk.run(runner)
    # the revoked key cannot ask any more (401): the export's row says what became of it
    async with bulk.services.sessions() as session:
        row = await session.get(BulkOperationRow, bulk_operation_key(operation["id"]))
    assert row is not None
    assert (row.status, row.error_code, row.file_name) == ("FAILED", "ACCESS_REVOKED", None)
    assert row.root_object_count == DIRECT_PAGE_SIZE  # the page before the revocation


def test_the_cost_limit_applies_to_each_page_not_to_the_export() -> None:
    """The page size is the largest ``first`` whose page the cost limit allows: an export of
    any size runs in pages that each pass it; a row too costly for any page is refused."""
    schema = graphql_schema(build_schema())
    query = "{ orders { edges { node { id lines { sku quantity } } } } }"
    limits = QueryLimits(max_cost=500)
    analysis = analyse(schema, query, limits)
    assert not isinstance(analysis, Problem)
    size = analysis.plan.page_size
    page = parse(analysis.plan.document)

    def cost(first: int) -> int:
        return operation_cost(schema, page, variables={"bulkFirst": first}, limits=limits)

    assert 1 < size < limits.max_page_size
    assert cost(size) <= limits.max_cost < cost(size + 1)
    refused = analyse(schema, query, QueryLimits(max_cost=20))
    assert isinstance(refused, Problem)
    assert refused.code == "QUERY_TOO_COSTLY"
