"""Abuse limits: what one operation, one HTTP request and one caller may ask of the service.

Per operation (schema extensions): tokens, depth, aliases and cost (``cost``, ``query_limits``),
with cost verdicts remembered per document text (validation verdicts too while the framework
overrides are on: ``omnigraph.graph.overrides``).
Per HTTP request (``view``, ``body_size``): body size, operations per batch, execution time.
Per caller (``rate``): a moving-window rate limit per API key.
"""

from omnigraph.graph.limits.body_size import BodySizeLimit
from omnigraph.graph.limits.cost import CostVerdicts, QueryCostLimiter, operation_cost
from omnigraph.graph.limits.http_errors import CodedHTTPError, error_response
from omnigraph.graph.limits.query_limits import QueryLimits, limit_extensions
from omnigraph.graph.limits.rate import RateLimiter, rate_key
from omnigraph.graph.view import LimitedGraphQL

__all__ = [
    "BodySizeLimit",
    "CodedHTTPError",
    "CostVerdicts",
    "LimitedGraphQL",
    "QueryCostLimiter",
    "QueryLimits",
    "RateLimiter",
    "error_response",
    "limit_extensions",
    "operation_cost",
    "rate_key",
]
