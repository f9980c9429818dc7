"""Running a script of ``benchmarks/`` as a user runs it, for the tests of the harness."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(
    script: str, *argv: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``benchmarks/<script>`` with ``argv``, from that folder, the project's ``src`` on the
    path; what it exited with and printed."""
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *argv],
        cwd=ROOT / "benchmarks",
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
