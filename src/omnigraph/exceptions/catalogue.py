"""The exception catalogue as validated data: owner, severity and resolutions per kind.

Each resolution names the command sent to the owning system, a payload template over the
exception's details, and the outcome the business should expect for inventory, order and money.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from omnigraph.core.data_files import load_toml
from omnigraph.core.errors import ConfigurationError
from omnigraph.core.sources import SourceKind

__all__ = [
    "COMMANDS",
    "DEFAULT_CATALOGUE_PATH",
    "ExceptionCatalogue",
    "ExceptionKind",
    "KindRule",
    "PayloadNotApplicable",
    "ResolutionRule",
    "Severity",
]


DEFAULT_CATALOGUE_PATH = Path(__file__).with_name("catalogue.toml")


_PLACEHOLDER = re.compile(r"\{details\.([A-Za-z_][A-Za-z0-9_]*)\}")


class ExceptionKind(enum.StrEnum):
    SHORT_PICK = "SHORT_PICK"
    SUBSTITUTION = "SUBSTITUTION"
    DAMAGE = "DAMAGE"
    MISSED_PICKUP = "MISSED_PICKUP"
    PARTIAL_SHIPMENT = "PARTIAL_SHIPMENT"
    LATE_CANCELLATION = "LATE_CANCELLATION"
    STATE_DISAGREEMENT = "STATE_DISAGREEMENT"
    PRICE_DISAGREEMENT = "PRICE_DISAGREEMENT"
    INVENTORY_DRIFT = "INVENTORY_DRIFT"
    OVERSELL_RISK = "OVERSELL_RISK"
    PAYOUT_MISMATCH = "PAYOUT_MISMATCH"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    REFUND_WITHOUT_RETURN = "REFUND_WITHOUT_RETURN"
    RETURN_WITHOUT_REFUND = "RETURN_WITHOUT_REFUND"


class Severity(enum.StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class PayloadNotApplicable(ValueError):
    """The exception lacks a detail the resolution's command needs."""


class ResolutionRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str
    payload: dict[str, Any] = Field(default_factory=dict)
    inventory: str
    order: str
    money: str

    def render(self, details: dict[str, Any]) -> dict[str, Any]:
        """The command payload for an exception with ``details``."""

        def fill(template: Any) -> Any:
            if not isinstance(template, str):
                return template
            whole = _PLACEHOLDER.fullmatch(template)
            if whole:
                return _detail(details, whole.group(1))
            return _PLACEHOLDER.sub(lambda m: str(_detail(details, m.group(1))), template)

        return {key: fill(value) for key, value in self.payload.items()}


def _detail(details: dict[str, Any], name: str) -> Any:
    value = details.get(name)
    if value is None:
        # a detector that knows why a detail cannot exist says so under ``unavailable``
        unavailable = details.get("unavailable")
        reason = unavailable.get(name) if isinstance(unavailable, dict) else None
        raise PayloadNotApplicable(reason or f"the exception has no {name!r} detail")
    return value


class KindRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: SourceKind
    owner_source: str | None = None
    severity: Severity = Severity.MEDIUM
    raised: str = Field(description="Who raises it, and when: for the docs and the console.")
    resolutions: dict[str, ResolutionRule]

    @model_validator(mode="after")
    def _commands_exist_at_the_owner(self) -> KindRule:
        for name, rule in self.resolutions.items():
            if rule.command not in COMMANDS[self.owner]:
                raise ValueError(
                    f"resolution {name}: {self.owner.value} has no command {rule.command!r}"
                )
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
                raise ValueError(f"resolution {name!r} must be UPPER_SNAKE_CASE")
        if not self.resolutions:
            raise ValueError("at least one resolution is needed")
        return self

    def applicable(self, details: dict[str, Any]) -> dict[str, ResolutionRule]:
        """The resolutions whose command can be made for an exception with ``details``: one
        whose payload needs a detail the case lacks (a line number for an order-level price
        case, an excess for an undercharge) is not offered."""
        found: dict[str, ResolutionRule] = {}
        for name, rule in self.resolutions.items():
            try:
                rule.render(details)
            except PayloadNotApplicable:
                continue
            found[name] = rule
        return found


class _CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kinds: dict[ExceptionKind, KindRule]


class ExceptionCatalogue:
    """Rules for every exception kind, loaded from a TOML file."""

    def __init__(self, kinds: dict[ExceptionKind, KindRule]) -> None:
        self.kinds = kinds

    def rule(self, kind: ExceptionKind | str) -> KindRule:
        return self.kinds[ExceptionKind(kind)]

    def check_sources(self, configured: dict[str, SourceKind]) -> None:
        """Fail at start-up when a rule names a source that is not configured as its owner."""
        for kind, rule in self.kinds.items():
            if rule.owner_source is None:
                continue
            actual = configured.get(rule.owner_source)
            if actual is not rule.owner:
                raise ConfigurationError(
                    f"exception catalogue: {kind.value} names owner_source "
                    f"{rule.owner_source!r}, which is not a configured {rule.owner.value} source"
                )

    @classmethod
    def load(cls, path: Path | None = None) -> ExceptionCatalogue:
        path = path or DEFAULT_CATALOGUE_PATH
        parsed = load_toml(path, _CatalogueFile, what="exception catalogue")
        missing = set(ExceptionKind) - parsed.kinds.keys()
        if missing:
            raise ConfigurationError(
                f"exception catalogue {path}: no rule for {', '.join(sorted(missing))}"
            )
        return cls(parsed.kinds)


COMMANDS: dict[SourceKind, frozenset[str]] = {
    SourceKind.STOREFRONT: frozenset(
        {
            "order.cancel",
            "customer.notify",
            "order.reinstate",
            "return.open",
            "order.sync_fulfilment",
            "record.resync",
        }
    ),
    SourceKind.ERP: frozenset(
        {"credit_memo.issue", "price.confirm", "price.adjust", "record.resync"}
    ),
    SourceKind.WMS: frozenset(
        {
            "fulfilment.ship_partial",
            "fulfilment.backorder",
            "fulfilment.substitute",
            "fulfilment.cancel_line",
            "fulfilment.replace",
            "fulfilment.ship_remainder",
            "fulfilment.cancel_remainder",
            "pickup.extend_hold",
            "pickup.cancel",
            "pickup.convert_to_ship",
            "inventory.cycle_count",
            "record.resync",
        }
    ),
    SourceKind.PAYMENTS: frozenset(
        {"refund.create", "payout.investigate", "payout.accept_variance", "record.resync"}
    ),
}
