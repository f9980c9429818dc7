"""Automatic persisted queries (Apollo's protocol) and allow-list mode, as a schema extension.

A client sends ``extensions.persistedQuery = {"version": 1, "sha256Hash": "<hex>"}``:

- with no ``query``: the document registered or learnt under that hash runs, or the answer is
  ``PERSISTED_QUERY_NOT_FOUND`` (message ``PersistedQueryNotFound``, which Apollo's clients
  answer by sending the query in full);
- with the ``query``: the hash must be the SHA-256 of that text (else
  ``PERSISTED_QUERY_HASH_MISMATCH``); in ``apq`` mode the document is remembered once it has run,
  as the caller's (a key keeps a bounded number: ``omnigraph.security.document_store``), and a
  document longer than ``max_document_bytes`` is refused before it is parsed
  (``PERSISTED_QUERY_TOO_LARGE`` with ``maxBytes``: send it without the hash, or register it).

In ``allowlist`` mode only documents an operator registered run, asked for by hash or in full;
anything else is ``PERSISTED_QUERY_NOT_ALLOWED``, before it is even parsed. In ``off`` mode a
hash without a query is ``PERSISTED_QUERY_NOT_SUPPORTED``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from omnigraph.graph.permissions import principal_in
from omnigraph.security.document_store import PersistedDocuments, document_hash

__all__ = ["PersistedQueries", "TrustedDocuments", "TrustedDocumentsMode"]

TrustedDocumentsMode = Literal["off", "apq", "allowlist"]


@dataclass(frozen=True, slots=True)
class TrustedDocuments:
    """The mode and the store; ``extension`` is what ``build_schema`` puts first."""

    mode: TrustedDocumentsMode
    store: PersistedDocuments
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def extension(self) -> PersistedQueries:
        return PersistedQueries(self)


def _refusal(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def _requested_hash(extensions: dict[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise _refusal("PERSISTED_QUERY_NOT_SUPPORTED", "only persistedQuery version 1 is known")
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or len(sha256) != 64:
        raise _refusal("BAD_USER_INPUT", "persistedQuery.sha256Hash is 64 hex digits")
    return sha256.lower()


class PersistedQueries(SchemaExtension):
    """Supplies the query for a hash, checks hashes, and in allow-list mode refuses the rest."""

    def __init__(self, trusted: TrustedDocuments) -> None:
        self.trusted = trusted
        self._learn: str | None = None

    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context
        mode, store = self.trusted.mode, self.trusted.store
        requested = _requested_hash(context.operation_extensions)
        if context.query is None and requested is not None:
            if mode == "off":
                raise _refusal("PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported")
            known = await store.find(
                requested, trusted=mode == "allowlist", now=self.trusted.clock()
            )
            if known is None:
                raise _refusal("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
            if mode == "allowlist" and not known.trusted:
                raise _not_allowed()
            context.query = known.document
        elif context.query is not None and mode != "off":
            actual = document_hash(context.query)
            if requested is not None and requested != actual:
                raise _refusal(
                    "PERSISTED_QUERY_HASH_MISMATCH",
                    "persistedQuery.sha256Hash is not the SHA-256 of the query sent",
                )
            if mode == "allowlist":
                known = await store.find(actual, trusted=True)
                if known is None or not known.trusted:
                    raise _not_allowed()
            elif requested is not None:
                size = len(context.query.encode("utf-8", "surrogatepass"))
                limit = store.limits.max_document_bytes
                if size > limit:
                    raise GraphQLError(
                        f"a document learnt by hash may be at most {limit} bytes, this one has"
                        f" {size}: send it without persistedQuery, or register it",
                        extensions={"code": "PERSISTED_QUERY_TOO_LARGE", "maxBytes": limit},
                    )
                self._learn = actual
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        # Remember a document only once it has run: never one that failed validation or limits.
        context = self.execution_context
        result = context.result
        if self._learn is None or context.query is None or getattr(result, "data", None) is None:
            return
        principal = principal_in(context.context)
        await self.trusted.store.remember(
            self._learn,
            context.query,
            context.operation_name,
            now=self.trusted.clock(),
            owner=(principal.identity if principal is not None else "anonymous")[:160],
        )


def _not_allowed() -> GraphQLError:
    return _refusal(
        "PERSISTED_QUERY_NOT_ALLOWED",
        "only registered operations run here: `omnigraph documents register FILE`",
    )
