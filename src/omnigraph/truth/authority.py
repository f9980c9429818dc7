"""Authority rules: which source kind the graph believes for each contested field.

Rules are data (``authority.toml`` beside this module by default) so the business can change whom
the graph believes without a code change. Unknown fields or kinds fail at load time.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from omnigraph.config import SourceKind
from omnigraph.errors import ConfigurationError

__all__ = ["DEFAULT_RULES_PATH", "KNOWN_FIELDS", "AuthorityRules", "FieldAuthority"]

DEFAULT_RULES_PATH = Path(__file__).with_name("authority.toml")
KNOWN_FIELDS = frozenset(
    {
        "state",
        "totals.total",
        "lines.unitPrice",
        "financialStatus",
        "currency",
        "customer",
        "channel",
        "placedAt",
        "lines.quantity",
        "lines.shipped",
        "shipments",
        "payments",
    }
)


@dataclass(frozen=True, slots=True)
class FieldAuthority:
    owner: SourceKind
    fallback: tuple[SourceKind, ...] = ()

    def preference(self) -> tuple[SourceKind, ...]:
        return (self.owner, *self.fallback)


@dataclass(frozen=True, slots=True)
class AuthorityRules:
    fields: dict[str, FieldAuthority]

    def for_field(self, field: str) -> FieldAuthority:
        return self.fields[field]

    def owner_of(self, field: str) -> SourceKind:
        return self.fields[field].owner

    @classmethod
    def load(cls, path: Path = DEFAULT_RULES_PATH) -> AuthorityRules:
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigurationError(f"authority rules {path}: {error}") from None
        fields: dict[str, FieldAuthority] = {}
        for field, rule in raw.get("fields", {}).items():
            if field not in KNOWN_FIELDS:
                raise ConfigurationError(f"authority rules {path}: unknown field {field!r}")
            try:
                owner = SourceKind(rule["owner"])
                fallback = tuple(SourceKind(kind) for kind in rule.get("fallback", []))
            except (KeyError, ValueError, TypeError) as error:
                raise ConfigurationError(
                    f"authority rules {path}: field {field!r} has a bad owner or fallback: {error}"
                ) from None
            fields[field] = FieldAuthority(owner, fallback)
        missing = KNOWN_FIELDS - fields.keys()
        if missing:
            raise ConfigurationError(
                f"authority rules {path}: no owner for {', '.join(sorted(missing))}"
            )
        return cls(fields)
