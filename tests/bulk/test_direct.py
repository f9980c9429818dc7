"""Orders exports whose pages omnigraph answers without running GraphQL field by field
(``DirectRoot`` in ``omnigraph.bulk.resolvers``): the file holds what paging the same
selection directly returns, field for field, masking included, in fewer upstream calls; a
selection or a page it cannot answer so runs through the schema as before."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from omnigraph.bulk.resolvers import Selected, node_selection
from omnigraph.core.errors import SourceContractViolation
from omnigraph.orders.truth import OrderTruths
from omnigraph.security.principal import Role
from tests.bulk.conftest import DIRECT_PAGE_SIZE, Bulk
from tests.bulk.test_exports import ORDER_FIELDS
from tests.conftest import Sources

PROVENANCE = "field source sourceKind recordRef asOf authoritative"
MONEY = "{ amount currency }"
# every field the direct pages read, aliases and __typename included
WIDE = f"""__typename id name channel fulfilmentMethod placed: placedAt state currency
  financialStatus
  totals {{ subtotal {MONEY} discount {MONEY} shipping {MONEY} tax {MONEY} total {MONEY} }}
  lines {{ __typename sku title quantity unitPrice {MONEY} allocated picked packed shipped
    short damaged returned cancelled backordered provenance {{ {PROVENANCE} }} }}
  provenance {{ {PROVENANCE} }}"""


async def listed(bulk: Bulk, token: str, selection: str) -> list[dict[str, Any]]:
    """Every order with ``selection`` as the listing pages them (in pages of 20: a page of 25
    of ``WIDE`` would cost more than the limit)."""
    return await bulk.listed(token, selection, 20)


def wide_rows(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of ``WIDE``'s orders flattened as Shopify does: each order, then each of its
    lines (named by place: a line has no id) followed by the line's provenance, then the
    order's provenance."""
    rows: list[dict[str, Any]] = []
    for node in nodes:
        order = node["id"]
        rows.append({k: v for k, v in node.items() if k not in ("lines", "provenance")})
        for index, line in enumerate(node["lines"]):
            place = f"{order}/lines/{index}"
            fields = {k: v for k, v in line.items() if k != "provenance"}
            rows.append({"__id": place, **fields, "__parentId": order})
            rows += [{**entry, "__parentId": place} for entry in line["provenance"]]
        rows += [{**entry, "__parentId": order} for entry in node["provenance"]]
    return rows


async def exported_rows(bulk: Bulk, token: str, selection: str) -> list[dict[str, Any]]:
    url = await bulk.exported(token, f"{{ orders {{ edges {{ node {{ {selection} }} }} }} }}")
    response = await bulk.download(token, url)
    assert response.status_code == 200
    return [orjson.loads(line) for line in response.content.splitlines()]


@pytest.mark.parametrize(
    ("role", "channel"), [(Role.REPORTING, None), (Role.STOREFRONT, "web"), (Role.SUPPORT, None)]
)
async def test_every_field_of_a_direct_page_is_what_the_listing_serves_the_same_key(
    bulk: Bulk, role: Role, channel: str | None
) -> None:
    """A storefront key's export lists no provenance of money, as its listing does not."""
    token = await bulk.key(role, channel=channel)
    nodes = await listed(bulk, token, WIDE)
    rows = await exported_rows(bulk, token, WIDE)
    assert rows == wide_rows(nodes)
    fields = {row["field"] for row in rows if "sourceKind" in row}
    assert ("totals.total" in fields) is (role is not Role.STOREFRONT)
    assert "state" in fields


async def test_a_direct_export_asks_each_system_once_a_page(bulk: Bulk, sources: Sources) -> None:
    """160 orders in pages of 40: four storefront pages, four batches per other system
    (asked through the schema, pages of 25 asked the storefront about twice a page)."""
    token = await bulk.key(Role.REPORTING)
    await sources.reset()
    await exported_rows(bulk, token, f"{ORDER_FIELDS} state provenance {{ field }}")
    calls = await sources.totals()
    pages = -(-160 // DIRECT_PAGE_SIZE)
    assert calls["storefront"] <= pages + 1  # the last page may find an empty one after it
    assert all(calls[kind] <= pages for kind in ("erp", "wms", "payments")), calls


async def test_a_direct_export_leaves_the_kept_truths_to_live_queries(bulk: Bulk) -> None:
    """An export reads each order once: its truths are decided for its page and dropped, so
    a scan of every order neither fills the process's kept truths nor pushes out theirs."""
    token = await bulk.key(Role.REPORTING)
    kept = bulk.services.get(OrderTruths)
    kept.clear()
    await exported_rows(bulk, token, WIDE)
    reused = kept.reused
    await listed(bulk, token, WIDE)
    assert kept.reused == reused  # nothing the export decided was there to take again
    await listed(bulk, token, WIDE)
    assert kept.reused > reused  # (the listing's own truths are kept, as ever)


@pytest.mark.parametrize(
    "selection",
    [
        'id provenance(field: "state") { field source }',  # an argument
        "id payments { id status }",  # a field the direct pages do not read
        "id ... on Order { name }",  # a fragment
    ],
)
async def test_a_selection_the_direct_pages_do_not_read_is_exported_through_the_schema(
    bulk: Bulk, selection: str
) -> None:
    token = await bulk.key(Role.REPORTING)
    nodes = await listed(bulk, token, selection)
    rows = await exported_rows(bulk, token, selection)
    flat: list[dict[str, Any]] = []
    for node in nodes:
        flat.append({k: v for k, v in node.items() if not isinstance(v, list)})
        for value in node.values():
            if isinstance(value, list):
                flat += [{**item, "__parentId": node["id"]} for item in value]
    assert rows == flat


async def test_a_source_breaking_its_contract_fails_a_direct_export_with_the_listings_code(
    bulk: Bulk, monkeypatch: pytest.MonkeyPatch
) -> None:
    storefront = bulk.services.registry.storefronts[0]

    async def broken(**_: Any) -> Any:
        raise SourceContractViolation(storefront.name, "Order field 'placedAt': not a date")

    monkeypatch.setattr(storefront, "list_orders", broken)
    token = await bulk.key(Role.REPORTING)
    body = await bulk.query(token, "{ orders(first: 5) { edges { node { id state } } } }")
    [error] = body["errors"]
    operation = (await bulk.start(token, "{ orders { edges { node { id state } } } }"))[
        "bulkOperation"
    ]
    await bulk.run()
    failed = await bulk.status(token, operation["id"])
    assert (failed["status"], failed["errorCode"], failed["url"]) == (
        "FAILED",
        error["extensions"]["code"],
        None,
    )


def paged(node: str) -> str:
    return (
        "query BulkPage($bulkFirst: Int!, $bulkAfter: String) {"
        " orders(first: $bulkFirst, after: $bulkAfter) {"
        f" edges {{ node {{ {node} }} }} _bulkPageInfo: pageInfo {{ hasNextPage endCursor }} }} }}"
    )


def test_the_node_selection_is_read_off_a_page_of_plain_fields_only() -> None:
    assert node_selection(paged("id total: totals { total { amount } }")) == (
        Selected("id", "id"),
        Selected("total", "totals", (Selected("total", "total", (Selected("amount", "amount"),)),)),
    )
    for declined in (
        'id provenance(field: "state") { field }',  # an argument
        "id name @include(if: true)",  # a directive
        "id ... on Order { name }",  # a fragment
        "id id",  # a key twice (GraphQL merges them)
    ):
        assert node_selection(paged(declined)) is None, declined
    filtered = paged("id").replace("after: $bulkAfter", 'after: $bulkAfter, filter: {sku: "A"}')
    assert node_selection(filtered) is None
