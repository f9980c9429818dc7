"""Mutation testing of the rule-bearing code: how many one-line changes the tests catch.

    .venv/bin/python benchmarks/mutation.py [PACKAGE ...] [--max-children 2] [--diffs]
        [--list] [--keep]

Runs mutmut (a dev dependency) once per package below, each over its rule modules with only
the test files that cover them, and prints per package the mutation score (killed / all
mutants; a mutant no test reaches counts as survived) and each surviving mutant's name (with
``--diffs``, its diff too). No PACKAGE: every package, in the order below. The last scores and
the survivors judged equivalent are in docs/TESTING.md.

Each package runs in a copy of this checkout under ``var/mutation/<package>/`` (gitignored),
so packages do not share mutmut's state and the work tree is never touched; ``--keep`` reuses
that copy's results for mutants whose code did not change (mutmut's own cache), otherwise each
run starts afresh. mutmut lets a verdict stand even when tests were added since (unless the
package's list of test files changed, which resets every verdict), so to measure new tests,
run without ``--keep``. mutmut forks one child per mutant and re-runs the mutant's tests there (with
their session fixtures: the demo systems, a fresh SQLite database), so a package takes minutes:
``--max-children`` (default 2, the cores of the project's machines) bounds the parallel
children. Not part of ``.ci/run``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "mutation"
# what the copied checkout needs: the code, the tests, and what tests read beside them
COPIED = ("src", "tests", "docs", "schema", "pyproject.toml", "Dockerfile")


@dataclass(frozen=True)
class Package:
    """Rule modules (globs under src/) and the test files that cover them."""

    modules: tuple[str, ...]
    tests: tuple[str, ...]


PACKAGES: dict[str, Package] = {
    "pagination": Package(("omnigraph/graph/pagination.py",), ("tests/graph/test_pagination.py",)),
    "limits": Package(
        ("omnigraph/graph/limits/cost.py", "omnigraph/graph/limits/query_limits.py"),
        (
            "tests/graph/limits/test_cost.py",
            "tests/graph/limits/test_limits.py",
            "tests/graph/limits/test_fragments.py",
            # schemas built inside the test: mutmut runs a mutant only against the tests it saw
            # call the mutated function, and a module-scoped service is built in the first
            # test's setup only
            "tests/graph/limits/test_limit_extensions.py",
            "tests/graph/overrides/test_validation_cache.py",
        ),
    ),
    "permissions": Package(
        ("omnigraph/graph/permissions.py", "omnigraph/graph/matrix.py"),
        (
            "tests/graph/test_permission_rules.py",
            # the matrix applied to a small schema built in each test, asked role by role
            "tests/graph/test_matrix_applied.py",
            # the matrix's own checks; its HTTP probes (every field, every role) take minutes
            # a mutant, so they are left out here, and so is the check that reads the guards
            # off each field (mutmut's wrappers are not the permission classes it looks for)
            *(
                f"tests/graph/test_matrix.py::{name}"
                for name in (
                    "test_the_matrix_names_only_real_types_and_fields",
                    "test_every_filter_names_the_field_it_filters_on",
                    "test_every_filter_on_something_restricted_carries_its_guard",
                )
            ),
        ),
    ),
    "orders": Package(
        ("omnigraph/orders/truth.py", "omnigraph/orders/authority.py"),
        (
            "tests/orders/test_truth.py",
            "tests/orders/test_authority.py",
            "tests/orders/test_kept_truths.py",
        ),
    ),
    "payouts": Package(
        ("omnigraph/payouts/matching.py", "omnigraph/payouts/payout_equation.py"),
        ("tests/payouts/test_matching.py",),
    ),
    "exceptions": Package(
        ("omnigraph/exceptions/lifecycle.py", "omnigraph/exceptions/catalogue.py"),
        (
            "tests/exceptions/test_intake_and_catalogue.py",
            "tests/exceptions/test_catalogue_rules.py",
        ),
    ),
    "outbox": Package(
        ("omnigraph/exceptions/dispatcher.py",),
        (
            "tests/exceptions/test_delivery.py",
            "tests/exceptions/test_resolution.py",
            "tests/exceptions/test_dispatch_outcomes.py",
            # test_dispatcher_crash.py is left out: its dispatchers run in subprocesses that
            # import the installed package, never the mutant
        ),
    ),
    "inventory": Package(
        ("omnigraph/inventory/policy.py", "omnigraph/inventory/availability.py"),
        (
            "tests/inventory/test_sellable.py",
            "tests/inventory/test_availability_rules.py",
            "tests/inventory/test_priority.py::test_only_fences_of_channels_ranked_at_or_above_hold",
            # the read itself (read_availability) over the demo's ledger
            "tests/inventory/test_schema.py",
            "tests/inventory/test_reservations.py::"
            "test_availability_counts_live_reservations_of_its_sku_and_location_only",
            "tests/inventory/test_reservations.py::"
            "test_a_scheduled_wholesale_read_adds_the_open_receipts_of_its_sku",
        ),
    ),
    "ledger": Package(
        ("omnigraph/inventory/ledger.py", "omnigraph/inventory/movements.py"),
        # the feeds paged into the ledger and the positions (with the property test that
        # compares paging with applying the movements one by one), and each movement against
        # the contract's table and its refusals
        ("tests/inventory/test_ledger.py", "tests/inventory/test_movements.py"),
    ),
    "reservations": Package(
        ("omnigraph/inventory/reservations.py",),
        (
            "tests/inventory/test_reservations.py",
            "tests/inventory/test_sellable.py",
            # the other tests there cut a reservation off with a timeout: seconds a mutant
            "tests/inventory/test_concurrent_writes.py::"
            "test_64_concurrent_reservations_all_get_answers_and_the_ledger_holds_exactly_theirs",
        ),
    ),
}

# mutmut's exit codes (mutmut.models.results): what each means for the score
# a test failed or crashed, the tests timed out (-24, 24, 36, 152, 255), or were killed
KILLED = {1, 3, -24, 24, 36, 37, 152, 255, -9, -11}
SKIPPED = {34}
NO_TESTS = {5, 33}


def prepare(name: str, package: Package, *, keep: bool) -> Path:
    """A copy of the checkout whose pyproject.toml tells mutmut what to mutate and run."""
    here = WORK / name
    if here.exists() and not keep:
        shutil.rmtree(here)
    here.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", "node_modules")
    for item in COPIED:
        source, target = ROOT / item, here / item
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, target)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project.setdefault("tool", {}).pop("mutmut", None)
    config = {
        "source_paths": ["src"],
        "only_mutate": [f"src/{module}" for module in package.modules],
        "also_copy": ["docs", "schema", "Dockerfile"],
        # a test file not written yet (measuring an older checkout) is left out
        "pytest_add_cli_args_test_selection": [
            test for test in package.tests if (ROOT / test.split("::")[0]).exists()
        ],
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q"],
        "use_git_change_detection": False,
    }
    with (here / "pyproject.toml").open("a") as out:
        out.write("\n[tool.mutmut]\n")
        for key, value in config.items():
            out.write(f"{key} = {json.dumps(value)}\n")
    return here


def run(name: str, package: Package, *, max_children: int, keep: bool) -> Path:
    here = prepare(name, package, keep=keep)
    # SQLite only: mutants run side by side, and each session starts by emptying its database,
    # so a PostgreSQL database named by OMNIGRAPH_TEST_DATABASE_URL would be shared and emptied
    # under a neighbour's feet
    dropped = ("PYTHONPATH", "MUTANT_UNDER_TEST", "OMNIGRAPH_TEST_DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    mutmut = Path(sys.executable).with_name("mutmut")
    log = here / "mutmut.log"
    with log.open("w") as out:
        subprocess.run(
            [str(mutmut), "run", "--max-children", str(max_children)],
            cwd=here,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return here


@dataclass
class Score:
    killed: int = 0
    survived: int = 0
    no_tests: int = 0
    skipped: int = 0
    not_run: int = 0
    survivors: list[str] | None = None

    @property
    def total(self) -> int:
        return self.killed + self.survived + self.no_tests

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 0.0


def score(here: Path) -> Score:
    """Read mutmut's results (``mutants/**/*.meta``) of one package's run."""
    result = Score(survivors=[])
    for meta in sorted((here / "mutants").rglob("*.py.meta")):
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        for mutant, code in sorted(codes.items()):
            if code in KILLED:
                result.killed += 1
            elif code in SKIPPED:
                result.skipped += 1
            elif code in NO_TESTS:
                result.no_tests += 1
                result.survivors.append(f"{mutant} (no test reaches it)")
            elif code is None:  # mutmut stopped before it (interrupted, or its setup failed)
                result.not_run += 1
            else:  # 0: the tests passed
                result.survived += 1
                result.survivors.append(mutant)
    return result


def diff(here: Path, mutant: str) -> str:
    mutmut = Path(sys.executable).with_name("mutmut")
    shown = subprocess.run(
        [str(mutmut), "show", mutant.split(" ")[0]],
        cwd=here,
        capture_output=True,
        text=True,
        check=False,
    )
    return shown.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packages", nargs="*", metavar="PACKAGE", help=", ".join(PACKAGES))
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--diffs", action="store_true", help="print each survivor's diff")
    parser.add_argument("--list", action="store_true", help="list the packages and stop")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="reuse the last run's verdicts (not for measuring new tests: they stand)",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="print the last run's scores, run nothing"
    )
    args = parser.parse_args()
    names = args.packages or list(PACKAGES)
    unknown = [name for name in names if name not in PACKAGES]
    if unknown:
        parser.error(f"unknown package {', '.join(unknown)}; known: {', '.join(PACKAGES)}")
    if args.list:
        for name in names:
            package = PACKAGES[name]
            print(f"{name}: {', '.join(package.modules)} <- {', '.join(package.tests)}")
        return
    rows = []
    for name in names:
        here = WORK / name
        if not args.report_only:
            print(f"== {name}: mutating {', '.join(PACKAGES[name].modules)}", flush=True)
            here = run(name, PACKAGES[name], max_children=args.max_children, keep=args.keep)
        result = score(here)
        rows.append((name, result))
        if result.not_run:
            print(
                f"== {name}: {result.not_run} mutants were not run; mutmut stopped early"
                f" (see {here.relative_to(ROOT)}/mutmut.log)",
                flush=True,
            )
        print(
            f"== {name}: {result.percent:.1f}% killed ({result.killed} of {result.total};"
            f" {result.survived} survived, {result.no_tests} reached by no test)",
            flush=True,
        )
        for survivor in result.survivors or []:
            print(f"   survived: {survivor}")
            if args.diffs:
                print(diff(here, survivor))
    print("\n| package | killed | mutants | score |\n| --- | --- | --- | --- |")
    for name, result in rows:
        print(f"| {name} | {result.killed} | {result.total} | {result.percent:.1f}% |")


if __name__ == "__main__":
    main()
