"""The per-operation limits of the settings (``QueryLimits``) as schema extensions."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from graphql import ASTValidationRule, ValidationContext
from graphql.validation import OverlappingFieldsCanBeMergedRule
from graphql.validation.rules import overlapping_fields_can_be_merged
from strawberry.extensions import MaxTokensLimiter
from strawberry.extensions.base_extension import SchemaExtension

from omnigraph.graph.limits.cost import CostVerdicts, QueryCostLimiter
from omnigraph.graph.limits.deadline import DeadlineCheck
from omnigraph.graph.limits.shape import shape_rule
from omnigraph.settings import QueryLimits

__all__ = [
    "LimitedValidation",
    "QueryLimits",
    "ValidationRules",
    "bounded_overlap_rule",
    "limit_extensions",
]

Rules = tuple[type[ASTValidationRule], ...]
# rule sets remembered (strawberry starts every request with the same one; others are rare)
MAX_RULE_SETS = 16


def limit_extensions(
    limits: QueryLimits, *, validation: Callable[[], SchemaExtension] | None = None
) -> list[Callable[[], SchemaExtension]]:
    """The token limit, the validation rules with the depth, alias and node limits,
    ``validation`` when given (one that remembers verdicts per document text:
    ``omnigraph.graph.overrides.ValidationVerdicts``), then the deadline check and the cost
    limit (after validation), its verdicts remembered per document text.

    >>> len(limit_extensions(QueryLimits()))
    4
    """
    rules = ValidationRules(limits)
    costs = CostVerdicts()
    return [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: LimitedValidation(rules),
        *([validation] if validation is not None else []),
        DeadlineCheck,
        lambda: QueryCostLimiter(limits=limits, verdicts=costs),
    ]


class ValidationRules:
    """The rules ``LimitedValidation`` changes, made once per schema so every validation
    verdict has the same rule set."""

    def __init__(self, limits: QueryLimits) -> None:
        self.added: Rules = (shape_rule(limits),)
        self.overlap = bounded_overlap_rule(limits.validation_budget)
        # per rule set a request starts with (strawberry's: the same rules each request), the
        # changed set, made once
        self._changed: dict[Rules, Rules] = {}

    def changed(self, rules: Rules) -> Rules:
        """``rules`` with the overlap rule bounded and the shape rule added."""
        found = self._changed.get(rules)
        if found is None:
            if len(self._changed) >= MAX_RULE_SETS:  # other extensions vary them: start again
                self._changed.clear()
            found = self._changed[rules] = (
                *(
                    self.overlap if rule is OverlappingFieldsCanBeMergedRule else rule
                    for rule in rules
                ),
                *self.added,
            )
        return found


class LimitedValidation(SchemaExtension):
    """graphql-core's rules with two changes:

    - the depth, alias and node limits, one rule that counts each fragment once
      (``omnigraph.graph.limits.shape``): strawberry's ``QueryDepthLimiter`` and
      ``MaxAliasesLimiter`` walk a fragment every time it is spread, twice the work for each
      fragment spreading the previous one twice;
    - the rule that fields sharing a response name can be merged, with
      ``limits.validation_budget`` for its work instead of graphql-core's 500,000, which lets
      one document of repeated fields hold the event loop for about half a second.
    """

    def __init__(self, rules: ValidationRules) -> None:
        self.rules = rules

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = self.rules.changed(context.validation_rules)
        yield


def bounded_overlap_rule(budget: int) -> type[ASTValidationRule]:
    """graphql-core's ``OverlappingFieldsCanBeMergedRule`` with ``budget`` for its work.

    graphql-core reads its module's ``MAX_COMPLEXITY_BUDGET`` (its documented knob) when the
    rule is made; it is set for that moment only, so schemas with other budgets, in the same
    process, keep theirs."""

    class BoundedOverlappingFieldsRule(OverlappingFieldsCanBeMergedRule):
        def __init__(self, context: ValidationContext) -> None:
            module = overlapping_fields_can_be_merged
            default = module.MAX_COMPLEXITY_BUDGET
            module.MAX_COMPLEXITY_BUDGET = budget
            try:
                super().__init__(context)
            finally:
                module.MAX_COMPLEXITY_BUDGET = default

    return BoundedOverlappingFieldsRule
