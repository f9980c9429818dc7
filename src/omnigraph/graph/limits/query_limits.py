"""The per-operation limits of the settings (``QueryLimits``) as schema extensions."""

from __future__ import annotations

from collections.abc import Callable

from graphql import ASTValidationRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.extensions.base_extension import SchemaExtension

from omnigraph.graph.limits.cost import CostVerdicts, QueryCostLimiter
from omnigraph.graph.limits.shape import shape_rule
from omnigraph.settings import QueryLimits

__all__ = ["QueryLimits", "limit_extensions"]


def limit_extensions(
    limits: QueryLimits, *, validation: Callable[[], SchemaExtension] | None = None
) -> list[Callable[[], SchemaExtension]]:
    """The token limit, the depth, alias and node rule, ``validation`` when given (one that
    remembers verdicts per document text: ``omnigraph.graph.overrides.ValidationVerdicts``),
    then the cost limit (after validation), its verdicts remembered per document text.

    The depth, alias and node counts are one rule (``omnigraph.graph.limits.shape``) that counts
    each fragment once: strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` walk a
    fragment every time it is spread, twice the work for each fragment spreading the previous
    one twice. The rule is made once here, so every validation verdict has the same rule set.

    >>> len(limit_extensions(QueryLimits()))
    3
    """
    rules: list[type[ASTValidationRule]] = [shape_rule(limits)]
    costs = CostVerdicts()
    return [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: AddValidationRules(rules),
        *([validation] if validation is not None else []),
        lambda: QueryCostLimiter(limits=limits, verdicts=costs),
    ]
