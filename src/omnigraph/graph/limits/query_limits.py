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
from omnigraph.graph.overrides.validation_cache import ValidationVerdicts
from omnigraph.settings import QueryLimits

__all__ = ["QueryLimits", "limit_extensions"]


def limit_extensions(limits: QueryLimits) -> list[Callable[[], SchemaExtension]]:
    """The token limit, validation (with the depth and alias rules) remembered per document
    text, then the cost limit (after validation), its verdicts remembered too.

    strawberry's depth and alias limiters make a new rule class per instance, that is per
    operation, which would make every validation verdict new; the rules are made once here.

    >>> len(limit_extensions(QueryLimits()))
    4
    """
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
    ]
    validation = ValidationVerdicts()
    costs = CostVerdicts()
    return [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: AddValidationRules(rules),
        validation.extension,
        lambda: QueryCostLimiter(limits=limits, verdicts=costs),
    ]
