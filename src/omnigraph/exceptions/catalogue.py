"""The exception catalogue as validated data: owner, severity and allowed resolutions per kind."""

from __future__ import annotations

import enum
import tomllib
from dataclasses import dataclass
from pathlib import Path

from omnigraph.config import SourceKind
from omnigraph.errors import ConfigurationError

__all__ = ["DEFAULT_CATALOGUE_PATH", "ExceptionCatalogue", "ExceptionKind", "KindRule", "Severity"]

DEFAULT_CATALOGUE_PATH = Path(__file__).with_name("catalogue.toml")


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
    REFUND_WITHOUT_RETURN = "REFUND_WITHOUT_RETURN"
    RETURN_WITHOUT_REFUND = "RETURN_WITHOUT_REFUND"


class Severity(enum.StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


@dataclass(frozen=True, slots=True)
class KindRule:
    owner: SourceKind
    severity: Severity
    resolutions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExceptionCatalogue:
    kinds: dict[ExceptionKind, KindRule]

    def rule(self, kind: ExceptionKind) -> KindRule:
        return self.kinds[kind]

    @classmethod
    def load(cls, path: Path = DEFAULT_CATALOGUE_PATH) -> ExceptionCatalogue:
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigurationError(f"exception catalogue {path}: {error}") from None
        kinds: dict[ExceptionKind, KindRule] = {}
        for name, rule in raw.get("kinds", {}).items():
            try:
                kind = ExceptionKind(name)
                kinds[kind] = KindRule(
                    owner=SourceKind(rule["owner"]),
                    severity=Severity(rule.get("severity", "MEDIUM")),
                    resolutions=tuple(str(r) for r in rule["resolutions"]),
                )
            except (KeyError, ValueError, TypeError) as error:
                raise ConfigurationError(
                    f"exception catalogue {path}: kind {name!r} is invalid: {error!r}"
                ) from None
        missing = set(ExceptionKind) - kinds.keys()
        if missing:
            raise ConfigurationError(
                f"exception catalogue {path}: no rule for {', '.join(sorted(missing))}"
            )
        return cls(kinds)
