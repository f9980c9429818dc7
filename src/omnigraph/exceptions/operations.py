"""The operations view: what is open (by kind, owner and age) and how fast things get resolved.

These are the numbers that show whether manual drag is shrinking; counting happens in the
database, percentiles over the period's resolution times in Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import ExceptionEventRow, ExceptionRow
from omnigraph.exceptions.lifecycle import OPEN_STATUSES, ExceptionStatus

__all__ = [
    "AGE_BUCKETS",
    "DayInterventions",
    "DayKindResolutions",
    "OpenGroup",
    "OperationsView",
    "ResolutionDays",
    "ResolutionTimes",
    "is_system_actor",
    "operations_view",
    "resolution_days",
]

# (label, lower bound of age); an exception falls in the last bucket whose bound it reached.
AGE_BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("UNDER_1H", timedelta(0)),
    ("1H_TO_4H", timedelta(hours=1)),
    ("4H_TO_24H", timedelta(hours=4)),
    ("1D_TO_3D", timedelta(days=1)),
    ("OVER_3D", timedelta(days=3)),
)


@dataclass(frozen=True, slots=True)
class OpenGroup:
    kind: str
    owner_kind: str
    owner_source: str
    status: str
    age_bucket: str
    count: int


@dataclass(frozen=True, slots=True)
class ResolutionTimes:
    count: int
    p50_seconds: float | None
    p90_seconds: float | None
    p99_seconds: float | None
    mean_seconds: float | None


@dataclass(frozen=True, slots=True)
class OperationsView:
    as_of: datetime
    open: list[OpenGroup]
    resolved: int
    failed: int
    resolution_times: ResolutionTimes


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile: a value that really occurred, never an interpolation."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


async def operations_view(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    resolved_from: datetime,
    resolved_to: datetime,
) -> OperationsView:
    bucket = case(
        *(
            (ExceptionRow.detected_at <= now - lower, label)
            for label, lower in reversed(AGE_BUCKETS[1:])
        ),
        else_=AGE_BUCKETS[0][0],
    )
    open_query = (
        select(
            ExceptionRow.kind,
            ExceptionRow.owner_kind,
            ExceptionRow.owner_source,
            ExceptionRow.status,
            bucket.label("age_bucket"),
            func.count().label("count"),
        )
        .where(ExceptionRow.status.in_([s.value for s in OPEN_STATUSES]))
        .group_by(
            ExceptionRow.kind,
            ExceptionRow.owner_kind,
            ExceptionRow.owner_source,
            ExceptionRow.status,
            bucket,
        )
        .order_by(ExceptionRow.kind, ExceptionRow.owner_source, ExceptionRow.status)
    )
    in_period = (ExceptionRow.updated_at >= resolved_from) & (ExceptionRow.updated_at < resolved_to)
    async with sessions() as session:
        groups = [
            OpenGroup(kind, owner_kind, owner_source, status, age, int(count))
            for kind, owner_kind, owner_source, status, age, count in await session.execute(
                open_query
            )
        ]
        resolved_rows = list(
            await session.execute(
                select(ExceptionRow.detected_at, ExceptionRow.resolved_at).where(
                    ExceptionRow.status == ExceptionStatus.RESOLVED.value,
                    ExceptionRow.resolved_at >= resolved_from,
                    ExceptionRow.resolved_at < resolved_to,
                )
            )
        )
        failed = await session.scalar(
            select(func.count()).where(
                ExceptionRow.status == ExceptionStatus.RESOLUTION_FAILED.value, in_period
            )
        )
    durations = sorted(
        (resolved - detected).total_seconds()
        for detected, resolved in resolved_rows
        if resolved is not None
    )
    return OperationsView(
        as_of=now,
        open=groups,
        resolved=len(durations),
        failed=int(failed or 0),
        resolution_times=ResolutionTimes(
            count=len(durations),
            p50_seconds=percentile(durations, 0.5),
            p90_seconds=percentile(durations, 0.9),
            p99_seconds=percentile(durations, 0.99),
            mean_seconds=sum(durations) / len(durations) if durations else None,
        ),
    )


# the actors of omnigraph's own steps: its detectors and monitors, and the payout reconciler
_OMNIGRAPH_ACTOR_PREFIX = "omnigraph:"
_OMNIGRAPH_ACTORS = frozenset({"reconciler"})


def is_system_actor(actor: str, systems: frozenset[str]) -> bool:
    """Whether a step of an exception's history was taken by a system, not a person: one of the
    configured ``systems`` (a source reporting it, an owner answering a command) or omnigraph
    itself; any other actor (an API key, a JWT subject, the local developer) is a person."""
    return (
        actor in systems or actor in _OMNIGRAPH_ACTORS or actor.startswith(_OMNIGRAPH_ACTOR_PREFIX)
    )


@dataclass(frozen=True, slots=True)
class DayKindResolutions:
    day: date
    kind: str
    times: ResolutionTimes


@dataclass(frozen=True, slots=True)
class DayInterventions:
    day: date
    manual: int
    owner_alone: int


@dataclass(frozen=True, slots=True)
class ResolutionDays:
    by_kind: list[DayKindResolutions]
    interventions: list[DayInterventions]


def _times(durations: list[float]) -> ResolutionTimes:
    durations = sorted(durations)
    return ResolutionTimes(
        count=len(durations),
        p50_seconds=percentile(durations, 0.5),
        p90_seconds=percentile(durations, 0.9),
        p99_seconds=percentile(durations, 0.99),
        mean_seconds=sum(durations) / len(durations) if durations else None,
    )


async def resolution_days(
    sessions: async_sessionmaker[AsyncSession],
    *,
    resolved_from: datetime,
    resolved_to: datetime,
    systems: frozenset[str],
) -> ResolutionDays:
    """The exceptions resolved in [``resolved_from``, ``resolved_to``), per UTC day of their
    resolution: detection-to-resolution times per kind, and how many needed a person (any step
    of their history up to the resolution taken by a person, :func:`is_system_actor`) against
    those resolved by the systems alone."""
    in_period = (
        ExceptionRow.status == ExceptionStatus.RESOLVED.value,
        ExceptionRow.resolved_at >= resolved_from,
        ExceptionRow.resolved_at < resolved_to,
    )
    async with sessions() as session:
        rows = list(
            await session.execute(
                select(
                    ExceptionRow.id,
                    ExceptionRow.kind,
                    ExceptionRow.detected_at,
                    ExceptionRow.resolved_at,
                ).where(*in_period)
            )
        )
        steps = list(
            await session.execute(
                select(ExceptionEventRow.exception_id, ExceptionEventRow.actor)
                .join(ExceptionRow, ExceptionRow.id == ExceptionEventRow.exception_id)
                .where(*in_period)
            )
        )
    by_a_person = {
        exception_id for exception_id, actor in steps if not is_system_actor(actor, systems)
    }
    durations: dict[tuple[date, str], list[float]] = {}
    manual: dict[date, int] = {}
    alone: dict[date, int] = {}
    for exception_id, kind, detected_at, resolved_at in rows:
        if resolved_at is None:  # not when resolved_at is in the period; for the type checker
            continue
        day = resolved_at.date()
        durations.setdefault((day, kind), []).append((resolved_at - detected_at).total_seconds())
        counts = manual if exception_id in by_a_person else alone
        counts[day] = counts.get(day, 0) + 1
    days = sorted(manual.keys() | alone.keys())
    return ResolutionDays(
        by_kind=[
            DayKindResolutions(day, kind, _times(values))
            for (day, kind), values in sorted(durations.items())
        ],
        interventions=[DayInterventions(d, manual.get(d, 0), alone.get(d, 0)) for d in days],
    )
