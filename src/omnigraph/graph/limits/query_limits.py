"""The per-operation limits of the settings (``QueryLimits``) as schema extensions."""

from __future__ import annotations

from collections.abc import Callable

from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.extensions.base_extension import SchemaExtension

from omnigraph.graph.limits.cost import CostVerdicts, QueryCostLimiter
from omnigraph.settings import QueryLimits

__all__ = ["QueryLimits", "limit_extensions"]


def limit_extensions(
    limits: QueryLimits, *, validation: Callable[[], SchemaExtension] | None = None
) -> list[Callable[[], SchemaExtension]]:
    """The token limit, the depth and alias rules, ``validation`` when given (one that
    remembers verdicts per document text: ``omnigraph.graph.overrides.ValidationVerdicts``),
    then the cost limit (after validation), its verdicts remembered per document text.

    strawberry's depth and alias limiters make a new rule class per instance, that is per
    operation, which would make every validation verdict new; the rules are made once here.

    >>> len(limit_extensions(QueryLimits()))
    3
    """
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
    ]
    costs = CostVerdicts()
    return [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: AddValidationRules(rules),
        *([validation] if validation is not None else []),
        lambda: QueryCostLimiter(limits=limits, verdicts=costs),
    ]
