"""The exception lifecycle: which status may follow which, and why a move is refused.

OPEN -> ACKNOWLEDGED -> RESOLUTION_PENDING -> RESOLVED
  \\___________________/        |          -> RESOLUTION_FAILED -> OPEN (choose again)
                               |                              -> RESOLUTION_PENDING (replay)
"""

from __future__ import annotations

import enum

__all__ = ["OPEN_STATUSES", "ExceptionStatus", "OutboxStatus", "can_move"]


class ExceptionStatus(enum.StrEnum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLUTION_PENDING = "RESOLUTION_PENDING"
    RESOLVED = "RESOLVED"
    RESOLUTION_FAILED = "RESOLUTION_FAILED"


_NEXT: dict[ExceptionStatus, frozenset[ExceptionStatus]] = {
    ExceptionStatus.OPEN: frozenset(
        {ExceptionStatus.ACKNOWLEDGED, ExceptionStatus.RESOLUTION_PENDING}
    ),
    ExceptionStatus.ACKNOWLEDGED: frozenset({ExceptionStatus.RESOLUTION_PENDING}),
    ExceptionStatus.RESOLUTION_PENDING: frozenset(
        {ExceptionStatus.RESOLVED, ExceptionStatus.RESOLUTION_FAILED}
    ),
    ExceptionStatus.RESOLUTION_FAILED: frozenset(
        {ExceptionStatus.OPEN, ExceptionStatus.RESOLUTION_PENDING}
    ),
    ExceptionStatus.RESOLVED: frozenset(),
}


OPEN_STATUSES = frozenset(
    {
        ExceptionStatus.OPEN,
        ExceptionStatus.ACKNOWLEDGED,
        ExceptionStatus.RESOLUTION_PENDING,
        ExceptionStatus.RESOLUTION_FAILED,
    }
)


def can_move(current: ExceptionStatus | str, target: ExceptionStatus) -> bool:
    return target in _NEXT[ExceptionStatus(current)]


class OutboxStatus(enum.StrEnum):
    PENDING = "PENDING"  # waiting for (another) delivery attempt
    DELIVERED = "DELIVERED"  # the owner accepted and applied it
    REJECTED = "REJECTED"  # the owner answered, and said no
    DEAD = "DEAD"  # gave up after the configured attempts; an operator may replay it
