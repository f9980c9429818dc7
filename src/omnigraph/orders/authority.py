"""Authority rules: which system the graph believes for each canonical field.

Rules are data (``authority.toml`` beside this module, or the file named by
``OMNIGRAPH_AUTHORITY_RULES``) so the business can change whom the graph believes without a code
change. A file naming an unknown field, kind or source fails at start-up with a clear message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from omnigraph.core.data_files import load_toml
from omnigraph.core.errors import ConfigurationError
from omnigraph.core.provenance import Claim, Fact
from omnigraph.core.sources import SourceKind

__all__ = ["DEFAULT_RULES_PATH", "KNOWN_FIELDS", "AuthorityRules", "FieldAuthority", "decide"]

DEFAULT_RULES_PATH = Path(__file__).with_name("authority.toml")
KNOWN_FIELDS = frozenset(
    {
        "channel",
        "customer",
        "placedAt",
        "fulfilmentMethod",
        "lines.quantity",
        "cancellation",
        "currency",
        "totals",
        "lines.unitPrice",
        "terms",
        "financialStatus",
        "creditMemos",
        "state",
        "lines.execution",
        "shipments",
        "payments",
    }
)
_KINDS = {kind.value for kind in SourceKind}
_LINE_INDEX = re.compile(r"\[.*\]")  # to the last bracket: a SKU may hold brackets
_PATHS_REMEMBERED = 50_000


class FieldAuthority(BaseModel):
    """Who owns one field, whom to believe until the owner has a record, how long lag is fine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: str
    fallback: tuple[str, ...] = ()
    grace_seconds: float = Field(default=0, ge=0)

    @property
    def grace(self) -> timedelta:
        return timedelta(seconds=self.grace_seconds)

    def preference(self) -> tuple[str, ...]:
        return (self.owner, *self.fallback)

    @cached_property
    def _positions(self) -> tuple[dict[str, int], int]:
        """Each entry of the preference at its first position, and the rank of none."""
        preference = self.preference()
        positions: dict[str, int] = {}
        for index, entry in enumerate(preference):
            positions.setdefault(entry, index)
        return positions, len(preference)

    def rank(self, source: str, kind: SourceKind) -> int:
        """Position of a source in the preference: the first entry naming it or its kind (a
        source named before its kind ranks by its name); after every entry if none does."""
        positions, last = self._positions
        # a SourceKind is a str: it finds its value's entry (reading ``.value`` costs more)
        return min(positions.get(source, last), positions.get(kind, last))

    def owns(self, source: str, kind: SourceKind) -> bool:
        return self.owner in (source, kind)  # a SourceKind is a str: no .value


class _RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: dict[str, FieldAuthority]


class AuthorityRules:
    """The rules for every known field."""

    def __init__(self, fields: Mapping[str, FieldAuthority]) -> None:
        self.fields = dict(fields)
        # each served path's rule, found once: an order lookup asks about 60 times a request
        self._by_path: dict[str, FieldAuthority] = {}

    def for_field(self, path: str) -> FieldAuthority:
        """The rule for a served path: ``lines[SKU-1].unitPrice`` -> ``lines.unitPrice``,
        ``totals.total`` -> ``totals``, ``lines[SKU-1].shipped`` -> ``lines.execution``."""
        found = self._by_path.get(path)
        if found is None:
            if len(self._by_path) >= _PATHS_REMEMBERED:
                self._by_path.clear()  # paths name SKUs: bounded, not kept for ever
            found = self._by_path[path] = self._rule_for(path)
        return found

    def _rule_for(self, path: str) -> FieldAuthority:
        name = _LINE_INDEX.sub("", path)
        if name in self.fields:
            return self.fields[name]
        if name.startswith("lines."):
            return self.fields["lines.execution"]
        return self.fields[name.split(".", 1)[0]]

    def check_sources(self, configured: Mapping[str, SourceKind]) -> None:
        """Fail at start-up when a rule names a source that is not configured."""
        for field, rule in self.fields.items():
            for entry in rule.preference():
                if entry not in _KINDS and entry not in configured:
                    raise ConfigurationError(
                        f"authority rules: field {field!r} names {entry!r}, which is neither a"
                        f" source kind ({', '.join(sorted(_KINDS))}) nor a configured source"
                    )

    @classmethod
    def load(cls, path: Path | None = None) -> AuthorityRules:
        path = path or DEFAULT_RULES_PATH
        parsed = load_toml(path, _RulesFile, what="authority rules")
        unknown = parsed.fields.keys() - KNOWN_FIELDS
        if unknown:
            raise ConfigurationError(
                f"authority rules {path}: unknown field {', '.join(map(repr, sorted(unknown)))};"
                f" known: {', '.join(sorted(KNOWN_FIELDS))}"
            )
        missing = KNOWN_FIELDS - parsed.fields.keys()
        if missing:
            raise ConfigurationError(
                f"authority rules {path}: no owner for {', '.join(sorted(missing))}"
            )
        return cls(parsed.fields)


def decide(
    field_name: str,
    claims: list[Claim],
    authority: FieldAuthority,
    *,
    now: datetime,
    agrees: Callable[[str, str], bool] | None = None,
) -> Fact | None:
    """Pick the claim to serve by the authority's preference; list the claims that conflict.

    ``agrees(served_value, other_value)`` says when two differently worded claims are consistent
    (a storefront's "unfulfilled" is consistent with a WMS "picked"); equality by default.
    A different claim that is older than the served one, while the served one is younger than
    the field's grace period, is sync lag (``lagging``), not yet a disagreement.
    """
    if not claims:
        return None
    if len(claims) == 1:  # most provenance entries: nothing to rank, nothing to conflict
        only = claims[0]
        return Fact(field_name, only, authority.owns(only.source, only.source_kind), (only,))
    ordered = sorted(claims, key=lambda c: authority.rank(c.source, c.source_kind))
    served = ordered[0]
    compatible = agrees or _equal
    different = [c for c in ordered[1:] if not compatible(served.value, c.value)]
    in_grace = now - served.as_of < authority.grace
    lagging = tuple(c for c in different if in_grace and c.as_of <= served.as_of)
    return Fact(
        field=field_name,
        served=served,
        authoritative=authority.owns(served.source, served.source_kind),
        claims=tuple(ordered),
        conflicting=tuple(c for c in different if c not in lagging),
        lagging=lagging,
    )


def _equal(a: str, b: str) -> bool:
    return a == b
