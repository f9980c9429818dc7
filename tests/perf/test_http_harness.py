"""The ``http`` benchmark's harness (``benchmarks/run.py http``) on a very short run: every
cell written to ``--json`` in its documented shape, the serving limit among them, the
``--workers`` cells served by ``omnigraph serve --workers 2``, the ledger lag printed. Shape
and completeness only: no figure is asserted (speed lives in ``benchmarks/``)."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from omnigraph.demo.catalogue import LOCATIONS
from omnigraph.inventory.availability import past_cutoff
from omnigraph.inventory.policy import load_default_policy
from tests.perf.scripts import run_benchmark

pytestmark = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="the http benchmark drives wrk (apt-get install wrk)"
)


def _run_http(argv: list[str]) -> str:
    """``benchmarks/run.py`` with ``argv``, as a user runs it; what it printed."""
    finished = run_benchmark("run.py", *argv)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return finished.stdout


STORES = [location for location in LOCATIONS if location["type"] == "store"]


def _stores_past_pickup_cutoff() -> int:
    """How many demo stores are past their same-day pickup cut-off now, as availability
    decides it: the shipped policy's cut-off for the store (else its own), in its time zone."""
    cutoffs = load_default_policy().cutoffs
    now = datetime.now(UTC)
    return sum(
        past_cutoff(cutoffs.get(store["id"], store["cutoff"]), store["timezone"], now)
        for store in STORES
    )


def test_a_short_run_writes_one_object_per_cell(tmp_path: Path) -> None:
    cells = tmp_path / "cells.json"
    argv = [
        *("http", "--rows", "availability", "--scale", "none", "--duration", "1"),
        *("--warmup", "1", "--lag-probes", "2", "--workers", "2", "--json", str(cells)),
    ]
    closed = _stores_past_pickup_cutoff()
    out = _run_http(argv)
    closed_after = _stores_past_pickup_cutoff()
    written = json.loads(cells.read_text())
    assert isinstance(written, list)
    for cell in written:
        assert set(cell) == {"operation", "variant", "workers", "rps", "p50_ms", "p99_ms"}
        assert all(isinstance(cell[name], float) for name in ("rps", "p50_ms", "p99_ms"))
    assert sorted((c["operation"], c["variant"], c["workers"]) for c in written) == [
        ("availability", "cached", 1),
        ("availability", "cached", 2),
        ("availability", "limit", 1),
        ("availability", "naive", 1),
        ("availability", "omnigraph", 1),
        ("availability", "omnigraph", 2),
        ("availability", "raw", 1),
    ]
    assert "| serving limit |" in out
    assert "of the serving limit" in out
    assert "ledger event -> availability lag over 2 WMS movements on the idle service: p50" in out
    assert "(the 5 answers are identical)" in out
    # the check line says when the hour, not the code, zeroed the same-day answers
    checked = re.search(r"verified Storefront availability check \(20 SKUs\): (.*)", out)
    assert checked is not None
    if closed == closed_after == len(STORES):  # 20 SKUs at each store
        assert (
            checked[1]
            == "40 SKU x location answers, 0 units (40 past their store's same-day cut-off)"
        )
    elif closed == closed_after:  # some stores open: their answers have units
        tail = f" ({20 * closed} past their store's same-day cut-off)" if closed else ""
        assert re.fullmatch(
            r"40 SKU x location answers, [1-9][0-9]* units" + re.escape(tail), checked[1]
        )


def test_rounds_measure_each_row_in_turn_and_pair_the_ratios(tmp_path: Path) -> None:
    """``--rounds 2``: raw, the limit, omnigraph and the response cache measured twice in turn,
    each cell reporting its median round (for two, the slower) and every round's rate; the
    ratios printed pair the cells of the same round."""
    cells = tmp_path / "cells.json"
    argv = [
        *("http", "--rows", "lookup,reporting", "--scale", "none", "--duration", "1"),
        *("--warmup", "1", "--lag-probes", "1", "--rounds", "2", "--json", str(cells)),
    ]
    out = _run_http(argv)
    every = json.loads(cells.read_text())
    page = {cell["variant"]: cell for cell in every if cell["operation"] == "reporting"}
    # a row without a response-cache cell (the listing is never kept) has rounds all the same
    assert set(page) == {"raw", "limit", "omnigraph", "naive"}
    assert all(len(page[v]["rounds_rps"]) == 2 for v in ("raw", "limit", "omnigraph"))
    written = {cell["variant"]: cell for cell in every if cell["operation"] == "lookup"}
    assert set(written) == {"raw", "limit", "omnigraph", "cached", "naive"}
    assert "rounds_rps" not in written["naive"]  # measured once, last
    for variant in ("raw", "limit", "omnigraph", "cached"):
        rates = written[variant]["rounds_rps"]
        assert len(rates) == 2
        assert written[variant]["rps"] == min(rates)
    for turn in (1, 2):
        assert f"lookup / omnigraph (round {turn} of 2):" in out.replace("Support order ", "")
    assert "2 rounds, each measuring raw, the limit, omnigraph and the response cache" in out
    lookup_note = next(line for line in out.splitlines() if line.startswith("- Support order"))
    printed = re.search(r"omnigraph of raw ([0-9.]+) / ([0-9.]+) \(median ([0-9.]+)\)", lookup_note)
    assert printed is not None, out[-2000:]
    raw, mine = written["raw"]["rounds_rps"], written["omnigraph"]["rounds_rps"]
    first, second, median = (float(x) for x in printed.groups())
    # the JSON's rates are rounded to 0.1 req/s: the ratios agree to within that
    assert first == pytest.approx(mine[0] / raw[0], abs=0.011)
    assert second == pytest.approx(mine[1] / raw[1], abs=0.011)
    assert median == pytest.approx((first + second) / 2, abs=0.011)


def test_rounds_below_one_are_refused_before_anything_runs() -> None:
    finished = run_benchmark("run.py", "http", "--rounds", "0", timeout=120)
    assert finished.returncode == 2
    assert "--rounds must be 1 or more, got 0" in finished.stderr
    assert "preparing" not in finished.stdout
