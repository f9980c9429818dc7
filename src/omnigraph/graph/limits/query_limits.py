"""The per-operation limits as one value, built from settings, turned into schema extensions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.extensions.base_extension import SchemaExtension

from omnigraph.graph.limits.cost import CostModel, CostVerdicts, QueryCostLimiter
from omnigraph.graph.overrides.validation_cache import ValidationVerdicts
from omnigraph.settings import Settings

__all__ = ["QueryLimits"]


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """What one operation may ask for; the defaults are the settings' defaults.

    >>> QueryLimits().max_depth
    10
    """

    max_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 2_000
    max_cost: int = 20_000
    cost: CostModel = field(default_factory=CostModel)
    max_batch_operations: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryLimits:
        return cls(
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            max_cost=settings.max_cost,
            cost=CostModel(
                default_page_size=settings.default_page_size,
                max_page_size=settings.max_page_size,
                list_size=settings.cost_list_size,
            ),
            max_batch_operations=settings.max_batch_operations,
        )

    def extensions(self) -> list[Callable[[], SchemaExtension]]:
        """The token limit, validation (with the depth and alias rules) remembered per document
        text, then the cost limit (after validation), its verdicts remembered too.

        strawberry's depth and alias limiters make a new rule class per instance, that is per
        operation, which would make every validation verdict new; the rules are made once here.
        """
        rules = [
            *QueryDepthLimiter(max_depth=self.max_depth).validation_rules,
            *MaxAliasesLimiter(max_alias_count=self.max_aliases).validation_rules,
        ]
        validation = ValidationVerdicts()
        costs = CostVerdicts()
        return [
            lambda: MaxTokensLimiter(max_token_count=self.max_tokens),
            lambda: AddValidationRules(rules),
            validation.extension,
            lambda: QueryCostLimiter(max_cost=self.max_cost, model=self.cost, verdicts=costs),
        ]
