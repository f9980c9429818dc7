"""The limits as a schema's extensions, each schema built in its test: the cost limit at its
edge, a cost counted once per document, and a validation budget that is the schema's own."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import NoSchemaIntrospectionCustomRule, parse, specified_rules, validate
from graphql.validation import OverlappingFieldsCanBeMergedRule

from omnigraph.api.schema import build_schema
from omnigraph.graph.limits import cost as cost_module
from omnigraph.graph.limits.query_limits import MAX_RULE_SETS, ValidationRules
from omnigraph.graph.overrides import graphql_schema
from omnigraph.settings import QueryLimits

ENTITIES = (
    "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Payout { id status } } }"
)


def references(count: int) -> list[dict[str, str]]:
    return [{"__typename": "Payout", "id": "UGF5b3V0OnBzcDpwb18w"}] * count


def codes(result: Any) -> list[str | None]:
    return [(error.extensions or {}).get("code") for error in result.errors or []]


async def test_references_up_to_the_cap_are_resolved_and_one_more_is_refused() -> None:
    schema = build_schema(limits=QueryLimits(max_representations=2))
    at_cap = await schema.execute(ENTITIES, variable_values={"reps": references(2)})
    assert "TOO_MANY_REPRESENTATIONS" not in codes(at_cap)
    over = await schema.execute(ENTITIES, variable_values={"reps": references(3)})
    assert [(e.message, e.extensions) for e in over.errors or []] == [
        (
            "`_entities` is given 3 references, more than the 2 allowed: ask for fewer at a time",
            {"code": "TOO_MANY_REPRESENTATIONS", "representations": 3, "maxRepresentations": 2},
        )
    ]


async def test_a_repeated_operation_is_costed_once_per_page_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walks: list[Any] = []
    count_operation = cost_module.count_operation

    def counted(*args: Any, **kwargs: Any) -> Any:
        walks.append(kwargs.get("variables"))
        return count_operation(*args, **kwargs)

    monkeypatch.setattr(cost_module, "count_operation", counted)
    schema = build_schema(limits=QueryLimits(max_cost=100))
    query = "query($n: Int) { orders(first: $n) { edges { node { id } } } }"
    for n in (40, 40, 20, 40):
        result = await schema.execute(query, variable_values={"n": n})
        assert codes(result).count("QUERY_TOO_COSTLY") == (1 if n == 40 else 0)
    assert walks == [{"n": 40}, {"n": 20}]


async def test_the_validation_budget_is_the_schemas_own() -> None:
    """Sixty fields sharing one response name: past a budget of 1,000, within the default
    50,000; and graphql-core's own budget, for other schemas in the process, is left as it was."""
    document = "{ " + " ".join(["__typename"] * 60) + " }"
    tight = await build_schema(limits=QueryLimits(validation_budget=1_000)).execute(document)
    assert [error.message for error in tight.errors or []] == ["Validation aborted."]
    ordinary = build_schema()
    answered = await ordinary.execute(document)
    assert (answered.errors, answered.data) == (None, {"__typename": "Query"})
    assert validate(graphql_schema(ordinary), parse(document)) == []


async def test_the_cost_limit_counts_with_the_schemas_own_limits() -> None:
    """20 orders of 3 lines: 1 + 20 * (4 + 3) = 141 with a list size of 3, within 150; the
    default list size (10) would make it 281."""
    limits = QueryLimits(max_cost=150, cost_list_size=3)
    schema = build_schema(limits=limits)
    query = "{ orders(first: 20) { edges { node { id lines { sku } } } } }"
    assert "QUERY_TOO_COSTLY" not in codes(await schema.execute(query))
    dearer = await schema.execute(query.replace("first: 20", "first: 22"))
    assert [e.extensions for e in dearer.errors or []] == [
        {"code": "QUERY_TOO_COSTLY", "cost": 1 + 22 * 7, "maxCost": 150}
    ]


def test_a_rule_set_is_changed_once_and_each_set_on_its_own() -> None:
    """The overlap rule bounded and the shape rule added, made once per rule set a request
    starts with; another set (another extension's rule before) gets its own; bounded."""
    rules = ValidationRules(QueryLimits())
    ordinary = tuple(specified_rules)
    changed = rules.changed(ordinary)
    assert OverlappingFieldsCanBeMergedRule not in changed
    assert changed.count(rules.overlap) == 1
    assert changed.index(rules.overlap) == ordinary.index(OverlappingFieldsCanBeMergedRule)
    assert changed[-1] is rules.added[0]
    assert len(changed) == len(ordinary) + 1
    assert rules.changed(tuple(specified_rules)) is changed  # an equal set, made once
    extra = (*ordinary, NoSchemaIntrospectionCustomRule)
    other = rules.changed(extra)
    assert other[:-1] == (*changed[:-1], NoSchemaIntrospectionCustomRule)
    assert rules.changed(ordinary) is changed
    for count in range(MAX_RULE_SETS):
        rules.changed(ordinary[count:])
    assert rules.changed(ordinary) is not changed  # started again past the bound
    assert rules.changed(ordinary) == changed
