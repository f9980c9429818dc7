"""Validation remembered per document text: a repeated operation is validated once, and a
refused one is refused the same way every time."""

from __future__ import annotations

from typing import Any

import pytest
from strawberry.schema import schema as strawberry_schema

from omnigraph.api.schema import build_schema
from omnigraph.graph.limits.query_limits import QueryLimits
from omnigraph.graph.overrides import validation_cache


def record_validations(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[str]:
    """The document texts ``module`` validates from now on, in order."""
    seen: list[str] = []
    validate = strawberry_schema.validate_document

    def counting(schema: Any, document: Any, rules: Any) -> Any:
        seen.append(document.loc.source.body)
        return validate(schema, document, rules)

    monkeypatch.setattr(module, "validate_document", counting)
    return seen


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The document texts the overrides' cache validated, in order."""
    return record_validations(monkeypatch, validation_cache)


async def test_a_repeated_document_is_validated_once(validations: list[str]) -> None:
    schema = build_schema(limits=QueryLimits(max_depth=3))
    query = "{ __typename }"
    for _ in range(3):
        result = await schema.execute(query)
        assert result.errors is None
        assert result.data == {"__typename": "Query"}
    assert validations == [query]


async def test_a_refused_document_is_refused_every_time(validations: list[str]) -> None:
    schema = build_schema(limits=QueryLimits(max_depth=2, max_aliases=1))
    deep = '{ orderByRef(source: "web-store", ref: "x") { lines { provenance { source } } } }'
    aliased = "{ a: __typename b: __typename }"
    for _ in range(2):
        (depth,) = (await schema.execute(deep)).errors or []
        assert "exceeds maximum operation depth of 2" in depth.message
        (aliases,) = (await schema.execute(aliased)).errors or []
        assert "aliases" in aliases.message
    assert validations == [deep, aliased]


async def test_schemas_with_other_limits_keep_their_own_verdicts(validations: list[str]) -> None:
    deep = '{ orderByRef(source: "web-store", ref: "x") { lines { provenance { source } } } }'
    strict = build_schema(limits=QueryLimits(max_depth=2))
    lenient = build_schema(limits=QueryLimits(max_depth=10))
    assert (await strict.execute(deep)).errors
    result = await lenient.execute(deep)
    assert not any("depth" in error.message for error in result.errors or [])


async def test_without_the_overrides_strawberry_validates_every_time(
    validations: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ordinary = record_validations(monkeypatch, strawberry_schema)
    schema = build_schema(limits=QueryLimits(max_depth=2), framework_overrides=False)
    deep = '{ orderByRef(source: "web-store", ref: "x") { lines { provenance { source } } } }'
    for _ in range(2):
        (depth,) = (await schema.execute(deep)).errors or []
        assert "exceeds maximum operation depth of 2" in depth.message
    assert validations == []  # the verdicts per text are not asked
    assert ordinary == [deep, deep]
