"""What may watch a source client's traffic (metrics count it, tracing follows it).

An observer is attached once per client, when the client is made, and may hand back a
recorder the client calls after every request with its outcome and duration; the recorder
runs on the hot path, so it must be cheap (pre-bound counters, no lookups).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal, Protocol

import httpx

__all__ = ["UPSTREAM_OUTCOMES", "RequestRecorder", "UpstreamObserver", "UpstreamOutcome"]

UpstreamOutcome = Literal["ok", "client_error", "server_error", "timeout", "transport_error"]
# ok: 2xx or a status the caller accepts; client_error: another 4xx; server_error: 5xx;
# timeout and transport_error: no answer at all.
UPSTREAM_OUTCOMES: Final[tuple[UpstreamOutcome, ...]] = (
    "ok",
    "client_error",
    "server_error",
    "timeout",
    "transport_error",
)

RequestRecorder = Callable[[UpstreamOutcome, float], None]


class UpstreamObserver(Protocol):
    """Attached to each source client as it is made."""

    def attach(self, source: str, http: httpx.AsyncClient) -> RequestRecorder | None:
        """Start watching ``source`` (whose requests go through ``http``); return what to call
        after each request with its outcome and seconds, or None to be told nothing."""
        ...
