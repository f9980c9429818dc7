"""``omnigraph export``: one bulk export from a query file to a file, on the embedded default
(the service and the demo systems inside the command), its figures those of the demo world."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from omnigraph.cli import app as cli
from omnigraph.core.clock import DEMO_ANCHOR
from omnigraph.demo import build_world

ORDERS = 40
QUERY = "{ orders { edges { node { id channel totals { total { amount } } lines { sku } } } } }"


@pytest.fixture
def embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fresh database and file folder, a small demo business, no other background work."""
    for name in list(os.environ):
        if name.startswith("OMNIGRAPH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMNIGRAPH_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    monkeypatch.setenv("OMNIGRAPH_DEMO_ORDERS", str(ORDERS))
    monkeypatch.setenv("OMNIGRAPH_BULK_POLL_SECONDS", "0.05")
    for task in ("DISPATCHER", "REPORT_FEED", "LEDGER", "DRIFT", "DETECTOR", "RECONCILE"):
        monkeypatch.setenv(f"OMNIGRAPH_{task}_ENABLED", "false")
    (tmp_path / "orders.graphql").write_text(QUERY)
    return tmp_path


def test_export_writes_the_whole_data_set_as_parquet(embedded: Path) -> None:
    result = CliRunner().invoke(
        cli, ["export", "orders.graphql", "--format", "parquet", "--out", "orders.parquet"]
    )
    assert result.exit_code == 0, result.output
    world = build_world(seed=7, orders=ORDERS, anchor=DEMO_ANCHOR)
    lines = sum(len(order["lines"]) for order in world.storefront_orders)
    assert f"wrote orders.parquet: {ORDERS} nodes, {ORDERS + lines} rows" in result.stdout
    with duckdb.connect() as db:
        found = db.execute(
            "SELECT count(*), sum(len(lines)) FROM read_parquet('orders.parquet')"
        ).fetchone()
    assert found == (ORDERS, lines)
    assert not (embedded / "orders.parquet.part").exists()


def test_export_says_why_a_query_is_refused(embedded: Path) -> None:
    (embedded / "one.graphql").write_text('{ order(id: "x") { id } }')
    result = CliRunner().invoke(cli, ["export", "one.graphql", "--out", "one.jsonl"])
    assert result.exit_code == 1
    assert "BULK_ROOT_NOT_A_CONNECTION" in result.stderr
    assert not (embedded / "one.jsonl").exists()
