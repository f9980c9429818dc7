"""Idempotency keys with Stripe's semantics, shared by every mutation that takes one.

The same key with the same input replays the first result; with other input it is refused
(``IDEMPOTENCY_KEY_REUSED``); keys are kept 24 hours. Only results that changed something are
remembered: a refused request may be retried with its key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import IdempotencyKeyRow

__all__ = [
    "IDEMPOTENCY_TTL",
    "KeyReused",
    "forget_expired_keys",
    "recall",
    "remember",
    "request_hash",
    "valid_key",
]

IDEMPOTENCY_TTL = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class KeyReused:
    """The key was first used with different input."""

    message: str = "this idempotency key was used with different input"


def valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255


def request_hash(*parts: object) -> str:
    """A fingerprint of a request's input, to tell a replay from a reuse."""
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()


async def recall(
    sessions: async_sessionmaker[AsyncSession],
    scope: str,
    key: str,
    fingerprint: str,
    now: datetime,
) -> dict[str, Any] | KeyReused | None:
    """The first result stored under ``key``, :class:`KeyReused`, or ``None`` if unknown."""
    async with sessions() as session:
        stored = await session.get(IdempotencyKeyRow, (scope, key))
    if stored is None or stored.expires_at < now:
        return None
    if stored.request_hash != fingerprint:
        return KeyReused()
    return dict(stored.response)


def remember(
    session: AsyncSession,
    scope: str,
    key: str,
    fingerprint: str,
    response: dict[str, Any],
    now: datetime,
) -> None:
    """Store the result in the caller's transaction, so it lands with the change it describes."""
    session.add(
        IdempotencyKeyRow(
            scope=scope,
            key=key,
            request_hash=fingerprint,
            response=response,
            created_at=now,
            expires_at=now + IDEMPOTENCY_TTL,
        )
    )


async def forget_expired_keys(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Drop idempotency keys past their 24 hours; return how many."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            delete(IdempotencyKeyRow).where(IdempotencyKeyRow.expires_at < now)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
