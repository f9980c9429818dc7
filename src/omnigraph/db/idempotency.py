"""Idempotency keys with Stripe's semantics, shared by every mutation that takes one, and the
claims that make each webhook delivery be taken in once.

**A mutation's key** is claimed by the first statement of the transaction that makes the
change (:meth:`KeyClaims.take`): the key's row is inserted there with the answer, so it exists
exactly when the change does. A second request with the key, on any replica, blocks on that
insert until the first transaction ends (the database's own unique-key lock: no polling); if it
committed, the second replays its answer (or, with other input, is refused
``IDEMPOTENCY_KEY_REUSED``); if it rolled back (a refusal, an error, a crash, a timeout), the key
was never taken and the second does the work itself. A holder that keeps the key longer than
``wait_seconds`` (PostgreSQL's ``lock_timeout``, SQLite's busy timeout) gets the waiter a
retryable refusal, ``IDEMPOTENCY_IN_FLIGHT``.

**A webhook delivery** is processed over several transactions and HTTP calls, so it is claimed
on its own first (:meth:`KeyClaims.claim`, committed): the row carries a claim token while the
delivery is processed; a copy that finds it is a duplicate. The holder stores its answer
(:meth:`KeyClaims.finish`) or, failing, gives the claim back (:meth:`KeyClaims.holding`), so the
provider's retry is processed; a claim older than its ``lease`` (the longest processing may
run) was left by a process that died and is taken over.

Keys are kept 24 hours; only results that changed something are remembered.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import IdempotencyKeyRow
from omnigraph.db.upsert import insert_for

__all__ = [
    "IDEMPOTENCY_TTL",
    "Answered",
    "Claim",
    "ClaimLost",
    "InFlight",
    "KeyBusy",
    "KeyClaims",
    "KeyReused",
    "forget_expired_keys",
    "request_hash",
    "valid_key",
]

IDEMPOTENCY_TTL = timedelta(hours=24)
DEFAULT_LEASE = timedelta(seconds=30)  # the execution timeout's default

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class KeyReused:
    """The key was first used with different input."""

    message: str = "this idempotency key was used with different input"


@dataclass(frozen=True, slots=True)
class Answered:
    """The key's first answer, as its holder stored it."""

    response: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InFlight:
    """Another request holds the key and has not answered yet."""

    message: str = "a request with this idempotency key is still being processed; retry it shortly"


@dataclass(slots=True)
class Claim:
    """This request holds the key; ``finished`` once its answer is in the transaction."""

    scope: str
    key: str
    token: str
    finished: bool = False


class ClaimLost(Exception):
    """The claim outlived its lease and another request took the key over."""


class KeyBusy(Exception):
    """The request holding the key did not finish within the wait."""


def valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255


def request_hash(*parts: object) -> str:
    """A fingerprint of a request's input, to tell a replay from a reuse."""
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()


async def _insert(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert the key's row unless it exists; whether this call inserted it."""
    insert = insert_for(session)
    statement = insert(IdempotencyKeyRow).values(**values).on_conflict_do_nothing()
    result = await session.execute(statement)
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def _claim_once(
    sessions: async_sessionmaker[AsyncSession],
    scope: str,
    key: str,
    fingerprint: str,
    now: datetime,
    *,
    ttl: timedelta,
    lease: timedelta,
) -> Claim | Answered | KeyReused | InFlight | None:
    """One attempt; ``None`` when the row went away between the insert and the read."""
    token = uuid.uuid4().hex
    fresh = {
        "request_hash": fingerprint,
        "response": {},
        "created_at": now,
        "expires_at": now + ttl,
        "claim_token": token,
    }
    async with sessions() as session, session.begin():
        if await _insert(session, {"scope": scope, "key": key, **fresh}):
            return Claim(scope, key, token)
    async with sessions() as session, session.begin():
        row = await session.get(IdempotencyKeyRow, (scope, key))
        if row is None:
            return None
        forgotten = row.expires_at <= now
        abandoned = row.claim_token is not None and row.created_at <= now - lease
        if forgotten or abandoned:
            # past its 24 hours, or held by a process that died: take it over unless another
            # request just did (the row's token and age are checked again in the update)
            holder = (
                IdempotencyKeyRow.claim_token.is_(None)
                if row.claim_token is None
                else IdempotencyKeyRow.claim_token == row.claim_token
            )
            taken = await session.execute(
                update(IdempotencyKeyRow)
                .where(
                    IdempotencyKeyRow.scope == scope,
                    IdempotencyKeyRow.key == key,
                    holder,
                    IdempotencyKeyRow.expires_at <= now
                    if forgotten
                    else IdempotencyKeyRow.created_at <= now - lease,
                )
                .values(**fresh)
            )
            if int(taken.rowcount or 0) == 1:  # type: ignore[attr-defined]
                if abandoned:
                    log.warning("idempotency_claim_taken_over", scope=scope, key=key)
                return Claim(scope, key, token)
            return None
        if row.request_hash != fingerprint:
            return KeyReused()
        if row.claim_token is None:
            return Answered(dict(row.response))
        return InFlight()


class KeyClaims:
    """Claims on idempotency keys and webhook deliveries. ``create_app`` provides one per
    process; its ``lease`` and ``wait_seconds`` follow the execution timeout."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        lease: timedelta = DEFAULT_LEASE,
        wait_seconds: float | None = None,
    ) -> None:
        """``lease``: the longest a holder may run (the execution timeout); ``wait_seconds``:
        how long a request waits for another holding its key (default: 80% of the lease, so
        the replay still fits in the waiting request's own execution timeout)."""
        self.sessions = sessions
        self.lease = lease
        self.wait_seconds = lease.total_seconds() * 0.8 if wait_seconds is None else wait_seconds

    # -- a mutation's key, taken in the transaction that makes the change --------------------

    async def recall(
        self, scope: str, key: str, fingerprint: str, now: datetime
    ) -> Answered | KeyReused | None:
        """The key's stored answer, :class:`KeyReused`, or ``None`` while it is free."""
        async with self.sessions() as session:
            row = await session.get(IdempotencyKeyRow, (scope, key))
        if row is None or row.expires_at <= now or row.claim_token is not None:
            return None
        if row.request_hash != fingerprint:
            return KeyReused()
        return Answered(dict(row.response))

    async def take(
        self,
        session: AsyncSession,
        scope: str,
        key: str,
        fingerprint: str,
        response: dict[str, Any],
        now: datetime,
    ) -> bool:
        """The first statement of the transaction that does the work: the key is stored with
        the ``response`` the work will give, landing with the change or not at all. ``False``
        when another request's transaction stored the key first (this one waited for it to
        end): roll back and :meth:`recall` it. :class:`KeyBusy` when that transaction was still
        open after ``wait_seconds``."""
        values = {
            "scope": scope,
            "key": key,
            "request_hash": fingerprint,
            "response": response,
            "created_at": now,
            "expires_at": now + IDEMPOTENCY_TTL,
            "claim_token": None,
        }
        dialect = session.get_bind().dialect.name
        insert = insert_for(session)
        statement = insert(IdempotencyKeyRow).values(**values)
        # a key past its 24 hours that nobody has deleted yet is free again
        statement = statement.on_conflict_do_update(
            index_elements=[IdempotencyKeyRow.scope, IdempotencyKeyRow.key],
            set_={k: statement.excluded[k] for k in values if k not in ("scope", "key")},
            where=IdempotencyKeyRow.expires_at <= now,
        )
        waited = int(self.wait_seconds * 1000)
        try:
            async with _lock_wait(session, dialect, waited):
                result = await session.execute(statement)
        except DBAPIError as error:
            if _gave_up_waiting(error):
                raise KeyBusy(f"{scope}:{key}") from None
            raise
        return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]

    # -- a webhook delivery, claimed before it is processed ------------------------------------

    async def claim(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        now: datetime,
        *,
        ttl: timedelta = IDEMPOTENCY_TTL,
    ) -> Claim | Answered | KeyReused | InFlight:
        """Claim the delivery, or say who has it; never waits."""
        for _ in range(5):
            found = await _claim_once(
                self.sessions, scope, key, fingerprint, now, ttl=ttl, lease=self.lease
            )
            if found is not None:
                return found
        return InFlight()  # the key changed hands five times in a row: busy, say so

    async def finish(self, session: AsyncSession, claim: Claim, response: dict[str, Any]) -> None:
        """Store the answer in the caller's transaction; :class:`ClaimLost` (roll back) if the
        claim outlived its lease and was taken over meanwhile."""
        result = await session.execute(
            update(IdempotencyKeyRow)
            .where(
                IdempotencyKeyRow.scope == claim.scope,
                IdempotencyKeyRow.key == claim.key,
                IdempotencyKeyRow.claim_token == claim.token,
            )
            .values(response=response, claim_token=None)
        )
        if int(result.rowcount or 0) != 1:  # type: ignore[attr-defined]
            raise ClaimLost(f"{claim.scope}:{claim.key} was taken over")
        claim.finished = True

    @contextlib.asynccontextmanager
    async def holding(self, claim: Claim) -> AsyncIterator[Claim]:
        """The processing under ``claim``: unless it finished (and its transaction committed),
        the claim is given back on the way out, also on an error or a cancellation."""
        try:
            yield claim
        except BaseException:
            claim.finished = False  # whatever it stored was rolled back with the error
            raise
        finally:
            if not claim.finished:
                # shielded: a cancelled request still gives the claim back
                await asyncio.shield(self._release(claim))

    async def _release(self, claim: Claim) -> None:
        try:
            async with self.sessions() as session, session.begin():
                await session.execute(
                    delete(IdempotencyKeyRow).where(
                        IdempotencyKeyRow.scope == claim.scope,
                        IdempotencyKeyRow.key == claim.key,
                        IdempotencyKeyRow.claim_token == claim.token,
                    )
                )
        except SQLAlchemyError as error:  # the claim lapses with its lease instead
            log.warning("idempotency_release_failed", scope=claim.scope, error=str(error))


@contextlib.asynccontextmanager
async def _lock_wait(session: AsyncSession, dialect: str, milliseconds: int) -> AsyncIterator[None]:
    """How long the next statement may wait for a lock: PostgreSQL's ``lock_timeout`` for this
    transaction, SQLite's busy timeout for this connection; set back afterwards."""
    if dialect == "postgresql":
        await session.execute(
            text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": f"{milliseconds}ms"}
        )
        yield  # (a statement that ran out aborted the transaction: nothing to set back)
        await session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
    elif dialect == "sqlite":
        before = int(await session.scalar(text("PRAGMA busy_timeout")) or 0)
        await session.execute(text(f"PRAGMA busy_timeout = {int(milliseconds)}"))
        try:
            yield
        finally:
            with contextlib.suppress(SQLAlchemyError):
                await session.execute(text(f"PRAGMA busy_timeout = {before}"))
    else:
        yield


def _gave_up_waiting(error: DBAPIError) -> bool:
    """A lock wait that ran out: PostgreSQL's ``lock_not_available``, SQLite's locked database."""
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code == "55P03" or "database is locked" in str(error.orig)


async def forget_expired_keys(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Drop idempotency keys past their 24 hours; return how many."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            delete(IdempotencyKeyRow).where(IdempotencyKeyRow.expires_at < now)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
