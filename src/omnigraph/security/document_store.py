"""Documents known by the SHA-256 of their text, kept in the database with a cache in front.

A document's text never changes under its hash, so a found document is cached; only whether it
is trusted can change (an operator registers a document APQ had already learnt), so an
untrusted entry is read again when trust is what matters.

What automatic persisted queries learn is bounded (:class:`LearningLimits`): each learnt
document belongs to the key that taught it, a key keeps at most ``max_documents_per_owner``
(learning one more forgets that key's least recently used: a client asking for it again gets
``PersistedQueryNotFound`` and sends it in full, as the protocol expects), and a document not
asked for in ``unused`` is forgotten by :meth:`PersistedDocuments.expire`. When a document was
last used is written at most once per ``touch_every`` per process, so a busy document costs
one write an hour, not one a request. Registered documents belong to the operator: no cap, no
expiry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import LRUCache
from sqlalchemy import delete, false, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import PersistedDocumentRow
from omnigraph.runtime.periodic import PeriodicTask

__all__ = [
    "KnownDocument",
    "LearningLimits",
    "OperationDocument",
    "PersistedDocuments",
    "document_hash",
    "list_documents",
    "register_documents",
]


def document_hash(document: str) -> str:
    """The hash clients send as ``extensions.persistedQuery.sha256Hash``: SHA-256 of the text."""
    return hashlib.sha256(document.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class OperationDocument:
    """A document to register: its text, its hash and the name of the operation in it."""

    sha256: str
    document: str
    name: str | None


@dataclass(frozen=True, slots=True)
class KnownDocument:
    document: str
    trusted: bool


@dataclass(frozen=True, slots=True)
class LearningLimits:
    """What automatic persisted queries may keep (settings ``apq_*``)."""

    max_document_bytes: int = 32_768
    max_documents_per_owner: int = 500
    unused: timedelta = timedelta(days=30)
    touch_every: timedelta = timedelta(hours=1)
    expire_batch: int = 1000


class PersistedDocuments:
    """Look documents up by hash and remember the ones automatic persisted queries bring."""

    def __init__(
        self,
        sessions: Callable[[], async_sessionmaker[AsyncSession]],
        *,
        cache_size: int = 4096,
        limits: LearningLimits | None = None,
    ) -> None:
        self._sessions = sessions
        self.limits = limits or LearningLimits()
        self._cache: LRUCache[str, KnownDocument] = LRUCache(maxsize=cache_size)
        # when this process last wrote (or read) each document's last use
        self._used_at: LRUCache[str, datetime] = LRUCache(maxsize=cache_size)

    async def find(
        self, sha256: str, *, trusted: bool = False, now: datetime | None = None
    ) -> KnownDocument | None:
        """The document with this hash; ``trusted`` when trust matters (re-read, not cached).
        With ``now`` the document is being asked for: its last use is recorded."""
        cached = self._cache.get(sha256)
        if cached is None or (trusted and not cached.trusted):
            async with self._sessions()() as session:
                row = await session.get(PersistedDocumentRow, sha256)
            if row is None:
                return None
            cached = self._cache[sha256] = KnownDocument(row.document, row.trusted)
            if row.last_used_at is not None:
                self._used_at[sha256] = row.last_used_at
        if now is not None:
            await self._used(sha256, now)
        return cached

    async def remember(
        self,
        sha256: str,
        document: str,
        operation_name: str | None,
        *,
        now: datetime,
        owner: str | None = None,
    ) -> None:
        """Keep a document an APQ client sent in full, as ``owner``'s; an earlier or
        concurrent copy wins. Past the owner's cap its least recently used are forgotten."""
        if sha256 in self._cache:
            await self._used(sha256, now)
            return
        try:
            async with self._sessions()() as session, session.begin():
                session.add(
                    PersistedDocumentRow(
                        sha256=sha256,
                        document=document,
                        operation_name=operation_name,
                        trusted=False,
                        created_at=now,
                        owner=owner,
                        last_used_at=now,
                    )
                )
                await session.flush()
                evicted = await self._over_cap(session, owner, keep=sha256)
        except IntegrityError:
            await self._used(sha256, now)
            return
        self._forget(evicted)
        self._cache[sha256] = KnownDocument(document, trusted=False)
        self._used_at[sha256] = now

    async def expire(self, now: datetime) -> int:
        """Forget learnt documents not asked for since ``now - unused``; how many went (at
        most ``expire_batch`` a call)."""
        cutoff = now - self.limits.unused
        last_use = func.coalesce(PersistedDocumentRow.last_used_at, PersistedDocumentRow.created_at)
        async with self._sessions()() as session, session.begin():
            stale = list(
                await session.scalars(
                    select(PersistedDocumentRow.sha256)
                    .where(PersistedDocumentRow.trusted == false(), last_use < cutoff)
                    .limit(self.limits.expire_batch)
                )
            )
            if stale:
                await session.execute(
                    delete(PersistedDocumentRow).where(
                        PersistedDocumentRow.sha256.in_(stale),
                        PersistedDocumentRow.trusted == false(),
                    )
                )
        self._forget(stale)
        return len(stale)

    def expiry(
        self, clock: Callable[[], datetime], *, interval_seconds: float = 3600.0, jitter: float = 0
    ) -> PeriodicTask:
        """:meth:`expire` as a periodic task (every replica may run it: it is idempotent)."""

        async def step() -> bool:
            return await self.expire(clock()) >= self.limits.expire_batch

        return PeriodicTask(
            "persisted_documents_expiry", step, interval=interval_seconds, jitter=jitter
        )

    async def _used(self, sha256: str, now: datetime) -> None:
        last = self._used_at.get(sha256)
        if last is not None and timedelta(0) <= now - last < self.limits.touch_every:
            return
        self._used_at[sha256] = now
        async with self._sessions()() as session, session.begin():
            await session.execute(
                update(PersistedDocumentRow)
                .where(PersistedDocumentRow.sha256 == sha256)
                .values(last_used_at=now)
            )

    async def _over_cap(self, session: AsyncSession, owner: str | None, *, keep: str) -> list[str]:
        """Delete ``owner``'s learnt documents past the cap, least recently used first."""
        mine = (PersistedDocumentRow.owner == owner, PersistedDocumentRow.trusted == false())
        if owner is None:
            mine = (PersistedDocumentRow.owner.is_(None), PersistedDocumentRow.trusted == false())
        count = await session.scalar(
            select(func.count()).select_from(PersistedDocumentRow).where(*mine)
        )
        excess = int(count or 0) - self.limits.max_documents_per_owner
        if excess <= 0:
            return []
        last_use = func.coalesce(PersistedDocumentRow.last_used_at, PersistedDocumentRow.created_at)
        victims = list(
            await session.scalars(
                select(PersistedDocumentRow.sha256)
                .where(*mine, PersistedDocumentRow.sha256 != keep)
                .order_by(last_use, PersistedDocumentRow.sha256)
                .limit(excess)
            )
        )
        await session.execute(
            delete(PersistedDocumentRow).where(PersistedDocumentRow.sha256.in_(victims))
        )
        return victims

    def _forget(self, hashes: Iterable[str]) -> None:
        for sha256 in hashes:
            self._cache.pop(sha256, None)
            self._used_at.pop(sha256, None)


async def register_documents(
    sessions: async_sessionmaker[AsyncSession],
    documents: Iterable[OperationDocument],
    *,
    now: datetime,
) -> list[tuple[OperationDocument, str]]:
    """Trust each document; says per document ``new``, ``trusted now`` (APQ knew it) or
    ``already registered``."""
    outcomes = []
    async with sessions() as session, session.begin():
        for item in documents:
            row = await session.get(PersistedDocumentRow, item.sha256)
            if row is None:
                session.add(
                    PersistedDocumentRow(
                        sha256=item.sha256,
                        document=item.document,
                        operation_name=item.name,
                        trusted=True,
                        created_at=now,
                        registered_at=now,
                    )
                )
                outcomes.append((item, "new"))
            elif row.trusted:
                outcomes.append((item, "already registered"))
            else:
                row.trusted = True
                row.registered_at = now
                row.operation_name = row.operation_name or item.name
                outcomes.append((item, "trusted now"))
    return outcomes


async def list_documents(sessions: async_sessionmaker[AsyncSession]) -> list[PersistedDocumentRow]:
    async with sessions() as session:
        statement = select(PersistedDocumentRow).order_by(PersistedDocumentRow.created_at)
        return list(await session.scalars(statement))
