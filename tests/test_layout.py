"""The house's rules, read off the source: which room may import which.

Every import counts, at module level or inside a function, ``TYPE_CHECKING`` included: a lazy
import hides a cycle from the interpreter, not from a reader.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "omnigraph"
DOMAINS = ("orders", "inventory", "payouts", "exceptions", "bulk")
# the GraphQL parts of a domain room: everything else in it is rules, reads and background work
DOMAIN_GRAPHQL = ("schema.py", "resolvers.py")


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def imported(name: str, path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def unit(module: str) -> str | None:
    """The top-level room (package or module) of an omnigraph module."""
    parts = module.split(".")
    if parts[0] != "omnigraph" or len(parts) < 2:
        return None
    return parts[1]


GRAPH = {name: imported(name, path) for name, path in modules()}
KNOWN_UNITS = {unit(name) for name in GRAPH} - {None}


def room_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, targets in GRAPH.items():
        source = unit(name)
        for target in targets:
            other = unit(target)
            if source and other and other != source and other in KNOWN_UNITS:
                edges.setdefault(source, set()).add(other)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one room (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def importers_of(prefix: str) -> dict[str, set[str]]:
    return {
        name: {t for t in targets if t == prefix or t.startswith(prefix + ".")}
        for name, targets in GRAPH.items()
        if any(t == prefix or t.startswith(prefix + ".") for t in targets)
    }


def test_no_two_rooms_import_each_other() -> None:
    assert cycles(room_edges()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("domain", DOMAINS)
def test_domain_rules_know_nothing_of_graphql(domain: str) -> None:
    """A room's rules, reads and background work import neither strawberry nor the edge."""
    offenders = {
        name: sorted(
            t
            for t in GRAPH[name]
            if t.split(".")[0] in {"strawberry", "graphql"}
            or unit(t) in {"graph", "api", "app", "cli"}
        )
        for name, path in modules()
        if unit(name) == domain and path.name not in DOMAIN_GRAPHQL
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_edge_never_imports_a_domain_or_the_assembly() -> None:
    offenders = {
        name: sorted(t for t in GRAPH[name] if unit(t) in {*DOMAINS, "api", "app", "cli"})
        for name in GRAPH
        if unit(name) == "graph"
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_adapters_never_import_a_graphql_library_or_the_edge() -> None:
    """Not even graphql-core: Shopify's query costs are read without it (sources/shopify)."""
    offenders = {
        name: sorted(
            t
            for t in GRAPH[name]
            if t.split(".")[0] in {"strawberry", "graphql"} or unit(t) in {"graph", "api", *DOMAINS}
        )
        for name in GRAPH
        if unit(name) == "sources"
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_core_imports_no_other_room() -> None:
    offenders = {
        name: sorted(t for t in GRAPH[name] if unit(t) not in {None, "core"})
        for name in GRAPH
        if unit(name) == "core"
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_demo_systems_are_started_only_by_serve() -> None:
    """The demo systems are the embedded default: only the app's start-up and the command
    line reach them, so no product code depends on a demo."""
    users = {unit(name) for name in importers_of("omnigraph.demo")} - {"demo"}
    assert users <= {"app", "cli"}


def test_the_wheel_holds_no_fakes_or_tests() -> None:
    assert [p.name for p in SRC.rglob("*fake*.py")] == []
    assert importers_of("tests") == {}
