"""Service settings: one model, every default stated once, here.

Each setting is read, in this order of precedence, from the arguments ``Settings(...)`` is
given, the environment (``OMNIGRAPH_*``, and a ``.env`` file), the TOML file named by
``OMNIGRAPH_CONFIG``, and else its default below. The file holds the source systems
(``[[sources]]``) and any other setting by its name (``mode = "production"``) or section
(``[limits]``). A setting in a section is read from ``OMNIGRAPH_<SECTION>__<NAME>`` and from its
flat name (``OMNIGRAPH_MAX_DEPTH`` for ``limits.max_depth``). ``docs/CONFIGURATION.md`` is
generated from this model (``omnigraph settings --markdown``).

>>> Settings(limits={"max_depth": 4}, _env_file=None).limits.max_depth
4
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from omnigraph.core.clock import DEMO_ANCHOR, parse_instant
from omnigraph.core.data_files import read_toml, validate_document
from omnigraph.core.errors import ConfigurationError
from omnigraph.core.sources import SourceKind, SourceType

__all__ = [
    "DEFAULT_CACHEABLE_FIELDS",
    "ENV_PREFIX",
    "PRODUCTION_RATE_LIMIT",
    "SHOPIFY_MAX_QUERY_COST",
    "SHOPIFY_NODES_LIMIT",
    "BreakerPolicy",
    "BulkPolicy",
    "DispatchPolicy",
    "QueryLimits",
    "Section",
    "SettingReference",
    "Settings",
    "SettingsFields",
    "ShopifyOptions",
    "SourceConfig",
    "SourcesConfig",
    "SubgraphName",
    "settings_reference",
]

ENV_PREFIX: Final = "OMNIGRAPH_"
NESTED_DELIMITER: Final = "__"
PRODUCTION_RATE_LIMIT: Final = "1200/minute"
SubgraphName = Literal["orders", "inventory", "payouts", "exceptions"]

# Single objects and availability; never the `orders` listing, which is fresh by contract.
DEFAULT_CACHEABLE_FIELDS = frozenset(
    {"availability", "exception", "node", "order", "orderByRef", "payout"}
)

# Shopify refuses a single query whose requested cost exceeds 1,000 points, on every plan...
SHOPIFY_MAX_QUERY_COST: Final = 1000
# ...and a nodes(ids:) or connection page of more than 250.
SHOPIFY_NODES_LIMIT: Final = 250


class Section(BaseModel):
    """A group of settings, a table of the TOML file. Each setting in it is also read from a
    flat variable: ``OMNIGRAPH_`` + ``flat_env_prefix`` + its name in capitals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flat_env_prefix: ClassVar[str] = ""


class QueryLimits(Section):
    """What one operation and one HTTP request may ask for (docs/SECURITY.md lists each limit
    with its test); the GraphQL edge turns them into schema extensions.

    >>> QueryLimits().max_depth
    10
    """

    max_depth: int = Field(default=10, ge=1, description="Deepest selection a query may nest.")
    max_aliases: int = Field(default=30, ge=0, description="Most aliases one document may use.")
    max_tokens: int = Field(
        default=2_000, ge=50, description="Most lexical tokens a document may have."
    )
    max_nodes: int = Field(
        default=5_000,
        ge=1,
        description="Most fields one document may select, a fragment's counted each time it is"
        " spread (`TOO_MANY_NODES`).",
    )
    validation_budget: int = Field(
        default=50_000,
        ge=1_000,
        description="Work graphql-core may spend comparing fields that share a response name in"
        " one document (its `MAX_COMPLEXITY_BUDGET`, 500,000 there) before it stops with"
        " `Validation aborted.`",
    )
    max_representations: int = Field(
        default=1_000,
        ge=1,
        description="Most entity references one federation `_entities` field may be given"
        " (`TOO_MANY_REPRESENTATIONS`); each counts in the cost.",
    )
    max_cost: int = Field(
        default=20_000,
        ge=1,
        description="Most an operation may cost: each field 1, connections times `first`.",
    )
    cost_list_size: int = Field(
        default=10, ge=1, description="Items a list without `first` is assumed to hold."
    )
    max_page_size: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="Largest `first` a connection accepts; the cost model never counts more.",
    )
    default_page_size: int = Field(
        default=50, ge=1, description="Page size the cost model assumes when `first` is unknown."
    )
    max_filter_scan_pages: int = Field(
        default=20,
        ge=1,
        description="Upstream pages a filtered order listing may read per page; a page cut"
        " short says `hasNextPage` with an `endCursor` to resume from.",
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


class BreakerPolicy(Section):
    """The circuit breaker per owner: after ``threshold`` failed deliveries in a row the owner
    is left alone for ``reset_seconds``."""

    flat_env_prefix: ClassVar[str] = "BREAKER_"

    threshold: int = Field(
        default=5, ge=1, description="Failed deliveries in a row that open an owner's circuit."
    )
    reset_seconds: float = Field(
        default=30.0, gt=0, description="How long an open circuit leaves its owner alone."
    )


class DispatchPolicy(Section):
    """How hard the outbox dispatcher tries: attempts, backoff, lease, batch and breaker."""

    flat_env_prefix: ClassVar[str] = "DISPATCH_"

    max_attempts: int = Field(
        default=8, ge=1, description="Deliveries tried before a command is dead-lettered."
    )
    backoff_seconds: float = Field(
        default=0.5,
        gt=0,
        description="Multiplier of the exponential backoff (full jitter) between attempts.",
    )
    backoff_max_seconds: float = Field(
        default=60.0, gt=0, description="Longest wait between two attempts."
    )
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a claimed command is the claimer's before another may deliver it.",
    )
    batch_size: int = Field(default=20, ge=1, le=500, description="Commands claimed at once.")
    breaker: BreakerPolicy = Field(default_factory=BreakerPolicy)


class BulkPolicy(Section):
    """Bulk exports (``runBulkQuery``): where their files live, how many run per key, how long
    a finished file is kept, and the claim that lets any replica run or resume one."""

    flat_env_prefix: ClassVar[str] = "BULK_"

    enabled: bool = Field(
        default=True, description="Run bulk exports from this process (any number may)."
    )
    directory: Path = Field(
        default=Path("./var/bulk"),
        description="Where export files are written and served from: a volume every replica"
        " shares (the state is in the database, so any replica answers and downloads).",
    )
    max_running_per_key: int = Field(
        default=2,
        ge=1,
        description="Exports one API key (or token subject) may have created or running at"
        " once; one more is refused with BULK_LIMIT_REACHED.",
    )
    retention_seconds: float = Field(
        default=604_800.0,
        gt=0,
        description="How long a finished export's file may be downloaded; then it is deleted"
        " (checked every `cleanup_interval_seconds`).",
    )
    workers: int = Field(
        default=1, ge=1, le=16, description="Exports this process runs at the same time."
    )
    claim_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a running export is its runner's without news; renewed every"
        " page. A runner that died is replaced once its claim lapses, resuming from the last"
        " page written.",
    )
    poll_seconds: float = Field(
        default=1.0, gt=0, description="How often an idle runner looks for an export to run."
    )
    pages_per_step: int = Field(
        default=20,
        ge=1,
        description="Pages a runner writes before it lets a stopping process end (the claim"
        " is kept; the next pages follow at once).",
    )
    direct_page_size: int = Field(
        default=500,
        ge=1,
        le=500,
        description="Orders a page of an orders export holds when omnigraph answers it without"
        " running GraphQL field by field: the sources' batch limit, so one call per source per"
        " level per page (a query the cost limit gives part of a full connection page gets the"
        " same part of this). Other pages hold the connection's largest `first`.",
    )
    max_page_attempts: int = Field(
        default=5,
        ge=1,
        description="Tries of one page whose source did not answer before the export fails.",
    )
    retry_seconds: float = Field(
        default=5.0, gt=0, description="Wait before a page whose source did not answer is retried."
    )
    cleanup_interval_seconds: float = Field(
        default=600.0, gt=0, description="How often expired and abandoned export files are deleted."
    )


class ShopifyOptions(BaseModel):
    """The ``options`` table of a ``type = "shopify"`` source: how Shopify's orders become the
    storefront contract's (docs/sources/shopify.md has every key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id_prefix: str = Field(
        default="",
        max_length=32,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="Put before Shopify's numeric order id to make the canonical order id "
        '("SF-" makes order 1001 "SF-1001"), so ERP and WMS references match.',
    )
    default_channel: str = Field(default="web", min_length=1)
    channel_map: dict[str, str] = Field(
        default_factory=lambda: {"web": "web"},
        description="Shopify channel handle or sourceName -> omnigraph channel.",
    )
    pickup_channel: str = Field(
        default="store-pickup",
        min_length=1,
        description="The channel of a local-pickup order that channel_map does not name.",
    )
    location_map: dict[str, str] = Field(
        default_factory=dict,
        description="Shopify location id (numeric) -> omnigraph location id, for pickups.",
    )
    max_line_items: int = Field(
        default=20,
        ge=1,
        le=SHOPIFY_NODES_LIMIT,
        description="Line items read with each order in a batch (more are read after it).",
    )
    shop_domain: str | None = Field(
        default=None,
        description="The shop's myshopify.com domain, matched against X-Shopify-Shop-Domain "
        "on webhooks; default: the host of base_url.",
    )
    max_query_cost: int = Field(default=SHOPIFY_MAX_QUERY_COST, ge=50, le=SHOPIFY_MAX_QUERY_COST)
    feed_overlap_seconds: float = Field(
        default=300,
        ge=0,
        le=86_400,
        description="The change feed's updated_at search reaches back this far before the last "
        "change it saw (second resolution, index lag); changes already seen are left out.",
    )


class SourceConfig(BaseModel):
    """One source system, a ``[[sources]]`` table of the TOML file::

    [[sources]]
    name = "web-store"
    kind = "storefront"
    base_url = "https://shim.example.com/storefront"
    token_env = "WEB_STORE_TOKEN"      # the token itself never lives in the file

    [[sources]]
    name = "stripe"
    kind = "payments"
    type = "stripe"                    # a hosted provider's own API instead of the contract
    base_url = "https://api.stripe.com"
    token_env = "STRIPE_SECRET_KEY"
    webhook_secret_env = "STRIPE_WEBHOOK_SECRET"
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,62}$", description="The source's name in provenance."
    )
    kind: SourceKind = Field(description="storefront, erp, wms or payments.")
    type: SourceType = Field(
        default=SourceType.CONTRACT,
        description="What it speaks: the source contract, or a provider's API (shopify, stripe).",
    )
    base_url: HttpUrl = Field(description="Where it answers.")
    token_env: str | None = Field(default=None, description="Env var holding the bearer token.")
    timeout_seconds: float | None = Field(
        default=None, gt=0, description="Its own upstream timeout; unset: upstream_timeout_seconds."
    )
    cache_ttl_seconds: float | None = Field(
        default=None, ge=0, description="Its own record cache TTL; unset: cache_ttl_seconds."
    )
    stale_if_error_seconds: float | None = Field(
        default=None,
        ge=0,
        description="Serve the last good copy this long when down; unset: stale_if_error_seconds"
        " (never for erp or payments).",
    )
    max_connections: int = Field(default=20, ge=1, description="Connections pooled to it.")
    api_version: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The provider API version to pin (type stripe: Stripe-Version).",
    )
    webhook_secret_env: str | None = Field(
        default=None, description="Env var holding the provider's webhook signing secret(s)."
    )
    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="type shopify: the app's client id, to obtain expiring access tokens "
        "(client credentials, or refresh_token_env) instead of a fixed token_env.",
    )
    client_secret_env: str | None = Field(
        default=None, description="type shopify: env var holding the app's client secret."
    )
    refresh_token_env: str | None = Field(
        default=None,
        description="type shopify: env var holding an expiring offline token's refresh token.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings of the type (type shopify: docs/sources/shopify.md).",
    )

    def token(self) -> str | None:
        if self.token_env is None:
            return None
        value = os.environ.get(self.token_env)
        if not value:
            raise ConfigurationError(
                f"source {self.name!r}: environment variable {self.token_env} is not set"
            )
        return value

    def client_secret(self) -> str:
        return self._required_env(self.client_secret_env, "client_secret_env")

    def refresh_token(self) -> str:
        return self._required_env(self.refresh_token_env, "refresh_token_env")

    def _required_env(self, variable: str | None, key: str) -> str:
        if variable is None:
            raise ConfigurationError(f"source {self.name!r}: {key} is not configured")
        value = os.environ.get(variable)
        if not value:
            raise ConfigurationError(
                f"source {self.name!r}: environment variable {variable} is not set"
            )
        return value

    def webhook_secrets(self) -> list[str]:
        """The webhook signing secrets (comma-separated in the variable while one is rolled)."""
        if self.webhook_secret_env is None:
            return []
        value = os.environ.get(self.webhook_secret_env, "")
        secrets = [part.strip() for part in value.split(",") if part.strip()]
        if not secrets:
            raise ConfigurationError(
                f"source {self.name!r}: environment variable {self.webhook_secret_env} is not set"
            )
        return secrets

    def shopify_options(self) -> ShopifyOptions:
        return ShopifyOptions.model_validate(self.options)

    @model_validator(mode="after")
    def _check_type(self) -> SourceConfig:
        if self.type is SourceType.STRIPE and self.kind is not SourceKind.PAYMENTS:
            raise ValueError(f"type stripe is a payments source, not {self.kind.value}")
        if self.type is SourceType.SHOPIFY:
            if self.kind is not SourceKind.STOREFRONT:
                raise ValueError(f"type shopify is a storefront source, not {self.kind.value}")
            if self.client_id is not None and self.client_secret_env is None:
                raise ValueError("client_id needs client_secret_env (the app's client secret)")
            if self.token_env is None and self.client_id is None:
                raise ValueError(
                    "type shopify needs token_env (a fixed Admin API access token), or client_id"
                    " and client_secret_env (expiring tokens)"
                )
            if self.token_env is not None and self.client_id is not None:
                raise ValueError("type shopify takes token_env or client_id, not both")
            if self.refresh_token_env is not None and self.client_id is None:
                raise ValueError("refresh_token_env needs client_id and client_secret_env")
            try:
                self.shopify_options()
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"options.{where}: {first['msg']}") from None
        else:
            if self.options and self.type is SourceType.CONTRACT:
                raise ValueError("options are only read for provider types (shopify)")
            if self.client_id or self.client_secret_env or self.refresh_token_env:
                raise ValueError(
                    "client_id, client_secret_env and refresh_token_env are for type shopify"
                )
        return self


def _check_sources(sources: Sequence[SourceConfig]) -> None:
    """Names are unique and every kind has a source, so each layer of truth has an owner."""
    duplicates = [n for n, c in Counter(s.name for s in sources).items() if c > 1]
    if duplicates:
        raise ValueError(f"source names must be unique; repeated: {', '.join(duplicates)}")
    missing = set(SourceKind) - {s.kind for s in sources}
    if missing:
        raise ValueError(
            "every source kind needs a source; missing: "
            + ", ".join(sorted(k.value for k in missing))
        )


class SourcesConfig(BaseModel):
    """All configured sources; every kind must be present so each layer of truth has an owner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[SourceConfig]

    @model_validator(mode="after")
    def _check_names_and_kinds(self) -> SourcesConfig:
        _check_sources(self.sources)
        return self

    def of_kind(self, kind: SourceKind) -> list[SourceConfig]:
        return [s for s in self.sources if s.kind is kind]


class SettingsFields(BaseModel):
    """Every setting with its default; :class:`Settings` reads them, and the TOML file is
    checked against them on its own so that its errors name it."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["development", "production"] = Field(
        default="development",
        description="production: API keys required, introspection, GraphiQL, GET queries and"
        " field suggestions off, unexpected errors masked, a rate limit.",
    )
    config: Path | None = Field(
        default=None,
        description="TOML file holding the source systems (`[[sources]]`) and any other"
        " setting; none: the built-in demo systems and the settings from the environment.",
    )
    sources: list[SourceConfig] = Field(
        default_factory=list,
        description="The source systems (the file's `[[sources]]` tables: see below); none"
        " means the built-in demo systems start with the service.",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/omnigraph.sqlite3",
        description="Omnigraph's own database; PostgreSQL as `postgresql+asyncpg://user@host/db`.",
    )
    host: str = Field(default="127.0.0.1", description="Address `omnigraph serve` binds.")
    port: int = Field(default=8000, description="Port `omnigraph serve` binds.")
    subgraph: SubgraphName | None = Field(
        default=None,
        description="Serve only this federation subgraph (behind a gateway); none = the whole"
        " graph in one process.",
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
    jwt_audience: str | None = Field(
        default=None, description="Audience a JWT must name (`aud`); none: not checked."
    )
    jwt_issuer: str | None = Field(
        default=None, description="Issuer a JWT must name (`iss`); none: not checked."
    )
    jwt_roles_claim: str = Field(default="roles", description="Claim listing omnigraph roles.")

    limits: QueryLimits = Field(default_factory=QueryLimits)
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
    apq_max_document_bytes: int = Field(
        default=32_768,
        ge=1024,
        description="Largest document automatic persisted queries learn (UTF-8 bytes); a larger"
        " one sent with its hash is refused with PERSISTED_QUERY_TOO_LARGE (a document at the"
        " token limit as clients print it is 14-18 KB). Registered documents are not capped.",
    )
    apq_max_documents_per_key: int = Field(
        default=500,
        ge=1,
        description="Documents automatic persisted queries keep per API key (or token"
        " subject); learning one more forgets that key's least recently used.",
    )
    apq_unused_days: float = Field(
        default=30.0,
        gt=0,
        description="A document learnt by automatic persisted queries and not asked for this"
        " many days is forgotten (checked hourly); registered documents are kept.",
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
    response_cache_max_entries: int = Field(
        default=10_000, ge=1, description="Answers the response cache keeps at most."
    )

    cache_ttl_seconds: float = Field(
        default=5.0, ge=0, description="Default per-source TTL for fetched records; 0 disables."
    )
    cache_max_entries: int = Field(
        default=50_000, ge=0, description="Records each source's cache keeps at most."
    )
    truth_cache_max_entries: int = Field(
        default=20_000,
        ge=0,
        description="Orders whose decided truth this process keeps, each taken again while"
        " every system's claims about the order are unchanged; 0 decides every request afresh.",
    )
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
    upstream_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Default per-source timeout of one upstream request."
    )
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
    framework_overrides: bool = Field(
        default=True,
        description="The measured overrides of strawberry and graphql-core internals"
        " (omnigraph.graph.overrides: the short leaf path, direct resolvers, validation"
        " verdicts per query text, each request's context released once its answer is made)."
        " Off, the graph runs on the frameworks' ordinary paths, with the same answers.",
    )

    task_lease_seconds: float = Field(
        default=30.0,
        ge=3,
        description="How long a replica holds a singleton background task (feeds, ledger,"
        " drift, detection, reconciliation) without renewing it (it renews every third);"
        " another replica takes the task over this long after its holder dies.",
    )
    dispatcher_enabled: bool = Field(
        default=True, description="Deliver resolution commands from this process."
    )
    dispatch: DispatchPolicy = Field(default_factory=DispatchPolicy)
    bulk: BulkPolicy = Field(default_factory=BulkPolicy)
    report_feed_enabled: bool = Field(
        default=True, description="Follow source feeds for exception reports from this process."
    )
    report_feed_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often the report feeds are read."
    )
    ledger_enabled: bool = Field(
        default=True, description="Follow the WMS feeds into the inventory ledger from here."
    )
    ledger_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        description="How often the WMS feeds are read into the ledger (a movement shows in"
        " availability within a second).",
    )
    drift_enabled: bool = Field(
        default=True, description="Compare the ledger with the WMS snapshot from here."
    )
    drift_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often the ledger is compared with the WMS."
    )
    drift_tolerance_units: int = Field(
        default=0, ge=0, description="Units of difference that are not drift."
    )
    drift_grace_seconds: float = Field(
        default=900.0, ge=0, description="How long a difference may last before it is drift."
    )
    detector_enabled: bool = Field(
        default=True, description="Scan orders for disagreements from this process."
    )
    detector_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often every order is scanned for disagreements."
    )
    detector_follow_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the storefront, ERP and WMS change feeds are read, so the orders"
        " a change touched are checked for disagreements seconds after it.",
    )
    reconcile_enabled: bool = Field(
        default=True,
        description="Sync payouts and reconcile them against orders and returns from here.",
    )
    reconcile_interval_seconds: float = Field(
        default=30.0, gt=0, description="How often payouts are synced and reconciled."
    )
    returns_sweep_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often returns are checked for a missing refund."
    )
    refund_grace_seconds: float = Field(
        default=172_800.0, ge=0, description="How long a received return may wait for a refund."
    )

    # Tracing is configured by the standard OTEL_* variables, not here.
    metrics_enabled: bool = Field(
        default=True,
        description="Serve Prometheus metrics on /metrics (unauthenticated: keep that path off"
        " the public network).",
    )
    source_status_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often at most each source is probed for /healthz, however many"
        " requests ask; a request in between is answered from the last probe.",
    )
    log_format: Literal["json", "console"] | None = Field(
        default=None,
        description="json: one JSON object a line; console: readable columns; unset: json in"
        " production, console in development.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="The least severe log lines written."
    )

    demo: bool = Field(
        default=False,
        description="Serve the built-in demo systems when no sources are configured, in"
        " production too (development serves them anyway: production refuses to start on"
        " invented data unless this asks for it).",
    )
    demo_seed: int = Field(default=7, description="Seed of the built-in demo business.")
    demo_orders: int = Field(
        default=300, ge=40, le=20_000, description="Orders the built-in demo business holds."
    )
    demo_host: str = Field(default="127.0.0.1", description="Address the demo systems bind.")
    demo_base_port: int = Field(
        default=0, ge=0, description="First of four loopback ports for the demo; 0 = ephemeral."
    )
    demo_as_of: datetime = Field(
        default=DEMO_ANCHOR,
        description="The demo business's now: its records end here, so the same instant gives"
        " the same answers on any day, and the service's clock starts here (running on with"
        " real time) while it serves the demo systems (built in, or from a file naming it, as"
        " `omnigraph demo --write` does). ISO 8601 (no offset: UTC), a date, `now` or `today`.",
    )

    @field_validator("sources")
    @classmethod
    def _sources_complete(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        if sources:
            _check_sources(sources)
        return sources

    @field_validator("demo_as_of", mode="before")
    @classmethod
    def _an_instant(cls, value: object) -> object:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=DEMO_ANCHOR.tzinfo)
        return parse_instant(value) if isinstance(value, str) else value

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


class Settings(SettingsFields, BaseSettings):
    """Process settings; ``Settings()`` reads them (see the module) or raises
    :class:`ConfigurationError` naming each bad value and where it can be set."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        env_file=".env",
        extra="ignore",
    )

    def __init__(self, **values: Any) -> None:
        unknown = sorted(k for k in values if k not in type(self).model_fields and k[0] != "_")
        if unknown:  # the environment may hold what it likes; code must name real settings
            raise ConfigurationError(f"unknown setting {', '.join(map(repr, unknown))}")
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise ConfigurationError(_explain(error)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment (a nested name before a flat one), then ``.env``
        (likewise), then the TOML file; the defaults come last by themselves."""
        return (
            init_settings,
            env_settings,
            _FlatNames(settings_cls, _env_vars(env_settings)),
            dotenv_settings,
            _FlatNames(settings_cls, _env_vars(dotenv_settings)),
            _ConfigurationFile(settings_cls),
        )

    @property
    def is_production(self) -> bool:
        return self.mode == "production"

    @property
    def serves_demo(self) -> bool:
        """Whether the built-in demo systems stand in for sources: never unasked in production."""
        return not self.sources and (self.demo or not self.is_production)

    @property
    def sources_config(self) -> SourcesConfig | None:
        """The configured sources, or None when the built-in demo systems stand in."""
        return SourcesConfig(sources=self.sources) if self.sources else None

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


@dataclass(frozen=True, slots=True)
class SettingReference:
    """One setting as docs/CONFIGURATION.md lists it.

    >>> depth = next(s for s in settings_reference() if s.name == "limits.max_depth")
    >>> depth.env, depth.default
    (('OMNIGRAPH_MAX_DEPTH', 'OMNIGRAPH_LIMITS__MAX_DEPTH'), 10)
    """

    name: str  # dotted: its place in the TOML file
    path: tuple[str, ...]
    env: tuple[str, ...]  # the flat name first
    default: Any
    description: str


def _section_of(field: FieldInfo) -> type[Section] | None:
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return annotation
    return None


def _walk(
    model: type[BaseModel], path: tuple[str, ...], flat_prefix: str | None
) -> Iterator[SettingReference]:
    for name, field in model.model_fields.items():
        here = (*path, name)
        section = _section_of(field)
        if section is not None:
            yield from _walk(section, here, section.flat_env_prefix)
            continue
        nested = ENV_PREFIX + NESTED_DELIMITER.join(here).upper()
        env = (
            (nested,)
            if flat_prefix is None
            else (ENV_PREFIX + (flat_prefix + name).upper(), nested)
        )
        default = field.get_default(call_default_factory=True)
        yield SettingReference(".".join(here), here, env, default, field.description or "")


def settings_reference() -> list[SettingReference]:
    """Every setting, with its variables and default, in the model's order."""
    return list(_walk(Settings, (), None))


@cache
def _flat_names() -> dict[str, tuple[str, ...]]:
    """Flat variable (lower case, as the environment sources keep names) -> the setting's path."""
    return {s.env[0].lower(): s.path for s in settings_reference() if len(s.env) > 1}


def _explain(error: ValidationError) -> str:
    variables = {s.path: s.env for s in settings_reference()}
    problems = []
    for entry in error.errors():
        loc = tuple(str(p) for p in entry["loc"])
        where = ".".join(loc) or "(settings)"
        env = next((variables[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in variables), ())
        named = f" ({' or '.join(env)})" if env else ""
        problems.append(f"{where}{named}: {entry['msg']}")
    return "settings are invalid: " + "; ".join(problems)


def _env_vars(source: PydanticBaseSettingsSource) -> Mapping[str, str | None]:
    return source.env_vars if isinstance(source, EnvSettingsSource) else {}


class _FlatNames(PydanticBaseSettingsSource):
    """The flat variables of settings in sections: ``OMNIGRAPH_MAX_DEPTH=12`` sets
    ``limits.max_depth`` (``OMNIGRAPH_LIMITS__MAX_DEPTH`` too, and wins)."""

    def __init__(self, settings_cls: type[BaseSettings], env_vars: Mapping[str, str | None]):
        super().__init__(settings_cls)
        self.env_vars = env_vars

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads every flat name at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for flat, path in _flat_names().items():
            value = self.env_vars.get(flat)
            if value is None:
                continue
            table = values
            for key in path[:-1]:
                table = table.setdefault(key, {})
            table[path[-1]] = value
        return values


class _ConfigurationFile(PydanticBaseSettingsSource):
    """The TOML file ``config`` names (an argument or OMNIGRAPH_CONFIG), validated by itself
    first, so that a bad entry is reported with the file's name."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads the whole file

    def __call__(self) -> dict[str, Any]:
        named = self.current_state.get("config")
        if not named:
            return {}
        path = Path(named)
        what = f"configuration file {path}"
        document = read_toml(path, what="configuration file")
        if "config" in document:
            raise ConfigurationError(f"{what}: config names this file; it cannot be set in it")
        validate_document(document, SettingsFields, what=what)
        return document
