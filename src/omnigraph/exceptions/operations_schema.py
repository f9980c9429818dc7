"""``exceptionOperations``: open exceptions by kind, owner and age; resolution times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import strawberry

from omnigraph.exceptions.operations import AGE_BUCKETS, OperationsView

__all__ = ["ExceptionOperations"]


@strawberry.type(description="Open exceptions of one kind, owner, status and age bucket.")
class OpenExceptionGroup:
    kind: str
    owner_kind: str
    owner_source: str
    status: str
    age_bucket: str = strawberry.field(
        description="UNDER_1H, 1H_TO_4H, 4H_TO_24H, 1D_TO_3D or OVER_3D (since detection)."
    )
    count: int


@strawberry.type(description="A count under one key (a kind, an owner or an age bucket).")
class ExceptionCount:
    key: str
    count: int


@strawberry.type(description="Detection-to-resolution times over the period (nearest rank).")
class ResolutionTimeStats:
    count: int
    p50_seconds: float | None
    p90_seconds: float | None
    p99_seconds: float | None
    mean_seconds: float | None


@strawberry.type(description="Whether manual drag is shrinking: what is open, how fast it closes.")
class ExceptionOperations:
    as_of: datetime
    resolved_from: datetime
    resolved_to: datetime
    open: list[OpenExceptionGroup]
    resolved: int = strawberry.field(description="Exceptions resolved in the period.")
    failed: int = strawberry.field(description="Resolutions that failed in the period.")
    resolution_time: ResolutionTimeStats

    @classmethod
    def of(
        cls, view: OperationsView, resolved_from: datetime, resolved_to: datetime
    ) -> ExceptionOperations:
        return cls(
            as_of=view.as_of,
            resolved_from=resolved_from,
            resolved_to=resolved_to,
            open=[
                OpenExceptionGroup(
                    kind=g.kind,
                    owner_kind=g.owner_kind,
                    owner_source=g.owner_source,
                    status=g.status,
                    age_bucket=g.age_bucket,
                    count=g.count,
                )
                for g in view.open
            ],
            resolved=view.resolved,
            failed=view.failed,
            resolution_time=ResolutionTimeStats(
                count=view.resolution_times.count,
                p50_seconds=view.resolution_times.p50_seconds,
                p90_seconds=view.resolution_times.p90_seconds,
                p99_seconds=view.resolution_times.p99_seconds,
                mean_seconds=view.resolution_times.mean_seconds,
            ),
        )

    @strawberry.field(description="Open exceptions per kind.")
    def open_by_kind(self) -> list[ExceptionCount]:
        return _totals(self.open, lambda g: g.kind)

    @strawberry.field(description="Open exceptions per owning source.")
    def open_by_owner(self) -> list[ExceptionCount]:
        return _totals(self.open, lambda g: g.owner_source)

    @strawberry.field(description="Open exceptions per age bucket, youngest first.")
    def open_by_age(self) -> list[ExceptionCount]:
        counts = {label: 0 for label, _ in AGE_BUCKETS}
        for group in self.open:
            counts[group.age_bucket] += group.count
        return [ExceptionCount(key=k, count=v) for k, v in counts.items()]


def _totals(
    groups: list[OpenExceptionGroup], key: Callable[[OpenExceptionGroup], str]
) -> list[ExceptionCount]:
    counts: dict[str, int] = {}
    for group in groups:
        name = key(group)
        counts[name] = counts.get(name, 0) + group.count
    return [ExceptionCount(key=k, count=v) for k, v in sorted(counts.items())]
