"""A compiled selection answers exactly what graphql-core's ordinary path answers: the same
data in the same order, the same errors at the same paths, no resolver called twice, and a
document's names kept out of the code; and it is compiled only once its plan has served."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
import strawberry
from strawberry.extensions import ParserCache

from omnigraph.graph.overrides import compiled_selection, graphql_schema, leaf_execution
from omnigraph.graph.overrides.lean_resolvers import lighten
from tests.graph.overrides.test_leaf_execution import (
    ASYNC_QUERIES,
    MEASURED,
    _key_order,
    answer,
    infos_built,
    schemas,
)


def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The type of each selection compiled from now on, in order."""
    names: list[str] = []
    original = compiled_selection.compile_selection

    def counted(specs: Any, parent_type: Any, helpers: Any) -> Any:
        names.append(parent_type.name)
        return original(specs, parent_type, helpers)

    monkeypatch.setattr(leaf_execution, "compile_selection", counted)
    return names


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every plan compiled on its first object; the type of each selection compiled, in
    order."""
    monkeypatch.setattr(leaf_execution, "COMPILE_AFTER", 0)
    return compiles(monkeypatch)


def _pair(*, lean: bool) -> tuple[strawberry.Schema, strawberry.Schema]:
    ordinary, fast = schemas(extensions=[ParserCache])
    if lean:
        lighten(fast)  # as the service runs: resolvers taking no info are handed none
    return ordinary, fast


def _same(got: Any, expected: Any) -> None:
    assert got.data == expected.data
    assert _key_order(got.data) == _key_order(expected.data)
    assert [(e.message, e.path) for e in got.errors or []] == [
        (e.message, e.path) for e in expected.errors or []
    ]


# object fields read from their attribute beside a leaf, so their selection is compiled: every
# value the attribute's short read declines (a null where none may be, an error, an object of
# another type, an awaitable) goes to the field's ordinary path
MIXED = [
    "{ shelves { place item { sku } spare { sku label } missing { sku } } }",
    "{ shelves { place broken { sku } misplaced { sku } wrong { sku } } }",
    "{ shelves { place spareBox { missing } box { name words } } }",
    "{ shelves { place vetted { sku } stock { sku } } }",
    "{ asyncShelf { place later { sku label } item { sku } } }",
    "{ shelves { place missingBox { label } } }",
    "{ boxes { name __typename contents { sku label } first { sku } } }",
]


@pytest.mark.parametrize("lean", [True, False], ids=["lean resolvers", "strawberry's"])
@pytest.mark.parametrize("query", ASYNC_QUERIES + MIXED)
async def test_a_compiled_selection_answers_as_the_ordinary_path_does(
    query: str, lean: bool, compiled: list[str]
) -> None:
    ordinary, fast = _pair(lean=lean)
    expected = await ordinary.execute(query)
    for _ in range(3):  # planned and compiled, then on the compiled plan
        _same(await fast.execute(query), expected)


def test_the_service_s_kinds_of_field_are_compiled(compiled: list[str]) -> None:
    """Plain leaves, info-free leaves, lists of text and of plain objects, and a selection
    mixing them with fields on their ordinary path: each compiled, each answered inline."""
    _, fast = _pair(lean=True)
    query = "{ boxes { name words gappyMeasures { name quantity } first { sku } label } }"
    first = answer(fast, query)
    assert first["errors"] == []
    assert compiled.count("Box") == 1
    assert answer(fast, query) == first
    assert first["data"]["boxes"][0] == {
        "name": "one",
        "words": ["one", "ONE"],
        "gappyMeasures": [{"name": "one", "quantity": 1}, None],
        "first": {"sku": "A-1"},
        "label": "ONE",
    }
    assert compiled.count("Box") == 1  # once per selection: the plan keeps it
    # a selection with no field to gain (an object field alone) is not compiled
    compiled.clear()
    answer(fast, "{ shelves { box { name } } }")
    assert "Shelf" not in compiled


def test_no_info_is_built_for_what_a_compiled_selection_answers_inline(
    compiled: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, fast = _pair(lean=True)
    built = infos_built(monkeypatch)
    query = "{ boxes { name words number measures { name } gappyMeasures { quantity } } }"
    first = answer(fast, query)
    assert first["errors"] == []
    assert first["data"]["boxes"][1] == {
        "name": "two",
        "words": ["two", "TWO"],
        "number": "3",
        "measures": [{"name": "w"}, {"name": "h"}],
        "gappyMeasures": [{"quantity": 1}, None],
    }
    # ``number`` hands an int where String is asked: serialised with an info, as before
    assert built == ["number", "number"]
    # a list read from its attribute whose items are no plain leaves: no info for it either
    built.clear()
    contents = answer(fast, "{ boxes { name contents { sku label } } }")
    assert contents["data"]["boxes"][1] == {
        "name": "two",
        "contents": [{"sku": "B-2", "label": "B-2 x0"}],
    }
    assert built == []


def test_a_resolver_is_called_once_whatever_its_value(compiled: list[str]) -> None:
    """A list the compiled path declines (an Int past 32 bits) is completed from the value
    the resolver returned, not by calling it again."""
    _, fast = _pair(lean=True)
    query = "{ boxes { measures { name quantity } } }"
    for _ in range(3):
        MEASURED.clear()
        result = answer(fast, query)
        assert result["errors"][0][1] == ["boxes", 1, "measures", 1, "quantity"]
        assert MEASURED == ["one", "two"]
    assert "Box" in compiled


def test_a_document_s_names_are_data_not_code(compiled: list[str]) -> None:
    """Aliases that are Python keywords, builtins or the compiled function's own names answer
    as any other: they never become code."""
    _, fast = _pair(lean=True)
    aliases = ["class", "def", "results", "source", "ex", "U", "pending", "import", "v"]
    query = "{ boxes { " + " ".join(f"{a}: name" for a in aliases) + " w: words } }"
    for _ in range(2):
        result = answer(fast, query)
        assert result["errors"] == []
        assert result["data"]["boxes"][0] == {**dict.fromkeys(aliases, "one"), "w": ["one", "ONE"]}
    assert "Box" in compiled


def test_a_plan_is_compiled_once_it_has_completed_enough_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A document asked once never pays for compiling, however many objects it completes:
    its plan is compiled once it has completed ``COMPILE_AFTER`` objects in the document's
    later requests, and once only."""
    names = compiles(monkeypatch)
    _, fast = _pair(lean=True)
    query = "{ boxes { name words } }"  # two boxes a request
    expected = answer(fast, query)  # the document's first request: not counted
    for _ in range(leaf_execution.COMPILE_AFTER // 2):
        assert answer(fast, query) == expected
    assert names == []
    assert answer(fast, query) == expected  # 64 boxes counted: compiled now
    assert names == ["Box"]
    for _ in range(3):
        assert answer(fast, query) == expected
    assert names == ["Box"]
    plans = graphql_schema(fast).extensions[leaf_execution.PLANS]
    kept = [
        plan.compiled[0] for document in plans.values() for plan in document.object_plans.values()
    ]
    assert any(callable(state) for state in kept)


def test_a_schema_is_freed_once_dropped_with_its_compiled_selections(
    compiled: list[str],
) -> None:
    """A compiled function's namespace holds its selection's type and steps, and the schema
    keeps the function in its plans: a cycle the collector frees with the schema."""
    _, fast = _pair(lean=True)
    query = "{ boxes { name words gappyMeasures { quantity } contents { sku label } } }"
    for _ in range(2):
        assert answer(fast, query)["errors"] == []
    assert {"Box", "Item"} <= set(compiled)
    core = weakref.ref(graphql_schema(fast))
    del fast
    gc.collect()
    assert core() is None


def test_a_document_planned_per_request_is_never_compiled(compiled: list[str]) -> None:
    """A document whose selections depend on its variables (a directive) is planned anew for
    each request: compiling its plans would cost every request, so they run from steps."""
    _, fast = _pair(lean=True)
    query = "{ boxes { name words @include(if: true) } }"
    expected = answer(fast, query)
    assert expected["data"]["boxes"][0] == {"name": "one", "words": ["one", "ONE"]}
    for _ in range(3):
        assert answer(fast, query) == expected
    assert compiled == []
    assert answer(fast, "{ boxes { name words } }") == expected  # the same without: compiled
    assert compiled == ["Box"]


def test_a_document_asked_once_is_never_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    """However many objects its one request completes: each new document (an alias changed)
    would otherwise pay for compiling its selections."""
    names = compiles(monkeypatch)
    monkeypatch.setattr(leaf_execution, "COMPILE_AFTER", 1)  # a box more than the first
    _, fast = _pair(lean=True)
    for alias in ("a", "b", "c"):
        assert answer(fast, f"{{ boxes {{ {alias}: name words }} }}")["errors"] == []
    assert names == []
    again = "{ boxes { a: name words } }"
    assert answer(fast, again)["errors"] == []  # asked again: its two boxes counted
    assert names == []
    assert answer(fast, again)["errors"] == []  # and compiled on the next
    assert names == ["Box"]
