"""Collects what each demo system would have written to its change feed while the world is built.

Records change in story order (one order at a time), but a feed is in time order across all
records, so events are buffered with their moment and numbered only once the world is complete.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omnigraph.demo.formats import iso

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

__all__ = ["KINDS", "FeedRecorder"]

KINDS = ("storefront", "erp", "wms", "payments")


@dataclass
class _Pending:
    moment: datetime
    order: int
    event: dict[str, Any]


@dataclass
class FeedRecorder:
    """Buffers events per source kind; `finish()` returns numbered feeds, oldest first."""

    _pending: dict[str, list[_Pending]] = field(
        default_factory=lambda: {kind: [] for kind in KINDS}
    )
    # (kind, record id) -> that record's snapshots, so amending one reads only its own
    _by_record: dict[tuple[str, str], list[_Pending]] = field(default_factory=dict)
    _count: int = 0

    def emit(
        self,
        kind: str,
        moment: datetime,
        event_type: str,
        record_type: str,
        record_id: str,
        record: dict[str, Any],
    ) -> None:
        """Record that `record` took its current shape at `moment` (a snapshot is kept)."""
        self._count += 1
        event = {
            "type": event_type,
            "recordType": record_type,
            "recordId": record_id,
            "occurredAt": iso(moment),
            "data": copy.deepcopy(record),
        }
        pending = _Pending(moment, self._count, event)
        self._pending[kind].append(pending)
        self._by_record.setdefault((kind, record_id), []).append(pending)

    def amend(self, kind: str, record_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Apply `change` to every snapshot of one record on `kind`'s feed so far: for a detail
        the record carried from the start but the world decides only later (how the WMS
        graded a return is chosen with the stock history)."""
        for item in self._by_record.get((kind, record_id), ()):
            change(item.event["data"])

    def finish(self) -> dict[str, list[dict[str, Any]]]:
        """Number each feed's events in time order (ties keep emission order)."""
        feeds: dict[str, list[dict[str, Any]]] = {}
        for kind, pending in self._pending.items():
            ordered = sorted(pending, key=lambda item: (item.moment, item.order))
            feeds[kind] = [
                {"id": f"evt_{kind}_{sequence}", "sequence": sequence, **item.event}
                for sequence, item in enumerate(ordered, start=1)
            ]
        return feeds
