"""``benchmarks/hot_path.py --calls`` as a user runs it: the calls a request, then the
functions with the most time of their own, each with its calls a request. Shape and
consistency only: no figure is asserted (speed lives in ``benchmarks/``)."""

from __future__ import annotations

import re

from tests.perf.scripts import run_benchmark


def test_calls_name_the_functions_with_the_most_time_of_their_own() -> None:
    finished = run_benchmark("hot_path.py", "fixed", "--calls", "--requests", "10", "--top", "6")
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    lines = finished.stdout.splitlines()
    total = re.fullmatch(r"fixed: ([\d,]+) Python calls a request \(10, one at a time\)", lines[0])
    assert total is not None, lines[:3]
    assert lines[1].split()[:3] == ["calls", "own", "ms"]
    row = re.compile(r"\s*([\d,.]+)\s+([\d.]+)\s+([\d.]+)  (.+)")
    rows = [row.fullmatch(line) for line in lines[2:8]]
    assert all(row is not None for row in rows), lines[2:8]
    figures = [(float(r[1].replace(",", "")), float(r[2]), float(r[3])) for r in rows if r]
    # ranked by own time; a function's own time is part of its cumulative time
    assert [own for _, own, _ in figures] == sorted((own for _, own, _ in figures), reverse=True)
    assert all(own <= cumulative + 1e-9 and calls > 0 for calls, own, cumulative in figures)
    # no listed function is called more often than all the calls a request together
    assert max(calls for calls, _, _ in figures) <= float(total[1].replace(",", ""))
    # the --top functions and no more (the lines after them are the service's log lines)
    assert not any(row.fullmatch(line) for line in lines[8:])


def test_paired_compiled_rounds_give_both_figures_and_their_ratio() -> None:
    """``--paired-compiled``: each round's two figures and their ratio, then the median of
    the ratios, all consistent with each other (no figure asserted)."""
    finished = run_benchmark(
        "hot_path.py", "availability", "--paired-compiled", "3", "--requests", "20"
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    row = re.compile(
        r"round (\d): compiled ([\d.]+), steps ([\d.]+) CPU ms a request; compiled/steps ([\d.]+)"
    )
    rounds = [m for line in finished.stdout.splitlines() if (m := row.fullmatch(line))]
    assert [int(m[1]) for m in rounds] == [1, 2, 3]
    ratios = []
    for m in rounds:
        compiled, steps, ratio = float(m[2]), float(m[3]), float(m[4])
        assert compiled > 0
        assert steps > 0
        assert abs(ratio - compiled / steps) <= 0.01 * ratio  # the printed figures are rounded
        ratios.append(ratio)
    median = re.search(
        r"compiled/steps, median of 3 rounds: ([\d.]+) \((\d+) selections compiled\)",
        finished.stdout,
    )
    assert median is not None, finished.stdout[-2000:]
    assert float(median[1]) == sorted(ratios)[1]
    assert int(median[2]) >= 1  # the answers' selection at least
