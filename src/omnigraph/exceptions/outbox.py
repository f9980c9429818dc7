"""Outbox command states."""

from __future__ import annotations

import enum

__all__ = ["OutboxStatus"]


class OutboxStatus(enum.StrEnum):
    PENDING = "PENDING"  # waiting for (another) delivery attempt
    DELIVERED = "DELIVERED"  # the owner accepted and applied it
    REJECTED = "REJECTED"  # the owner answered, and said no
    DEAD = "DEAD"  # gave up after the configured attempts; an operator may replay it
