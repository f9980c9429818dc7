"""Claims: what one system asserted about one field, and when.

Provenance and disagreements are both views over claims, so the graph can always say who said
what it serves, and who said otherwise. Which claim wins is each room's rule (the orders room's
``authority.decide``); this module only says what a claim and a decided fact are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from omnigraph.core.sources import SourceKind

__all__ = ["Claim", "Fact"]


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
