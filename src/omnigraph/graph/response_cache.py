"""Whole answers to trusted documents, reused for a moment by the same caller.

A storefront asks the same availability document for the same SKUs many times a second, and a
support tool refreshes the order it shows. When the operator turns it on
(``OMNIGRAPH_RESPONSE_CACHE_SECONDS``), the answer to a query is kept for that many seconds and
served again, without executing, to a request that is the same in every way that could change
it. Only where that is safe:

- the operation is a query, asked for by the hash of a document an operator registered
  (``omnigraph documents register``): a trusted document, never arbitrary text;
- every root field is one the operator lists as cacheable (``OMNIGRAPH_RESPONSE_CACHE_FIELDS``;
  by default single objects and availability, never the ``orders`` listing, which is fresh by
  contract);
- the key is the document hash, the operation name, the variables, and the caller: its identity,
  roles and channel, so no one sees an answer shaped by another's permissions;
- only an answer without any error is kept (a degraded or partial answer is not);
- everything is forgotten when this process learns of a change: a mutation through the graph,
  an exception event committed here, an availability change, an accepted webhook; and another
  replica's exception events within one poll of the events table (availability changes and
  mutations of another replica through Redis when there is one, else when entries expire);
- a fresh answer is sent by the view as the bytes it was first sent as, before the request is
  parsed or executed (:meth:`ResponseCache.fresh_answer`), once the body's key (the hash, the
  operation name, the variables) and the caller are known; the rate limit is still spent;
- an answer is fresh for the TTL; once expired, one request makes the next while those arriving
  meanwhile still get the expiring one (never more than one more TTL), and requests that find
  nothing wait for the request already making it instead of all executing at once. So an
  answer is at most twice the TTL older than the record cache it was made from.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import orjson
from cachetools import LRUCache, TTLCache
from graphql import ExecutionResult, FieldNode, OperationDefinitionNode, get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from omnigraph.graph.permissions import principal_in
from omnigraph.security.document_store import PersistedDocuments
from omnigraph.security.principal import Principal
from omnigraph.settings import DEFAULT_CACHEABLE_FIELDS

__all__ = ["CachedResponses", "Lookup", "ResponseCache", "forget_on_changes"]

ResponseKey = tuple[str, str | None, bytes, str, tuple[str, ...], str | None]


@dataclass(frozen=True, slots=True)
class _Stored:
    data: dict[str, Any]
    generation: int
    made_at: float
    body: bytes | None  # the answer as the view encodes it, ``{"data": ...}``


class Lookup(NamedTuple):
    """What the cache holds for a key: an answer to serve now, or a duty to make one."""

    data: dict[str, Any] | None  # serve this (fresh, or expiring while another refreshes it)
    making: asyncio.Future[dict[str, Any] | None] | None  # await another request's answer
    refresh: bool  # no usable answer: this request executes and keeps what it makes


class ResponseCache:
    """The process's kept answers, the requests making them, and the generation a change
    moves on.

    An answer is fresh for ``seconds``. Once it expires, the next request makes a new one
    while requests arriving meanwhile are still served the expiring answer, for at most
    ``seconds`` more; requests that find nothing wait for the one request already making
    the answer instead of each executing it (16 clients on one expired lookup execute it
    once, and none of them waits for it but the one that makes it).
    """

    def __init__(
        self,
        seconds: float,
        *,
        max_entries: int,
        fields: Iterable[str] = DEFAULT_CACHEABLE_FIELDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.fields = frozenset(fields)
        self.clock = clock
        self._entries: LRUCache[ResponseKey, _Stored] = LRUCache(maxsize=max_entries)
        self._making: dict[ResponseKey, asyncio.Future[dict[str, Any] | None]] = {}
        # hashes found not to be trusted, so an APQ client's learnt document costs no read
        # per request; a document registered while the process runs is cached within a minute
        self.untrusted: TTLCache[str, bool] = TTLCache(maxsize=4096, ttl=60.0, timer=clock)
        # each trusted document's first operation's name: the operation a request naming none
        # asks for (a document's text never changes under its hash)
        self.first_operations: LRUCache[str, str | None] = LRUCache(maxsize=4096)
        self.generation = 0
        self.hits = 0
        self.misses = 0

    def lookup(self, key: ResponseKey) -> Lookup:
        """What to do for ``key``; a ``refresh`` answer makes this request the one making
        the answer, until :meth:`made` is called."""
        stored = self._entries.get(key)
        age = self.clock() - stored.made_at if stored is not None else 0.0
        usable = stored is not None and stored.generation == self.generation
        making = self._making.get(key)
        if stored is not None and usable and age < self.seconds:
            self.hits += 1
            return Lookup(stored.data, None, False)
        if stored is not None and usable and age < 2 * self.seconds and making is not None:
            self.hits += 1  # expiring, and already being made again: serve it meanwhile
            return Lookup(stored.data, None, False)
        if making is not None:
            return Lookup(None, making, False)
        self.misses += 1
        self._making[key] = asyncio.get_running_loop().create_future()
        return Lookup(None, None, True)

    def made(self, key: ResponseKey, data: dict[str, Any] | None, generation: int) -> None:
        """The request making ``key``'s answer is done: keep ``data`` (``None``: it failed, or
        had errors) unless something changed since it began, and hand it to those waiting."""
        kept = data if generation == self.generation else None
        if kept is not None:
            try:
                body: bytes | None = orjson.dumps({"data": kept})
            except TypeError:  # the view encodes it another way: always executed
                body = None
            self._entries[key] = _Stored(kept, generation, self.clock(), body)
        making = self._making.pop(key, None)
        if making is not None and not making.done():
            making.set_result(kept)

    def request_key(self, body: object, principal: Principal | None) -> ResponseKey | None:
        """The key of a request read off its decoded JSON body and its caller, without parsing
        a document: only a request naming a trusted document by hash with no text, whose
        operation is known here (a request naming none asks for the document's first)."""
        if not isinstance(body, dict) or principal is None or body.get("query") is not None:
            return None
        requested = _persisted_hash(body.get("extensions"))
        name, variables = body.get("operationName"), body.get("variables")
        if requested is None or not isinstance(name, str | None):
            return None
        if name is None:
            if requested not in self.first_operations:
                return None
            name = self.first_operations[requested]
        if not isinstance(variables, dict | None):
            return None
        try:
            encoded = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None
        return _key(requested, name, encoded, principal)

    def fresh_answer(self, key: ResponseKey) -> bytes | None:
        """The bytes of ``key``'s answer while :meth:`lookup` would serve it (fresh, or
        expiring while another request remakes it), or ``None``: the request goes the
        ordinary way, where it becomes the one remaking the answer or waits for it."""
        stored = self._entries.get(key)
        if stored is None or stored.body is None or stored.generation != self.generation:
            return None
        age = self.clock() - stored.made_at
        if age >= self.seconds and not (age < 2 * self.seconds and key in self._making):
            return None
        self.hits += 1
        return stored.body

    def invalidate(self, *_: Any) -> None:
        """Something changed: no kept answer is served again (any arguments are ignored, so
        this can listen to any event). Answers being made now are not kept either."""
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class CachedResponses(SchemaExtension):
    """Serves a kept answer instead of executing, and keeps what may be served again."""

    def __init__(self, cache: ResponseCache, documents: PersistedDocuments) -> None:
        self.cache = cache
        self.documents = documents

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.operation_type is not OperationType.QUERY:
            yield
            if context.operation_type is OperationType.MUTATION:
                self.cache.invalidate()  # a change through the graph
            return
        key = await self._key()
        if key is None:
            yield
            return
        found = self.cache.lookup(key)
        data = found.data
        if found.making is not None:
            # another request is making this answer: take it, or execute if it fails
            data = await asyncio.shield(found.making)
        if data is not None:
            context.result = ExecutionResult(data=data)
            yield
            return
        generation = self.cache.generation
        made: dict[str, Any] | None = None
        try:
            yield
            result = context.result
            if (
                isinstance(result, ExecutionResult)
                and not result.errors
                and isinstance(result.data, dict)
            ):
                made = result.data
        finally:
            if found.refresh:
                self.cache.made(key, made, generation)

    async def _key(self) -> ResponseKey | None:
        """The key of a cacheable request, or ``None`` when it must execute."""
        context = self.execution_context
        requested = _persisted_hash(context.operation_extensions)
        principal = principal_in(context.context)
        if requested is None or principal is None or context.graphql_document is None:
            return None
        operation = get_operation_ast(context.graphql_document, context.operation_name)
        if operation is None or not _cacheable_roots(operation.selection_set.selections, self):
            return None
        try:
            variables = orjson.dumps(context.variables or {}, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None
        if requested in self.cache.untrusted:
            return None
        known = await self.documents.find(requested, trusted=True)
        if known is None or not known.trusted:
            self.cache.untrusted[requested] = True
            return None
        definitions = context.graphql_document.definitions
        first = next((d for d in definitions if isinstance(d, OperationDefinitionNode)), None)
        if first is not None:
            self.cache.first_operations[requested] = first.name.value if first.name else None
        return _key(requested, context.operation_name, variables, principal)


def _key(requested: str, name: str | None, variables: bytes, principal: Principal) -> ResponseKey:
    """Everything that could change an answer: the document, the operation, the variables and
    the caller (identity, roles, channel: no one sees an answer shaped by another's rights)."""
    roles = tuple(sorted(principal.roles))
    return (requested, name, variables, principal.identity, roles, principal.channel)


def _cacheable_roots(selections: Iterable[Any], extension: CachedResponses) -> bool:
    return all(
        isinstance(selection, FieldNode)
        and not selection.directives
        and selection.name.value in extension.cache.fields
        for selection in selections
    )


def _persisted_hash(extensions: dict[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    sha256 = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
    return sha256.lower() if isinstance(sha256, str) and len(sha256) == 64 else None


class _Events(Protocol):
    def subscribe(self) -> AsyncIterator[object]: ...


async def forget_on_changes(cache: ResponseCache, *buses: _Events) -> None:
    """Forget every kept answer on each event of ``buses``, until cancelled.

    The buses call the cache at once for changes this process makes. Subscribing also starts
    what hears other replicas: the exception bus polls the database for events any process
    committed (and listens on Redis when there is one), the availability bus listens on Redis.
    So a change on another replica is forgotten within a poll, not only when entries expire.
    """

    async def forget(events: AsyncIterator[object]) -> None:
        async for _ in events:
            cache.invalidate()

    await asyncio.gather(*(forget(bus.subscribe()) for bus in buses))
