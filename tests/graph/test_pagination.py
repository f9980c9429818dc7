"""Cursors survive page-size changes, filters, and several sources; bad cursors are coded."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnigraph.core.errors import InvalidCursor, PageSizeOutOfRange
from omnigraph.graph.pagination import (
    ListingPosition,
    ScanResult,
    check_first,
    decode_cursor,
    encode_cursor,
    page_info,
    scan_connection,
    scan_listing,
)
from omnigraph.graph.types import Edge


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


@given(
    sizes=st.lists(st.integers(0, 12), min_size=1, max_size=3),
    first=st.integers(1, 6),
    page_size=st.integers(1, 7),
    keep_every=st.integers(1, 3),
)
async def test_has_next_is_true_exactly_while_an_item_remains(
    sizes: list[int], first: int, page_size: int, keep_every: int
) -> None:
    """Whatever the upstream page size, the filter and the number of sources: a page is full
    unless it is the last, and it says there is more exactly when a kept item remains (also
    when the last page is exactly full); resuming at its cursor gives the next items."""
    offset, sources, everything = 0, [], []
    for size in sizes:
        items = list(range(offset, offset + size))
        offset += size
        everything += [i for i in items if i % keep_every == 0]
        sources.append(paged(items, page_size))

    async def kept(items: list[int]) -> list[bool]:
        return [i % keep_every == 0 for i in items]

    seen: list[int] = []
    after = None
    for _ in range(100):
        result = await scan_listing(sources, first=first, after=after, keep=kept, max_pages=100)
        page = [item for item, _ in result.items]
        assert page == everything[len(seen) : len(seen) + first]
        seen += page
        assert result.has_next == (len(seen) < len(everything))
        if not result.has_next:
            break
        assert result.resume_at == result.items[-1][1]
        after = result.resume_at
    assert seen == everything


async def test_a_scan_cut_short_resumes_where_it_stopped() -> None:
    """``max_pages`` bounds the upstream pages one request reads; a page cut short says there
    is more and where to resume, and resuming misses nothing."""

    async def none(items: list[int]) -> list[bool]:
        return [False] * len(items)

    async def odd(items: list[int]) -> list[bool]:
        return [i % 2 == 1 for i in items]

    source = paged(list(range(20)), 4)
    cut = await scan_listing([source], first=3, after=None, keep=none, max_pages=2)
    assert (cut.items, cut.has_next) == ([], True)
    assert cut.resume_at == ListingPosition(0, "8", 0)
    partial = await scan_listing([source], first=5, after=None, keep=odd, max_pages=2)
    assert [item for item, _ in partial.items] == [1, 3, 5, 7]
    assert partial.has_next
    rest = await scan_listing([source], first=5, after=partial.resume_at, keep=odd, max_pages=9)
    assert [item for item, _ in rest.items] == [9, 11, 13, 15, 17]
    assert rest.has_next
    end = await scan_listing([source], first=5, after=rest.resume_at, keep=odd, max_pages=9)
    assert ([item for item, _ in end.items], end.has_next) == ([19], False)
    empty = await scan_listing([source], first=0, after=None, keep=odd, max_pages=9)
    assert (empty.items, empty.has_next, empty.resume_at) == ([], False, None)


async def test_a_scan_that_ends_on_its_last_allowed_page_has_no_next() -> None:
    """The page limit reached exactly as the last source ends: nothing more to read."""
    source = paged(list(range(8)), 4)
    result = await scan_listing([source], first=50, after=None, max_pages=2)
    assert ([item for item, _ in result.items], result.has_next) == (list(range(8)), False)


@pytest.mark.parametrize("first", [0, 1, 100])
def test_a_page_size_within_the_cap_is_taken_as_asked(first: int) -> None:
    assert check_first(first, 100) == first


@pytest.mark.parametrize("first", [-1, 101])
def test_a_page_size_out_of_range_says_the_range(first: int) -> None:
    with pytest.raises(PageSizeOutOfRange) as refused:
        check_first(first, 100)
    assert refused.value.message == f"first must be between 0 and 100, got {first}"
    assert refused.value.extensions == {
        "code": "PAGE_SIZE_OUT_OF_RANGE",
        "argument": "first",
        "max": 100,
    }


def test_a_cursor_is_url_safe_base64_of_its_kind_and_position() -> None:
    """Opaque to clients, but stable: a cursor handed out before a release still works."""
    cursor = encode_cursor("exceptions", {"at": "2026-11-20T00:00:00+00:00", "id": "x"})
    raw = '{"at":"2026-11-20T00:00:00+00:00","id":"x","k":"exceptions"}'
    assert cursor == base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    assert decode_cursor(cursor, "exceptions") == {"at": "2026-11-20T00:00:00+00:00", "id": "x"}
    position = ListingPosition(2, "page-7", 3)
    encoded = position.encode("orders")
    assert decode_cursor(encoded, "orders") == {"s": 2, "p": "page-7", "o": 3}
    assert ListingPosition.decode(encoded, "orders") == position
    assert ListingPosition.decode(ListingPosition().encode("orders"), "orders") == (
        ListingPosition(0, None, 0)
    )


def test_a_cursor_of_any_payload_round_trips_and_earlier_cursors_still_decode() -> None:
    """Text beyond ASCII is written as UTF-8 (an earlier release escaped it: such cursors still
    work), and an integer past 64 bits, which orjson cannot write, still makes a cursor."""
    payload = {"after": "Zoë 東京", "n": [1, 2.5, None, True], "big": 2**70}
    assert decode_cursor(encode_cursor("orders", payload), "orders") == payload
    accented = {"after": "Zoë", "id": 7}
    raw = '{"after":"Zo\\u00eb","id":7,"k":"orders"}'  # as json.dumps escaped it
    assert decode_cursor(b64(raw), "orders") == accented
    assert encode_cursor("orders", accented) == b64('{"after":"Zoë","id":7,"k":"orders"}')


def b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


INVALID, FOREIGN = "is not a valid cursor", "is not a cursor of this list"


@pytest.mark.parametrize(
    ("cursor", "says"),
    [
        ("not-a-cursor!", INVALID),  # not base64
        ("w", INVALID),  # base64 of nothing whole
        (b64("not json"), INVALID),
        (b64("[1, 2]"), FOREIGN),  # not an object
        (b64('{"s":0}'), FOREIGN),  # of no list
        (b64('{"k":"payouts"}'), FOREIGN),  # of another list
    ],
)
def test_a_cursor_that_is_not_one_of_this_list_is_coded(cursor: str, says: str) -> None:
    with pytest.raises(InvalidCursor) as refused:
        decode_cursor(cursor, "orders")
    assert refused.value.message == f"{cursor!r} {says}"
    assert refused.value.extensions == {"code": "INVALID_CURSOR", "cursor": cursor}


@pytest.mark.parametrize(
    "payload",
    [
        {"s": -1, "p": None, "o": 0},
        {"s": "0", "p": None, "o": 0},
        {"s": 0, "p": 7, "o": 0},
        {"s": 0, "p": None, "o": -1},
        {"s": 0, "p": None, "o": "1"},
        {"p": None, "o": 0},
    ],
)
def test_a_listing_cursor_with_an_impossible_position_is_coded(payload: dict[str, Any]) -> None:
    cursor = encode_cursor("orders", payload)
    with pytest.raises(InvalidCursor) as refused:
        ListingPosition.decode(cursor, "orders")
    assert refused.value.message == f"{cursor!r} is not a valid cursor"
    assert refused.value.extensions == {"code": "INVALID_CURSOR", "cursor": cursor}


async def test_a_connection_carries_each_items_cursor_and_where_to_resume() -> None:
    source = paged(list(range(10)), 4)
    page = scan_connection(
        await scan_listing([source], first=3, after=None, max_pages=5), "orders", str
    )
    assert [edge.node for edge in page.edges] == ["0", "1", "2"]
    positions = [ListingPosition.decode(edge.cursor, "orders") for edge in page.edges]
    assert positions == [ListingPosition(0, None, n) for n in (1, 2, 3)]
    info = page.page_info
    assert (info.has_next_page, info.start_cursor, info.end_cursor) == (
        True,
        page.edges[0].cursor,
        page.edges[-1].cursor,
    )

    async def none(items: list[int]) -> list[bool]:
        return [False] * len(items)

    cut = await scan_listing([source], first=3, after=None, keep=none, max_pages=1)
    empty = scan_connection(cut, "orders", str)
    assert empty.edges == []
    assert (empty.page_info.has_next_page, empty.page_info.start_cursor) == (True, None)
    assert empty.page_info.end_cursor == ListingPosition(0, "4", 0).encode("orders")
    done = scan_connection(ScanResult([], False, None), "orders", str)
    assert (done.page_info.has_next_page, done.page_info.end_cursor) == (False, None)


async def test_an_edge_writes_its_cursor_only_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page read for its nodes and ``pageInfo`` writes its first and last cursors, not one
    per edge; an edge read later answers the cursor it would have had, the same each time."""
    written: list[ListingPosition] = []
    encode = ListingPosition.encode

    def counting(position: ListingPosition, kind: str) -> str:
        written.append(position)
        return encode(position, kind)

    monkeypatch.setattr(ListingPosition, "encode", counting)
    source = paged(list(range(30)), 10)
    page = scan_connection(
        await scan_listing([source], first=8, after=None, max_pages=5), "orders", str
    )
    assert [edge.node for edge in page.edges] == [str(n) for n in range(8)]
    assert written == [ListingPosition(0, None, 1), ListingPosition(0, None, 8)]
    middle = page.edges[3]
    assert ListingPosition.decode(middle.cursor, "orders") == ListingPosition(0, None, 4)
    assert middle.cursor == middle.cursor
    assert len(written) == 3  # written once, then kept
    assert isinstance(middle, Edge)
    with pytest.raises(AttributeError):
        middle.elsewhere  # type: ignore[attr-defined]  # noqa: B018


@pytest.mark.parametrize("ref", ["a", "ab", "abc", "abcd"])
def test_a_cursor_carries_no_padding_and_reads_back(ref: str) -> None:
    """Every length of payload: the cursor is the unpadded URL-safe form, and decodes."""
    cursor = encode_cursor("exceptions", {"id": ref})
    raw = json.dumps({"id": ref, "k": "exceptions"}, separators=(",", ":"))
    assert cursor == base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    assert "=" not in cursor
    assert decode_cursor(cursor, "exceptions") == {"id": ref}


def test_a_page_ends_at_its_last_edge_or_else_where_to_resume() -> None:
    edges = [Edge(cursor="c1", node=1), Edge(cursor="c2", node=2)]
    info = page_info(edges, True, None)
    assert (info.has_next_page, info.start_cursor, info.end_cursor) == (True, "c1", "c2")
    assert page_info(edges, False, "elsewhere").end_cursor == "c2"
    empty = page_info([], True, "resume-here")
    assert (empty.start_cursor, empty.end_cursor) == (None, "resume-here")


async def test_a_page_asks_the_upstream_for_one_item_more_than_it_shows() -> None:
    """The upstream is asked for what the page shows plus one (to know whether more remain),
    never for more: a client's ``first: 3`` costs the owning system four records a request."""
    asked: list[int] = []
    listing = paged(list(range(50)), 50)

    async def fetch(page: str | None, limit: int) -> tuple[list[int], str | None]:
        asked.append(limit)
        return await listing(page, limit)

    result = await scan_listing([fetch], first=3, after=None, max_pages=5)
    assert ([item for item, _ in result.items], result.has_next) == ([0, 1, 2], True)
    assert asked == [4]


async def test_a_cursor_survives_a_smaller_page_size_even_when_a_scan_is_cut_short() -> None:
    """A page of 5, then pages of 2 reading one upstream page a request: the upstream pages
    shrink with ``first``, so the position carries past them, and no item is seen twice."""
    source = paged(list(range(12)), 50)
    first = await scan_listing([source], first=5, after=None, max_pages=1)
    seen = [item for item, _ in first.items]
    after = first.resume_at
    for _ in range(20):
        result = await scan_listing([source], first=2, after=after, max_pages=1)
        seen += [item for item, _ in result.items]
        if not result.has_next:
            break
        after = result.resume_at
    assert seen == list(range(12))
