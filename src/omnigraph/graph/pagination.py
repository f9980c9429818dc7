"""Relay cursors over paged upstream listings, with filters evaluated after fetching.

A cursor names a position in the upstream listing (which source, which upstream page, how many
items of it were consumed), so resuming never depends on state kept in this process.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from omnigraph.core.errors import InvalidCursor, PageSizeOutOfRange
from omnigraph.graph.types import Connection, Edge, PageInfo

__all__ = [
    "ListingPosition",
    "ScanResult",
    "check_first",
    "decode_cursor",
    "encode_cursor",
    "page_info",
    "scan_connection",
    "scan_listing",
]

ItemT = TypeVar("ItemT")
NodeT = TypeVar("NodeT")
PageFetcher = Callable[[str | None, int], Awaitable[tuple[list[ItemT], str | None]]]


def check_first(first: int, cap: int) -> int:
    if first < 0 or first > cap:
        raise PageSizeOutOfRange(
            f"first must be between 0 and {cap}, got {first}", argument="first", max=cap
        )
    return first


def encode_cursor(kind: str, payload: dict[str, Any]) -> str:
    """An opaque cursor: the payload as compact JSON with sorted keys, base64url without
    padding (``decode_cursor`` reads it, and the cursors of earlier releases, which escaped
    non-ASCII text).

    >>> encode_cursor("order", {"offset": 2})
    'eyJrIjoib3JkZXIiLCJvZmZzZXQiOjJ9'
    >>> decode_cursor(encode_cursor("order", {"offset": 2}), "order")
    {'offset': 2}
    """
    position = {"k": kind, **payload}
    try:
        raw = orjson.dumps(position, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # what orjson cannot write (an integer past 64 bits): json's
        raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
        payload = json.loads(raw)
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidCursor(f"{cursor!r} is not a valid cursor", cursor=cursor) from None
    if not isinstance(payload, dict) or payload.pop("k", None) != kind:
        raise InvalidCursor(f"{cursor!r} is not a cursor of this list", cursor=cursor)
    return payload


@dataclass(frozen=True, slots=True)
class ListingPosition:
    """Just after ``skip`` items of the page fetched with ``page`` from source ``source``."""

    source: int = 0
    page: str | None = None
    skip: int = 0

    def encode(self, kind: str) -> str:
        return encode_cursor(kind, {"s": self.source, "p": self.page, "o": self.skip})

    @classmethod
    def decode(cls, cursor: str, kind: str) -> ListingPosition:
        payload = decode_cursor(cursor, kind)
        source, page, skip = payload.get("s"), payload.get("p"), payload.get("o")
        if not (
            isinstance(source, int)
            and source >= 0
            and (page is None or isinstance(page, str))
            and isinstance(skip, int)
            and skip >= 0
        ):
            raise InvalidCursor(f"{cursor!r} is not a valid cursor", cursor=cursor)
        return cls(source, page, skip)


@dataclass(frozen=True, slots=True)
class ScanResult(Generic[ItemT]):
    items: list[tuple[ItemT, ListingPosition]]
    has_next: bool
    resume_at: ListingPosition | None


async def scan_listing(
    fetchers: Sequence[PageFetcher[ItemT]],
    *,
    first: int,
    after: ListingPosition | None,
    keep: Callable[[list[ItemT]], Awaitable[list[bool]]] | None = None,
    max_pages: int,
) -> ScanResult[ItemT]:
    """Collect up to ``first`` kept items after ``after``, reading sources in order.

    Filters the upstream cannot apply (``keep``) are evaluated a page at a time, so one upstream
    page costs one batched evaluation; ``max_pages`` bounds the work one request may cause, and a
    scan cut short still reports where to resume.
    """
    position = after or ListingPosition()
    found: list[tuple[ItemT, ListingPosition]] = []
    if first == 0:
        return ScanResult(found, False, None)
    source, page, skip = position.source, position.page, position.skip
    pages_read = 0
    while source < len(fetchers):
        items, next_page = await fetchers[source](page, first + 1)
        pages_read += 1
        flags = await keep(items) if keep else [True] * len(items)
        for index in range(skip, len(items)):
            if flags[index]:
                found.append((items[index], ListingPosition(source, page, index + 1)))
                if len(found) > first:
                    return ScanResult(found[:first], True, found[first - 1][1])
        skip = max(0, skip - len(items))
        if next_page:
            page = next_page
        else:
            source, page, skip = source + 1, None, 0
        if pages_read >= max_pages and source < len(fetchers):
            return ScanResult(found, True, ListingPosition(source, page, skip))
    return ScanResult(found, False, found[-1][1] if found else None)


def page_info(edges: Sequence[Edge[Any]], has_next: bool, resume: str | None) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else resume,
    )


def scan_connection(
    result: ScanResult[ItemT], cursor_kind: str, to_node: Callable[[ItemT], NodeT]
) -> Connection[NodeT]:
    """A Relay connection over a scanned upstream listing; an empty page cut short by the scan
    limit still carries the cursor to resume from."""
    edges: list[Edge[NodeT]] = [
        _ListedEdge(to_node(item), pos, cursor_kind) for item, pos in result.items
    ]
    # where to resume is the last edge's cursor, written here only for a page without edges
    resume = result.resume_at.encode(cursor_kind) if result.resume_at and not edges else None
    return Connection(edges=edges, page_info=page_info(edges, result.has_next, resume))


class _ListedEdge(Edge[NodeT]):
    """An edge of a scanned listing whose cursor is written when first read: a reporting
    page that asks only for its nodes and ``pageInfo`` writes one cursor, not one per edge.
    The same ``Edge`` to the schema (strawberry's type, its ``cursor`` read as an attribute)."""

    def __init__(self, node: NodeT, position: ListingPosition, kind: str) -> None:
        self.node = node
        self._position = position
        self._kind = kind

    def __getattr__(self, name: str) -> Any:
        # called only for what the instance lacks: its cursor until first read
        if name != "cursor":
            raise AttributeError(name)
        cursor = self._position.encode(self._kind)
        self.cursor = cursor
        return cursor
