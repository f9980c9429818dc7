"""Bulk exports as a reporting tool uses them: start, watch, download, on SQLite and
PostgreSQL; the file holds exactly what paging the same query directly returns."""

from __future__ import annotations

import csv
import io
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import orjson

from omnigraph.security.principal import Role
from tests.bulk.conftest import DIRECT_PAGE_SIZE, PAGE_SIZE_CAP, Bulk

ORDER_FIELDS = """id name channel placedAt
  totals { total { amount currency } }
  lines { sku quantity unitPrice { amount currency } }"""
ORDERS_EXPORT = f"{{ orders {{ edges {{ node {{ {ORDER_FIELDS} }} }} }} }}"


async def listing(bulk: Bulk, token: str) -> list[dict[str, Any]]:
    """Every order, as a client paging ``orders`` directly sees them."""
    return await bulk.listed(token, ORDER_FIELDS, PAGE_SIZE_CAP)


def shopify_rows(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows Shopify's flattening makes of the orders: each order without its lines, then
    its lines, each naming the order in ``__parentId``."""
    rows = []
    for node in nodes:
        rows.append({k: v for k, v in node.items() if k != "lines"})
        rows += [{**line, "__parentId": node["id"]} for line in node["lines"]]
    return rows


async def test_an_export_runs_to_a_jsonl_file_holding_what_the_listing_holds(bulk: Bulk) -> None:
    token = await bulk.key(Role.REPORTING)
    started = await bulk.start(token, ORDERS_EXPORT)
    assert started["userErrors"] == []
    operation = started["bulkOperation"]
    assert (operation["status"], operation["url"], operation["objectCount"]) == (
        "CREATED",
        None,
        "0",
    )

    runner = bulk.runner()
    await runner.step()  # claims it and writes the first page
    watched = await bulk.status(token, operation["id"])
    assert watched["status"] == "RUNNING"
    assert watched["rootObjectCount"] == str(DIRECT_PAGE_SIZE)
    assert watched["url"] is None  # nothing is served before the export is complete
    await bulk.run(runner)

    done = await bulk.status(token, operation["id"])
    expected = shopify_rows(await listing(bulk, token))
    assert done["status"] == "COMPLETED"
    assert int(done["objectCount"]) == len(expected)
    assert done["url"].endswith(f"/bulk/{operation['id']}/file")
    response = await bulk.download(token, done["url"])
    assert response.status_code == 200
    assert response.headers["content-length"] == done["fileSize"] == str(len(response.content))
    assert response.headers["content-type"].startswith("application/jsonl")
    rows = [orjson.loads(line) for line in response.content.splitlines()]
    assert rows == expected


async def test_csv_is_a_zip_of_one_file_per_level(bulk: Bulk) -> None:
    token = await bulk.key(Role.REPORTING)
    url = await bulk.exported(token, ORDERS_EXPORT, "CSV")
    response = await bulk.download(token, url)
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == ["orders.csv", "orders.lines.csv"]
        orders = list(csv.DictReader(io.TextIOWrapper(archive.open("orders.csv"), "utf-8")))
        lines = list(csv.DictReader(io.TextIOWrapper(archive.open("orders.lines.csv"), "utf-8")))
    nodes = await listing(bulk, token)
    assert orders == [
        {
            "id": n["id"],
            "name": n["name"] or "",
            "channel": n["channel"],
            "placedAt": n["placedAt"],
            "totals.total.amount": n["totals"]["total"]["amount"],
            "totals.total.currency": n["totals"]["total"]["currency"],
        }
        for n in nodes
    ]
    assert lines == [
        {
            "sku": line["sku"],
            "quantity": str(line["quantity"]),
            "unitPrice.amount": line["unitPrice"]["amount"],
            "unitPrice.currency": line["unitPrice"]["currency"],
            "__parentId": n["id"],
        }
        for n in nodes
        for line in n["lines"]
    ]


async def test_duckdb_sums_the_parquet_export_to_the_listings_totals(
    bulk: Bulk, tmp_path: Path
) -> None:
    token = await bulk.key(Role.REPORTING)
    url = await bulk.exported(token, ORDERS_EXPORT, "PARQUET")
    response = await bulk.download(token, url)
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    path = tmp_path / "orders.parquet"
    path.write_bytes(response.content)

    expected: dict[tuple[str, str], Decimal] = {}
    nodes = await listing(bulk, token)
    for node in nodes:
        total = node["totals"]["total"]
        key = (node["channel"], total["currency"])
        expected[key] = expected.get(key, Decimal(0)) + Decimal(total["amount"])
    with duckdb.connect() as db:
        sums = db.execute(
            "SELECT channel, totals.total.currency, sum(totals.total.amount)"
            " FROM read_parquet(?) GROUP BY ALL",
            [str(path)],
        ).fetchall()
        types = dict(
            db.execute(
                "SELECT column_name, column_type FROM (DESCRIBE SELECT placedAt,"
                " totals.total.amount AS amount FROM read_parquet(?))",
                [str(path)],
            ).fetchall()
        )
        lines = db.execute(
            "SELECT count(*) FROM (SELECT unnest(lines) FROM read_parquet(?))", [str(path)]
        ).fetchone()
    assert {(channel, currency): amount for channel, currency, amount in sums} == expected
    assert types == {"placedAt": "TIMESTAMP WITH TIME ZONE", "amount": "DECIMAL(38,9)"}
    assert lines == (sum(len(n["lines"]) for n in nodes),)


NESTED = "id lines { sku provenance { field source } }"


async def test_lists_below_a_row_without_an_id_name_it_by_its_place(bulk: Bulk) -> None:
    """An order line has no id: its rows carry ``__id`` (the order's id, the list and the
    line's index), which its provenance rows name as their parent."""
    token = await bulk.key(Role.REPORTING)
    export = f"{{ orders {{ edges {{ node {{ {NESTED} }} }} }} }}"
    operation = (await bulk.start(token, export))["bulkOperation"]
    await bulk.run()
    done = await bulk.status(token, operation["id"])
    rows = [
        orjson.loads(line)
        for line in (await bulk.download(token, done["url"])).content.splitlines()
    ]

    expected: list[dict[str, Any]] = []
    after = None
    while True:
        page = f"""query($after: String) {{ orders(first: {PAGE_SIZE_CAP}, after: $after) {{
          edges {{ node {{ {NESTED} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
        body = (await bulk.query(token, page, after=after))["data"]["orders"]
        for edge in body["edges"]:
            order = edge["node"]
            expected.append({"id": order["id"]})
            for index, line in enumerate(order["lines"]):
                place = f"{order['id']}/lines/{index}"
                expected.append({"__id": place, "sku": line["sku"], "__parentId": order["id"]})
                expected += [{**p, "__parentId": place} for p in line["provenance"]]
        if not body["pageInfo"]["hasNextPage"]:
            break
        after = body["pageInfo"]["endCursor"]
    assert rows == expected
    assert int(done["objectCount"]) == len(expected)
