"""API keys: random secrets shown once, stored only as a SHA-256 digest.

A key is ``og_<prefix>_<secret>``; the prefix finds the row, the digest of the whole key proves
it. Keys carry 256 bits of randomness, so a fast digest is enough (a password hash guards
against guessing low-entropy secrets, which these are not) and verification stays cheap enough
to run on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import ApiKeyRow
from omnigraph.security.principal import Principal, Role

__all__ = ["IssuedKey", "create_key", "list_keys", "principal_for_key", "revoke_key"]

_PREFIX = "og_"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    row: ApiKeyRow
    secret: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_key(
    sessions: async_sessionmaker[AsyncSession],
    *,
    name: str,
    roles: frozenset[Role],
    channel: str | None,
    now: datetime,
) -> IssuedKey:
    if not roles:
        raise ValueError("a key needs at least one role")
    prefix = secrets.token_hex(4)
    token = f"{_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKeyRow(
        prefix=prefix,
        name=name,
        roles=sorted(role.value for role in roles),
        channel=channel,
        digest=_digest(token),
        created_at=now,
    )
    async with sessions() as session, session.begin():
        session.add(row)
    return IssuedKey(row, token)


async def revoke_key(
    sessions: async_sessionmaker[AsyncSession], prefix: str, *, now: datetime
) -> bool:
    async with sessions() as session, session.begin():
        row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix))
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = now
        return True


async def list_keys(sessions: async_sessionmaker[AsyncSession]) -> list[ApiKeyRow]:
    async with sessions() as session:
        return list(await session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)))


async def principal_for_key(
    sessions: async_sessionmaker[AsyncSession], token: str
) -> Principal | None:
    """The key's principal, or None when the token is not a live key (unknown or revoked)."""
    if not token.startswith(_PREFIX):
        return None
    prefix, _, rest = token.removeprefix(_PREFIX).partition("_")
    if not prefix or not rest:
        return None
    async with sessions() as session:
        row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix))
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.digest, _digest(token)):
        return None
    return Principal(
        subject=row.name,
        roles=frozenset(Role(role) for role in row.roles),
        channel=row.channel,
        key=row.prefix,
    )
