"""Service settings: every knob has an ``OMNIGRAPH_*`` environment variable.

Settings describe how this process runs (database, mode, limits); which source systems exist is
configuration of another kind and lives in the TOML file named by ``OMNIGRAPH_CONFIG``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from omnigraph.exceptions.dispatcher import DispatchPolicy

__all__ = ["DEFAULT_CACHEABLE_FIELDS", "PRODUCTION_RATE_LIMIT", "Settings", "SubgraphName"]

PRODUCTION_RATE_LIMIT = "1200/minute"
SubgraphName = Literal["orders", "inventory", "payouts", "exceptions"]


# Single objects and availability; never the `orders` listing, which is fresh by contract.
DEFAULT_CACHEABLE_FIELDS = frozenset(
    {"availability", "exception", "node", "order", "orderByRef", "payout"}
)


class Settings(BaseSettings):
    """Process settings, read from ``OMNIGRAPH_*`` variables (and ``.env`` when present)."""

    model_config = SettingsConfigDict(env_prefix="OMNIGRAPH_", env_file=".env", extra="ignore")

    mode: Literal["development", "production"] = "development"
    config: Path | None = Field(
        default=None,
        description="TOML file naming the source systems; none means the built-in demo systems.",
    )
    authority_rules: Path | None = Field(
        default=None, description="Authority rules TOML; none means the built-in defaults."
    )
    exception_catalogue: Path | None = Field(
        default=None, description="Exception catalogue TOML; none means the built-in one."
    )
    auth_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long a resolved API key is trusted before a re-read."
    )
    jwt_secret: SecretStr | None = Field(
        default=None, description="Shared secret (HS256) for JWT bearer tokens; none = no JWTs."
    )
    jwt_jwks_url: str | None = Field(
        default=None, description="JWKS URL of the identity provider signing JWT bearer tokens."
    )
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_roles_claim: str = Field(default="roles", description="Claim listing omnigraph roles.")

    # Abuse limits and trusted documents (docs/SECURITY.md lists each with its test).
    max_depth: int = Field(default=10, ge=1, description="Deepest selection a query may nest.")
    max_aliases: int = Field(default=30, ge=0, description="Most aliases one document may use.")
    max_tokens: int = Field(
        default=2_000, ge=50, description="Most lexical tokens a document may have."
    )
    max_cost: int = Field(
        default=20_000,
        ge=1,
        description="Most an operation may cost: each field 1, connections times `first`.",
    )
    cost_list_size: int = Field(
        default=10, ge=1, description="Items a list without `first` is assumed to hold."
    )
    max_batch_operations: int = Field(
        default=10, ge=0, description="Operations one batched HTTP request may carry; 0 = none."
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1_024, description="Largest HTTP request body /graphql reads."
    )
    execution_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Longest one operation may run before TIMEOUT."
    )
    rate_limit: str | None = Field(
        default=None,
        description="Per API key (or client address without one), as '1200/minute' or"
        " '20/second;1200/minute'; 'off' disables; unset: off in development, 1200/minute in"
        " production.",
    )
    rate_limit_storage: str | None = Field(
        default=None,
        description="Where rate-limit windows are counted (a `limits` storage URI); unset: the"
        " Redis of OMNIGRAPH_REDIS_URL when set, else this process's memory (async+memory://).",
    )
    trusted_documents: Literal["off", "apq", "allowlist"] = Field(
        default="apq",
        description="off; apq: automatic persisted queries; allowlist: only registered"
        " operations run.",
    )

    response_cache_seconds: float = Field(
        default=0.0,
        ge=0,
        le=60,
        description="How long the answer to a trusted document (asked for by the hash of a"
        " registered operation) is served again to the same caller with the same variables;"
        " 0 turns the response cache off. Any change this process learns of forgets every"
        " answer (docs/PERFORMANCE.md).",
    )
    response_cache_fields: frozenset[str] = Field(
        default=DEFAULT_CACHEABLE_FIELDS,
        description="Root fields whose answers may be cached; an operation with any other"
        ' root field always executes (JSON list, e.g. \'["orderByRef","availability"]\').',
    )
    response_cache_max_entries: int = Field(default=10_000, ge=1)

    database_url: str = "sqlite+aiosqlite:///./var/omnigraph.sqlite3"
    host: str = "127.0.0.1"
    port: int = 8000
    subgraph: SubgraphName | None = Field(
        default=None,
        description="Serve only this federation subgraph (behind a gateway); none = the whole"
        " graph in one process.",
    )

    cache_ttl_seconds: float = Field(
        default=5.0, ge=0, description="Default per-source TTL for fetched records; 0 disables."
    )
    cache_max_entries: int = Field(default=50_000, ge=0)
    redis_url: str | None = Field(
        default=None,
        description="Redis shared by the replicas (redis://host:6379/0): the source record"
        " cache, subscription events and rate-limit counts; none: all in this process.",
    )
    redis_key_prefix: str = Field(
        default="omnigraph",
        min_length=1,
        description="Prefix of every Redis key and channel, so deployments can share a Redis.",
    )
    upstream_timeout_seconds: float = Field(default=5.0, gt=0)
    stale_if_error_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How long a storefront or WMS answer may be served stale while it is down"
        " (never ERP or payments: money is not served stale); 0 disables.",
    )
    gc_young_threshold: int = Field(
        default=50_000,
        ge=0,
        description="Allocations between the garbage collector's young collections while the"
        " service runs (Python's default, 700, spends most of a large page's CPU collecting);"
        " start-up's heap is frozen too. 0 leaves the collector as Python sets it.",
    )
    max_page_size: int = Field(default=100, ge=1, le=1000)
    default_page_size: int = Field(default=50, ge=1)
    max_filter_scan_pages: int = Field(
        default=20, ge=1, description="Upstream pages a filtered order listing may read per page."
    )

    dispatcher_enabled: bool = Field(
        default=True, description="Deliver resolution commands from this process."
    )
    dispatch_max_attempts: int = Field(default=8, ge=1)
    dispatch_backoff_seconds: float = Field(default=0.5, gt=0)
    dispatch_backoff_max_seconds: float = Field(default=60.0, gt=0)
    dispatch_lease_seconds: float = Field(default=30.0, gt=0)
    dispatch_batch_size: int = Field(default=20, ge=1, le=500)
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    report_feed_enabled: bool = Field(
        default=True, description="Follow source feeds for exception reports from this process."
    )
    report_feed_poll_seconds: float = Field(default=2.0, gt=0)
    ledger_enabled: bool = Field(
        default=True, description="Follow the WMS feeds into the inventory ledger from here."
    )
    ledger_poll_seconds: float = Field(default=1.0, gt=0)
    drift_enabled: bool = Field(
        default=True, description="Compare the ledger with the WMS snapshot from here."
    )
    drift_interval_seconds: float = Field(default=300.0, gt=0)
    drift_tolerance_units: int = Field(default=0, ge=0)
    drift_grace_seconds: float = Field(default=900.0, ge=0)
    detector_enabled: bool = Field(
        default=True, description="Scan orders for disagreements from this process."
    )
    detector_interval_seconds: float = Field(default=300.0, gt=0)
    reconcile_enabled: bool = Field(
        default=True,
        description="Sync payouts and reconcile them against orders and returns from here.",
    )
    reconcile_interval_seconds: float = Field(default=30.0, gt=0)
    returns_sweep_interval_seconds: float = Field(default=300.0, gt=0)
    refund_grace_seconds: float = Field(
        default=172_800.0, ge=0, description="How long a received return may wait for a refund."
    )

    # Observability (tracing is configured by the standard OTEL_* variables, not here).
    metrics_enabled: bool = Field(
        default=True,
        description="Serve Prometheus metrics on /metrics (unauthenticated: keep that path off"
        " the public network).",
    )
    log_format: Literal["json", "console"] | None = Field(
        default=None,
        description="json: one JSON object a line; console: readable columns; unset: json in"
        " production, console in development.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    demo_seed: int = 7
    demo_orders: int = Field(default=300, ge=10, le=20_000)
    demo_host: str = "127.0.0.1"
    demo_base_port: int = Field(
        default=0, ge=0, description="First of four loopback ports for the demo; 0 = ephemeral."
    )

    @property
    def is_production(self) -> bool:
        return self.mode == "production"

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() == "off":
            return value
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            example = "'1200/minute' or '20/second;1200/minute'"
            raise ValueError(f"{value!r} is not a rate limit: write e.g. {example}") from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_any_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_is_one(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"{value!r} is not a Redis URL: write e.g. redis://127.0.0.1:6379/0")
        return value

    @property
    def effective_rate_limit_storage(self) -> str:
        """The `limits` storage counting rate-limit windows: shared through Redis when set."""
        if self.rate_limit_storage:
            return self.rate_limit_storage
        if self.redis_url:
            return f"async+{self.redis_url}".replace("async+unix://", "async+redis+unix://")
        return "async+memory://"

    @property
    def effective_log_format(self) -> Literal["json", "console"]:
        if self.log_format is None:
            return "json" if self.is_production else "console"
        return self.log_format

    @property
    def effective_rate_limit(self) -> str | None:
        """The rate limit in force, or None when there is none."""
        if self.rate_limit is None:
            return PRODUCTION_RATE_LIMIT if self.is_production else None
        return None if self.rate_limit.strip().lower() == "off" else self.rate_limit

    def dispatch_policy(self) -> DispatchPolicy:
        from omnigraph.exceptions.dispatcher import DispatchPolicy

        return DispatchPolicy(
            max_attempts=self.dispatch_max_attempts,
            backoff_multiplier=self.dispatch_backoff_seconds,
            backoff_max=self.dispatch_backoff_max_seconds,
            lease_seconds=self.dispatch_lease_seconds,
            batch_size=self.dispatch_batch_size,
            breaker_threshold=self.breaker_threshold,
            breaker_ttl=self.breaker_reset_seconds,
        )
