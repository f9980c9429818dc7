"""The source systems omnigraph federates, read from a TOML file and validated at start-up.

Example ``omnigraph.toml``::

    [[sources]]
    name = "web-store"
    kind = "storefront"
    base_url = "https://shim.example.com/storefront"
    token_env = "WEB_STORE_TOKEN"      # the token itself never lives in the file

    [[sources]]
    name = "erp"
    kind = "erp"
    base_url = "https://erp-shim.example.com"
    cache_ttl_seconds = 30

    [[sources]]
    name = "stripe"
    kind = "payments"
    type = "stripe"                    # a hosted provider's own API instead of the contract
    base_url = "https://api.stripe.com"
    token_env = "STRIPE_SECRET_KEY"
    webhook_secret_env = "STRIPE_WEBHOOK_SECRET"
"""

from __future__ import annotations

import os
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from omnigraph.core.errors import ConfigurationError
from omnigraph.core.sources import SourceKind, SourceType

__all__ = [
    "SourceConfig",
    "SourcesConfig",
    "load_sources_config",
]


class SourceConfig(BaseModel):
    """One configured source system."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    kind: SourceKind
    type: SourceType = SourceType.CONTRACT
    base_url: HttpUrl
    token_env: str | None = Field(default=None, description="Env var holding the bearer token.")
    timeout_seconds: float | None = Field(default=None, gt=0)
    cache_ttl_seconds: float | None = Field(default=None, ge=0)
    stale_if_error_seconds: float | None = Field(
        default=None, ge=0, description="Serve the last good copy this long when down."
    )
    max_connections: int = Field(default=20, ge=1)
    api_version: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The provider API version to pin (type stripe: Stripe-Version).",
    )
    webhook_secret_env: str | None = Field(
        default=None, description="Env var holding the provider's webhook signing secret(s)."
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

    @model_validator(mode="after")
    def _check_type(self) -> SourceConfig:
        if self.type is SourceType.STRIPE and self.kind is not SourceKind.PAYMENTS:
            raise ValueError(f"type stripe is a payments source, not {self.kind.value}")
        if self.type is SourceType.SHOPIFY:
            if self.kind is not SourceKind.STOREFRONT:
                raise ValueError(f"type shopify is a storefront source, not {self.kind.value}")
            if self.token_env is None:
                raise ValueError("type shopify needs token_env (the Admin API access token)")
            from omnigraph.sources.shopify.options import ShopifyOptions  # no import cycle

            try:
                ShopifyOptions.model_validate(self.options)
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"options.{where}: {first['msg']}") from None
        elif self.options and self.type is SourceType.CONTRACT:
            raise ValueError("options are only read for provider types (shopify)")
        return self


class SourcesConfig(BaseModel):
    """All configured sources; every kind must be present so each layer of truth has an owner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[SourceConfig]

    @model_validator(mode="after")
    def _check_names_and_kinds(self) -> SourcesConfig:
        duplicates = [n for n, c in Counter(s.name for s in self.sources).items() if c > 1]
        if duplicates:
            raise ValueError(f"source names must be unique; repeated: {', '.join(duplicates)}")
        missing = set(SourceKind) - {s.kind for s in self.sources}
        if missing:
            raise ValueError(
                "every source kind needs a source; missing: "
                + ", ".join(sorted(k.value for k in missing))
            )
        return self

    def of_kind(self, kind: SourceKind) -> list[SourceConfig]:
        return [s for s in self.sources if s.kind is kind]


def load_sources_config(path: Path) -> SourcesConfig:
    """Read and validate ``path``; raise :class:`ConfigurationError` with a readable message."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"configuration file {path} is not valid TOML: {error}") from None
    try:
        return SourcesConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigurationError.from_validation(
            f"configuration file {path} is invalid", error
        ) from None
