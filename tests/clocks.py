"""Clocks a test moves by hand, so that a wait, a backoff or an expiry passes without anyone
waiting: ``SecondsClock`` for what reads monotonic seconds, ``WallClock`` for what reads the
time of day (``Services.now``)."""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["SecondsClock", "WallClock"]


class SecondsClock:
    """Monotonic seconds (``time.monotonic``'s stand-in), at ``now`` until moved."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class WallClock:
    """The time of day, at ``at`` until moved."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
