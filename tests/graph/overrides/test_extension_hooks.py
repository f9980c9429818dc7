"""Extension hooks found once per class run as strawberry's runner runs them: the same hooks in
the same order, the same nesting, the same exceptions seen and suppressed, the same results,
the same refusals; and they are found once per class, not once per request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import ExtensionContextManagerBase
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from omnigraph.graph.build import OmnigraphSchema
from omnigraph.graph.overrides import LeanExtensionsRunner, extension_hooks

RUNNERS = {"strawberry": SchemaExtensionsRunner, "lean": LeanExtensionsRunner}


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str = "world") -> str:
        if name == "boom":
            raise ValueError("the resolver failed")
        return f"hello {name}"


class Journal:
    """What every extension of one schema saw, in order."""

    def __init__(self) -> None:
        self.lines: list[str] = []


def _extensions(journal: Journal) -> list[type[SchemaExtension]]:
    class Generators(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            journal.lines.append("generators: operation in")
            try:
                yield
            except GraphQLError as error:  # never raised through a hook by strawberry itself
                journal.lines.append(f"generators: saw {error.message}")
                raise
            journal.lines.append(
                f"generators: operation out, result {self.execution_context.result is not None}"
            )

        def on_parse(self) -> Iterator[None]:
            journal.lines.append("generators: parse in")
            yield
            journal.lines.append("generators: parse out")

        def on_validate(self) -> Iterator[None]:
            journal.lines.append("generators: validate in")
            yield
            journal.lines.append("generators: validate out")

        def on_execute(self) -> Iterator[None]:
            journal.lines.append("generators: execute in")
            self.execution_context.extensions_results["written"] = "directly"
            yield
            journal.lines.append("generators: execute out")

    class AsyncGenerators(SchemaExtension):
        async def on_operation(self) -> AsyncIterator[None]:
            journal.lines.append("async: operation in")
            await asyncio.sleep(0)
            yield
            journal.lines.append("async: operation out")

        async def on_execute(self) -> AsyncIterator[None]:
            journal.lines.append("async: execute in")
            yield
            journal.lines.append("async: execute out")

    class Plain(SchemaExtension):
        def on_parse(self) -> None:  # type: ignore[override]
            journal.lines.append("plain: parse")

        async def on_validate(self) -> None:  # type: ignore[override]
            await asyncio.sleep(0)
            journal.lines.append("plain: validate, awaited")

    class Results(SchemaExtension):
        def get_results(self) -> dict[str, Any]:
            return {"sync": self.execution_context.operation_name or "anonymous"}

    class AwaitedResults(SchemaExtension):
        async def get_results(self) -> dict[str, Any]:  # type: ignore[override]
            await asyncio.sleep(0)
            return {"awaited": True}

    class Inner(SchemaExtension):
        """Last: entered last, left first."""

        def on_execute(self) -> Iterator[None]:
            journal.lines.append("inner: execute in")
            yield
            journal.lines.append("inner: execute out")

    return [Generators, AsyncGenerators, Plain, Results, AwaitedResults, Inner]


async def _run(runner: type[SchemaExtensionsRunner], query: str) -> tuple[Any, list[str]]:
    journal = Journal()
    schema = OmnigraphSchema(query=Query, extensions=_extensions(journal))
    schema.extensions_runner = runner
    result = await schema.execute(query)
    errors = [(error.message, error.path) for error in result.errors or []]
    return (result.data, errors, result.extensions), journal.lines


@pytest.mark.parametrize(
    "query",
    [
        "query Greeting { hello }",
        '{ hello(name: "boom") }',  # a resolver's error
        "{ nothing }",  # refused by validation
        "{ hello",  # refused by the parser
    ],
)
async def test_every_kind_of_hook_runs_as_strawberry_runs_it(query: str) -> None:
    answers = {name: await _run(runner, query) for name, runner in RUNNERS.items()}
    assert answers["lean"] == answers["strawberry"]
    result, lines = answers["lean"]
    if query.startswith("query Greeting"):
        assert result[0] == {"hello": "hello world"}
        assert result[2] == {"sync": "Greeting", "awaited": True, "written": "directly"}
        # entered in the extensions' order, left in the reverse one
        assert lines == [
            "generators: operation in",
            "async: operation in",
            "generators: parse in",
            "plain: parse",
            "generators: parse out",
            "generators: validate in",
            "plain: validate, awaited",
            "generators: validate out",
            "generators: execute in",
            "async: execute in",
            "inner: execute in",
            "inner: execute out",
            "async: execute out",
            "generators: execute out",
            "async: operation out",
            "generators: operation out, result True",
        ]


class Refusing(SchemaExtension):
    """Refuses once execution is done, by raising from its hook on the way out."""

    def on_execute(self) -> Iterator[None]:
        yield
        raise GraphQLError("not today", extensions={"code": "REFUSED"})


class RefusingAtOnce(SchemaExtension):
    """Refuses before execution, by raising from its hook on the way in."""

    def on_execute(self) -> Iterator[None]:
        raise GraphQLError("not now", extensions={"code": "REFUSED"})
        yield  # pragma: no cover - a generator that raises before its first yield


class Swallowing(SchemaExtension):
    """Around execution: records what came through and lets it go on."""

    seen: list[str] = []

    def on_execute(self) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            Swallowing.seen.append(type(error).__name__)
            raise


class CountingHook:
    """A callable object as a hook: strawberry's ``get_hook`` wraps it; the runner asks it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, extension: SchemaExtension) -> None:
        self.calls += 1


class NotCallable(SchemaExtension):
    on_parse = 5  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("refusing", "message", "seen"),
    [
        # on the way out: the outer hook sees the inner one's refusal go by
        (Refusing, "not today", ["GraphQLError"]),
        # on the way in: strawberry leaves the hooks already entered as they are
        (RefusingAtOnce, "not now", []),
    ],
)
async def test_a_hook_that_raises_refuses_the_operation_as_strawberry_does(
    refusing: type[SchemaExtension], message: str, seen: list[str]
) -> None:
    answers = []
    for runner in RUNNERS.values():
        Swallowing.seen = []
        schema = OmnigraphSchema(query=Query, extensions=[Swallowing, refusing])
        schema.extensions_runner = runner
        result = await schema.execute("{ hello }")
        answers.append(
            (result.data, [(e.message, e.extensions) for e in result.errors or []], Swallowing.seen)
        )
    assert answers[0] == answers[1]
    assert answers[1][1] == [(message, {"code": "REFUSED"})]
    assert answers[1][2] == seen


async def test_hooks_strawberry_would_wrap_or_refuse_are_left_to_it() -> None:
    hook = CountingHook()

    class WithCallable(SchemaExtension):
        on_validate = hook  # type: ignore[assignment]

    for runner in RUNNERS.values():
        schema = OmnigraphSchema(query=Query, extensions=[WithCallable])
        schema.extensions_runner = runner
        result = await schema.execute("{ hello }")
        assert result.data == {"hello": "hello world"}
    assert hook.calls == 2  # once through each runner

    for runner in RUNNERS.values():
        schema = OmnigraphSchema(query=Query, extensions=[NotCallable])
        schema.extensions_runner = runner
        result = await schema.execute("{ hello }")
        # strawberry refuses a hook that is not callable, the same way through either runner
        assert result.data is None
        [error] = result.errors or []
        assert error.message.startswith("Hook on_parse on <")
        assert "NotCallable object at" in error.message
        assert error.message.endswith("must be callable, received 5")


STAGES = ("operation", "parsing", "validation", "executing")


def _hooks_by_stage(runner: SchemaExtensionsRunner) -> dict[str, list[tuple[Any, bool]]]:
    """Each stage's hooks as ``runner`` hands them out: the extension and whether awaited."""
    return {
        stage: [(hook.extension, hook.is_async) for hook in getattr(runner, stage)().hooks]
        for stage in STAGES
    }


def test_each_stage_holds_the_hooks_strawberry_finds_and_asks_it_for_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    journal = Journal()
    schema = OmnigraphSchema(query=Query, extensions=_extensions(journal))
    extensions = schema.get_extensions()
    context = ExecutionContext(query="{ hello }", schema=schema, allowed_operations=())
    expected = _hooks_by_stage(SchemaExtensionsRunner(context, extensions))
    asked: list[SchemaExtension] = []
    original = ExtensionContextManagerBase.get_hook

    def get_hook(self: ExtensionContextManagerBase, extension: SchemaExtension) -> Any:
        asked.append(extension)
        return original(self, extension)

    monkeypatch.setattr(ExtensionContextManagerBase, "get_hook", get_hook)
    found = _hooks_by_stage(LeanExtensionsRunner(context, extensions))
    assert found == expected
    assert [len(found[stage]) for stage in STAGES] == [2, 2, 2, 3]
    # generator, async generator and plain hooks are the runner's own to wrap
    assert asked == []


async def test_hooks_are_found_once_per_class_not_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    journal = Journal()
    schema = OmnigraphSchema(query=Query, extensions=_extensions(journal))
    schema.extensions_runner = LeanExtensionsRunner
    found: list[tuple[str, str]] = []
    original = extension_hooks._hook_of

    def counting(extension_class: type[SchemaExtension], hook_name: str) -> Any:
        found.append((extension_class.__name__, hook_name))
        return original(extension_class, hook_name)

    monkeypatch.setattr(extension_hooks, "_hook_of", counting)
    for _ in range(3):
        result = await schema.execute("{ hello }")
        assert result.data == {"hello": "hello world"}
    # six classes, four stages: asked once each, on the first request (new classes)
    assert len(found) == 24
    assert len(set(found)) == 24
    assert journal.lines.count("inner: execute out") == 3


async def test_the_service_schema_runs_its_extensions_through_the_lean_runner() -> None:
    from omnigraph.api.schema import build_schema

    assert build_schema().extensions_runner is LeanExtensionsRunner
    assert build_schema(framework_overrides=False).extensions_runner is SchemaExtensionsRunner
