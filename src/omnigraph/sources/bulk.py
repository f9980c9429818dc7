"""Bulk reads: records read by the thousand for a background job (payout reconciliation), which
no request will ask for again, so none of them is kept.

Inside a :func:`bulk_reads` scope a batch read puts nothing it fetched into the record cache
(what the cache already holds still answers: the charges a Stripe sync cached need no call),
and each record is parsed afresh instead of being kept once per content
(:func:`omnigraph.sources.parsing.parse_kept`). Outside one, nothing changes. Keeping a million
records a reconciliation reads cost more than reading them (each kept record was written to the
cache and serialised for its content key), and what was kept pushed out the records requests
do read again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["bulk_reads", "reading_in_bulk"]

_bulk: ContextVar[bool] = ContextVar("omnigraph_bulk_reads", default=False)


@contextlib.contextmanager
def bulk_reads() -> Iterator[None]:
    """Read in bulk in this scope (and the tasks it starts): keep nothing that is fetched."""
    token = _bulk.set(True)
    try:
        yield
    finally:
        _bulk.reset(token)


def reading_in_bulk() -> bool:
    """Whether this read is inside a :func:`bulk_reads` scope."""
    return _bulk.get()
