"""Cursors survive page-size changes, filters, and several sources; bad cursors are coded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnigraph.core.errors import InvalidCursor, PageSizeOutOfRange
from omnigraph.graph.pagination import ListingPosition, check_first, scan_listing


def paged(items: list[int], page_size: int):  # type: ignore[no-untyped-def]
    """A fake upstream listing with opaque page cursors (offsets) and a fixed page size."""

    async def fetch(page: str | None, limit: int) -> tuple[list[int], str | None]:
        start = int(page or 0)
        size = min(limit, page_size)
        chunk = items[start : start + size]
        more = start + size < len(items)
        return chunk, str(start + size) if more else None

    return fetch


async def walk(sources, first: int, keep=None) -> list[int]:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    after = None
    for _ in range(1000):
        result = await scan_listing(sources, first=first, after=after, keep=keep, max_pages=3)
        seen += [item for item, _ in result.items]
        if not result.has_next:
            return seen
        after = result.resume_at
    raise AssertionError("pagination did not terminate")


@given(
    sizes=st.lists(st.integers(0, 30), min_size=1, max_size=3),
    first=st.integers(1, 12),
    page_size=st.integers(1, 7),
)
async def test_walking_all_pages_visits_every_item_once(
    sizes: list[int], first: int, page_size: int
) -> None:
    offset = 0
    sources, everything = [], []
    for size in sizes:
        items = list(range(offset, offset + size))
        offset += size
        everything += items
        sources.append(paged(items, page_size))
    assert await walk(sources, first) == everything


async def test_filters_apply_per_page_and_keep_order() -> None:
    async def even(items: list[int]) -> list[bool]:
        return [i % 2 == 0 for i in items]

    assert await walk([paged(list(range(40)), 5)], 3, keep=even) == list(range(0, 40, 2))


def test_bad_cursors_and_page_sizes_are_coded() -> None:
    with pytest.raises(InvalidCursor):
        ListingPosition.decode("not-a-cursor!", "orders")
    with pytest.raises(InvalidCursor):
        ListingPosition.decode(ListingPosition(0, None, 1).encode("payouts"), "orders")
    with pytest.raises(PageSizeOutOfRange):
        check_first(101, 100)
    with pytest.raises(PageSizeOutOfRange):
        check_first(-1, 100)
