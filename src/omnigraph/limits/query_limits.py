"""The per-operation limits as one value, built from settings, turned into schema extensions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.extensions.base_extension import SchemaExtension

from omnigraph.limits.cost import CostModel, QueryCostLimiter
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
        """strawberry's token, depth and alias limiters, then the cost limit (after validation)."""
        return [
            lambda: MaxTokensLimiter(max_token_count=self.max_tokens),
            lambda: QueryDepthLimiter(max_depth=self.max_depth),
            lambda: MaxAliasesLimiter(max_alias_count=self.max_aliases),
            lambda: QueryCostLimiter(max_cost=self.max_cost, model=self.cost),
        ]
