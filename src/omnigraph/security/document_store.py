"""Documents known by the SHA-256 of their text, kept in the database with a cache in front.

A document's text never changes under its hash, so a found document is cached for good; only
whether it is trusted can change (an operator registers a document APQ had already learnt), so
an untrusted entry is read again when trust is what matters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from cachetools import LRUCache
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import PersistedDocumentRow

__all__ = [
    "KnownDocument",
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


class PersistedDocuments:
    """Look documents up by hash and remember the ones automatic persisted queries bring."""

    def __init__(
        self, sessions: Callable[[], async_sessionmaker[AsyncSession]], *, cache_size: int = 4096
    ) -> None:
        self._sessions = sessions
        self._cache: LRUCache[str, KnownDocument] = LRUCache(maxsize=cache_size)

    async def find(self, sha256: str, *, trusted: bool = False) -> KnownDocument | None:
        """The document with this hash; ``trusted`` when trust matters (re-read, not cached)."""
        cached = self._cache.get(sha256)
        if cached is not None and (cached.trusted or not trusted):
            return cached
        async with self._sessions()() as session:
            row = await session.get(PersistedDocumentRow, sha256)
        if row is None:
            return None
        known = KnownDocument(row.document, row.trusted)
        self._cache[sha256] = known
        return known

    async def remember(
        self, sha256: str, document: str, operation_name: str | None, *, now: datetime
    ) -> None:
        """Keep a document an APQ client sent in full; an earlier or concurrent copy wins."""
        if sha256 in self._cache:
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
                    )
                )
        except IntegrityError:
            return
        self._cache[sha256] = KnownDocument(document, trusted=False)


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
