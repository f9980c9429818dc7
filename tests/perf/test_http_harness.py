"""The ``http`` benchmark's harness (``benchmarks/run.py http``) on a very short run: every
cell written to ``--json`` in its documented shape, the serving limit among them, the
``--workers`` cells served by ``omnigraph serve --workers 2``, the ledger lag printed. Shape
and completeness only: no figure is asserted (speed lives in ``benchmarks/``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="the http benchmark drives wrk (apt-get install wrk)"
)


def test_a_short_run_writes_one_object_per_cell(tmp_path: Path) -> None:
    cells = tmp_path / "cells.json"
    argv = [
        *("http", "--rows", "availability", "--scale", "none", "--duration", "1"),
        *("--warmup", "1", "--lag-probes", "2", "--workers", "2", "--json", str(cells)),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    finished = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), *argv],
        cwd=ROOT / "benchmarks",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
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
    out = finished.stdout
    assert "| serving limit |" in out
    assert "of the serving limit" in out
    assert "ledger event -> availability lag over 2 WMS movements on the idle service: p50" in out
    assert "(the 5 answers are identical)" in out
