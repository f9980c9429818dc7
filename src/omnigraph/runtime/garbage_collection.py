"""Python's cyclic garbage collector tuned for a server whose requests allocate in bulk.

Python runs a young collection every 700 net allocations. A reporting page (a hundred orders,
fifteen hundred resolved fields) allocates hundreds of thousands of objects, so under load the
collector ran dozens of young collections a request; everything the other requests in flight
still held was promoted on each, and the old generation filled with request garbage that only a
full collection of the whole heap frees: most of the CPU time of a reporting page went there
(docs/PERFORMANCE.md). While the service runs, the young threshold is raised
(``OMNIGRAPH_GC_YOUNG_THRESHOLD``) and what start-up built (modules, schema, rules, catalogue) is
frozen out of the collector's way (``gc.freeze``); both are undone when the last app stops.
Batch jobs in a process of their own tune the collector with :mod:`omnigraph.runtime.batch` instead.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["frozen_collection", "tuned_collector"]

_active = 0
_tuning: contextlib.ExitStack | None = None


@contextlib.contextmanager
def frozen_collection(
    threshold: tuple[int, int, int], *, collect_first: bool = False
) -> Iterator[None]:
    """Freeze what is alive now out of every collection and set ``threshold``; undo both after.

    A freeze someone else holds (a service in the same process, as in tests) is theirs to undo,
    not ours. ``collect_first`` frees what is garbage already, so it is not frozen with the rest.
    """
    previous = gc.get_threshold()
    ours = gc.get_freeze_count() == 0
    if ours:
        if collect_first:
            gc.collect()
        gc.freeze()
    gc.set_threshold(*threshold)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        if ours:
            gc.unfreeze()


@contextlib.contextmanager
def tuned_collector(young_threshold: int) -> Iterator[None]:
    """Raise the young generation's threshold and freeze the heap built so far, for the block.

    ``young_threshold`` 0 leaves the collector as it is. Nested or overlapping blocks (several
    apps in one process, as in tests) share one tuning, undone when the last one ends.

    >>> import gc
    >>> before = gc.get_threshold()
    >>> with tuned_collector(50_000):
    ...     gc.get_threshold()[0]
    50000
    >>> gc.get_threshold() == before
    True
    """
    global _active, _tuning
    if young_threshold <= 0:
        yield
        return
    if _active == 0:
        older = gc.get_threshold()[1:]
        _tuning = contextlib.ExitStack()
        _tuning.enter_context(frozen_collection((young_threshold, *older), collect_first=True))
    _active += 1
    try:
        yield
    finally:
        _active -= 1
        if _active == 0 and _tuning is not None:
            _tuning.close()
            _tuning = None
