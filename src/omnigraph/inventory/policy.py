"""The allocation policy: data the business changes at run time, validated before it is stored.

Which locations serve which channel, safety stock per location and channel, ring-fenced units
per channel, channel priority, cut-offs and restock rules for returns. The highest stored
version is in force; until one is stored, ``default_policy.toml`` is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from omnigraph.core.data_files import load_toml

__all__ = [
    "DEFAULT_POLICY_PATH",
    "AllocationPolicy",
    "PolicyInvalid",
    "RingFence",
    "SafetyStock",
    "load_default_policy",
]

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.toml")
CHANNELS = ("web", "marketplace", "store-pickup", "wholesale")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class PolicyInvalid(ValueError):
    """A policy document that may not be stored; the message says which entry and why."""


class SafetyStock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    location: str | None = None
    channel: str | None = None
    quantity: int = Field(ge=0)


class RingFence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    quantity: int = Field(default=0, ge=0)
    percent: float = Field(default=0, ge=0, le=100)


class Priority(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    order: list[str]


class Restock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inspection_required: bool = True
    grade_b_channels: list[str] = Field(default_factory=list)


class AllocationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    locations: dict[str, list[str]]
    safety_stock: list[SafetyStock] = Field(default_factory=list)
    ring_fence: dict[str, RingFence] = Field(default_factory=dict)
    priority: Priority
    cutoffs: dict[str, str] = Field(default_factory=dict)
    restock: Restock = Field(default_factory=Restock)

    @model_validator(mode="after")
    def _consistent(self) -> AllocationPolicy:
        for channel in [
            *self.locations,
            *self.ring_fence,
            *self.priority.order,
            *self.restock.grade_b_channels,
        ]:
            if channel not in CHANNELS:
                raise ValueError(f"unknown channel {channel!r}; known: {', '.join(CHANNELS)}")
        for rule in self.safety_stock:
            if rule.channel is not None and rule.channel not in CHANNELS:
                raise ValueError(f"safety_stock: unknown channel {rule.channel!r}")
        for location, cutoff in self.cutoffs.items():
            if not _TIME.match(cutoff):
                raise ValueError(f"cutoffs.{location}: {cutoff!r} is not HH:MM")
        if sorted(self.priority.order) != sorted(set(self.priority.order)):
            raise ValueError("priority.order names a channel twice")
        total_percent = sum(fence.percent for fence in self.ring_fence.values())
        if total_percent > 100:
            raise ValueError(f"ring_fence percentages add up to {total_percent}, more than 100")
        return self

    def serves(self, channel: str, location_id: str) -> bool:
        return location_id in self.locations.get(channel, [])

    def safety_stock_for(self, channel: str, location_id: str) -> int:
        return sum(
            rule.quantity
            for rule in self.safety_stock
            if rule.location in (None, location_id) and rule.channel in (None, channel)
        )

    def rank(self, channel: str) -> int:
        """0 for the first channel in ``priority.order``; channels not listed come last."""
        order = self.priority.order
        return order.index(channel) if channel in order else len(order)

    def fences_against(self, channel: str, sellable: int) -> dict[str, int]:
        """Units other channels' ring-fences hold back from ``channel``, per fencing channel.

        Priority decides who may break a fence: a channel ranked above another may take from
        that channel's fence when it competes for the last units, so only fences of channels
        ranked at or above ``channel`` hold against it. The channel ranked first is never
        fenced out; the one ranked last respects every fence.
        """
        mine = self.rank(channel)
        held: dict[str, int] = {}
        for other, fence in self.ring_fence.items():
            if other == channel or self.rank(other) > mine:
                continue
            units = max(fence.quantity, int(sellable * fence.percent / 100))
            if units:
                held[other] = units
        return held

    def grade_b_allowed(self, channel: str) -> bool:
        return channel in self.restock.grade_b_channels

    @classmethod
    def parse(
        cls, document: dict[str, Any], *, known_locations: set[str] | None = None
    ) -> AllocationPolicy:
        """Validate a policy document; raise :class:`PolicyInvalid` naming the bad entry."""
        try:
            policy = cls.model_validate(document)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(document)"
            raise PolicyInvalid(f"{where}: {first['msg']}") from None
        if known_locations is not None:
            named = {loc for locs in policy.locations.values() for loc in locs}
            named |= set(policy.cutoffs)
            named |= {rule.location for rule in policy.safety_stock if rule.location}
            unknown = named - known_locations
            if unknown:
                raise PolicyInvalid(f"unknown location {', '.join(sorted(unknown))}")
        return policy


def load_default_policy(path: Path = DEFAULT_POLICY_PATH) -> AllocationPolicy:
    return load_toml(path, AllocationPolicy, what="allocation policy")
