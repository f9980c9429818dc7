"""The demo world's fixed instant, and a clock that starts at a chosen instant.

The built-in demo business is "as of" :data:`DEMO_ANCHOR` unless told otherwise
(``OMNIGRAPH_DEMO_AS_OF``, ``--as-of``): its records end there, so the same anchor gives the
same answers on any day. While the service serves the demo, its clock is a
:class:`StartedClock` at that instant: "now" in the graph (exception ages, cut-offs,
reservation expiry) moves on with real time from the anchor and agrees with the demo's data.

>>> clock = StartedClock(DEMO_ANCHOR, monotonic=lambda: 5.0)
>>> clock().isoformat()
'2026-11-20T12:00:00+00:00'
>>> parse_instant("2026-11-20").isoformat()
'2026-11-20T00:00:00+00:00'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Final

__all__ = ["DEMO_ANCHOR", "StartedClock", "parse_instant"]

# Noon on a Friday: every store and the DC before their same-day cut-offs, and the month's
# first 19 days of payouts settled (the reconciliation examples read 2026-11-01..20).
DEMO_ANCHOR: Final = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class StartedClock:
    """A clock that reads ``start`` when made and then advances with real (monotonic) time."""

    def __init__(self, start: datetime, *, monotonic: Callable[[], float] = time.monotonic):
        if start.tzinfo is None:
            raise ValueError("a clock's start must be timezone-aware")
        self.start = start.astimezone(UTC)
        self._monotonic = monotonic
        self._origin = monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=self._monotonic() - self._origin)

    def __repr__(self) -> str:
        return f"StartedClock({self.start.isoformat()})"


def parse_instant(value: str) -> datetime:
    """An instant as a person writes it: ISO 8601 with or without an offset (none means UTC),
    a date (its midnight UTC), ``now`` or ``today`` (this midnight UTC); a ValueError else."""
    text = value.strip()
    now = datetime.now(UTC).replace(microsecond=0)
    if text.lower() == "now":
        return now
    if text.lower() == "today":
        return now.replace(hour=0, minute=0, second=0)
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is not an instant: write e.g. 2026-11-20T12:00:00Z, 2026-11-20 or now"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
