"""Claims: what one system asserted about one field, and when.

Provenance and disagreements are both views over claims, so the graph can always say who said
what it serves, and who said otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from omnigraph.core.sources import SourceKind
from omnigraph.orders.authority import FieldAuthority

__all__ = ["Claim", "Fact", "decide"]


@dataclass(frozen=True, slots=True)
class Claim:
    source: str
    source_kind: SourceKind
    record_ref: str
    as_of: datetime
    value: str


@dataclass(frozen=True, slots=True)
class Fact:
    """The value served for ``field``, the claim it came from, and every competing claim."""

    field: str
    served: Claim
    authoritative: bool
    claims: tuple[Claim, ...]
    conflicting: tuple[Claim, ...] = ()
    lagging: tuple[Claim, ...] = ()

    @property
    def disputed(self) -> bool:
        return bool(self.conflicting)

    def renamed(self, field: str) -> Fact:
        return Fact(
            field, self.served, self.authoritative, self.claims, self.conflicting, self.lagging
        )


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
