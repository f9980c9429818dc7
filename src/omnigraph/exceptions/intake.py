"""Intake: every exception, whoever detected it, enters here, once per underlying problem.

The ``dedupe_key`` names the problem (the WMS's report id, or a detector's key such as
``disagreement:web-store:SF-100130:state``); seeing it again returns the existing exception.
A problem that can come back after it was resolved (a disagreement between systems) enters
through :func:`take_in_occurrence`: seen again with evidence newer than the resolution, it is a
new occurrence and a new exception (``<key>#2``, ``#3``...).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import ExceptionEventRow, ExceptionRow
from omnigraph.exceptions.catalogue import ExceptionCatalogue, ExceptionKind
from omnigraph.exceptions.lifecycle import ExceptionStatus

__all__ = [
    "ExceptionReport",
    "Reporter",
    "exception_id",
    "take_in",
    "take_in_many",
    "take_in_occurrence",
]

# Exception ids are named by the problem (its dedupe key), so the same problem gets the same id
# in every database: the demo's exceptions, and the examples that act on them, reproduce.
_IDS = uuid.UUID("0f6e7c1a-52a5-4f0e-9d7b-6f6d6e696772")


def exception_id(dedupe_key: str) -> str:
    """The id of the exception recording the problem ``dedupe_key`` names."""
    return str(uuid.uuid5(_IDS, dedupe_key))


@dataclass(frozen=True, slots=True)
class ExceptionReport:
    """A problem as a source or a detector describes it."""

    kind: ExceptionKind
    dedupe_key: str
    subject: str
    subject_type: str
    summary: str
    detected_at: datetime
    reported_by: str
    owner_source: str
    order_source: str | None = None
    order_ref: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reporter:
    """One detector's pass: who reports and when, and the one way a report names its subject.

    A subject is a source's record, ``<source>:<record id>``; a report about an order also
    carries the order's source and reference, so the order's exceptions find it::

        reporter = Reporter("reconciler", detected_at=now)
        report = reporter.about_order(
            ExceptionKind.RETURN_WITHOUT_REFUND, "RETURN_WITHOUT_REFUND:RMA-7", "web-store",
            "SF-100130", summary="return RMA-7 was received and not refunded",
            owner_source="payments",
        )
        (report.subject, report.order_ref)  # ('web-store:SF-100130', 'SF-100130')
    """

    reported_by: str
    detected_at: datetime

    def about_record(
        self,
        kind: ExceptionKind,
        dedupe_key: str,
        source: str,
        record: str,
        record_type: str,
        *,
        summary: str,
        owner_source: str,
        order_source: str | None = None,
        order_ref: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> ExceptionReport:
        """The problem with ``source``'s ``record_type`` ``record``."""
        return ExceptionReport(
            kind=kind,
            dedupe_key=dedupe_key,
            subject=f"{source}:{record}",
            subject_type=record_type,
            summary=summary,
            detected_at=self.detected_at,
            reported_by=self.reported_by,
            owner_source=owner_source,
            order_source=order_source,
            order_ref=order_ref,
            details=details or {},
        )

    def about_order(
        self,
        kind: ExceptionKind,
        dedupe_key: str,
        source: str,
        order: str,
        *,
        summary: str,
        owner_source: str,
        details: dict[str, Any] | None = None,
    ) -> ExceptionReport:
        """The problem with order ``order`` of the storefront ``source``."""
        return self.about_record(
            kind,
            dedupe_key,
            source,
            order,
            "order",
            summary=summary,
            owner_source=owner_source,
            order_source=source,
            order_ref=order,
            details=details,
        )


async def take_in(
    sessions: async_sessionmaker[AsyncSession],
    catalogue: ExceptionCatalogue,
    report: ExceptionReport,
) -> tuple[ExceptionRow, bool]:
    """Record ``report``; return the exception and whether it is new."""
    existing = await _by_dedupe_key(sessions, report.dedupe_key)
    if existing is not None:
        return existing, False
    row = _opened(catalogue, report)
    try:
        async with sessions() as session, session.begin():
            session.add(row)
            await session.flush()
            session.add(_opening_event(row, report))
    except IntegrityError:
        # Another intake recorded the same problem between our look and our insert.
        existing = await _by_dedupe_key(sessions, report.dedupe_key)
        if existing is None:
            raise
        return existing, False
    return row, True


async def take_in_many(
    sessions: async_sessionmaker[AsyncSession],
    catalogue: ExceptionCatalogue,
    reports: Sequence[ExceptionReport],
) -> int:
    """Record every report, as :func:`take_in` would one at a time (a problem already recorded,
    or reported twice, is one exception), in one look and one transaction; return how many
    were new. For a detector that reports problems by the hundred (the reconciler, a chunk at a
    time)."""
    first: dict[str, ExceptionReport] = {}
    for report in reports:
        first.setdefault(report.dedupe_key, report)
    keys = list(first)
    async with sessions() as session:
        for start in range(0, len(keys), _LOOKUP_BATCH):
            known = await session.scalars(
                select(ExceptionRow.dedupe_key).where(
                    ExceptionRow.dedupe_key.in_(keys[start : start + _LOOKUP_BATCH])
                )
            )
            for key in known:
                del first[key]
    fresh = list(first.values())
    if not fresh:
        return 0
    rows = [_opened(catalogue, report) for report in fresh]
    try:
        async with sessions() as session, session.begin():
            session.add_all(rows)
            await session.flush()
            session.add_all(
                _opening_event(row, report) for row, report in zip(rows, fresh, strict=True)
            )
    except IntegrityError:
        # another intake recorded one of them between our look and our insert: one at a time
        return sum([(await take_in(sessions, catalogue, report))[1] for report in fresh])
    return len(fresh)


# dedupe keys looked up per query (well inside every database's limit on parameters)
_LOOKUP_BATCH = 500


def _opened(catalogue: ExceptionCatalogue, report: ExceptionReport) -> ExceptionRow:
    rule = catalogue.rule(report.kind)
    return ExceptionRow(
        id=exception_id(report.dedupe_key),
        kind=report.kind.value,
        status=ExceptionStatus.OPEN.value,
        severity=rule.severity.value,
        owner_source=rule.owner_source or report.owner_source,
        owner_kind=rule.owner.value,
        subject=report.subject,
        subject_type=report.subject_type,
        order_source=report.order_source,
        order_ref=report.order_ref,
        dedupe_key=report.dedupe_key,
        summary=report.summary,
        details=report.details,
        detected_at=report.detected_at,
        updated_at=report.detected_at,
        version=0,
    )


def _opening_event(row: ExceptionRow, report: ExceptionReport) -> ExceptionEventRow:
    return ExceptionEventRow(
        exception_id=row.id,
        at=report.detected_at,
        status=ExceptionStatus.OPEN.value,
        actor=report.reported_by,
        note=report.summary,
    )


async def _by_dedupe_key(
    sessions: async_sessionmaker[AsyncSession], dedupe_key: str
) -> ExceptionRow | None:
    async with sessions() as session:
        found: ExceptionRow | None = await session.scalar(
            select(ExceptionRow).where(ExceptionRow.dedupe_key == dedupe_key)
        )
        return found


async def take_in_occurrence(
    sessions: async_sessionmaker[AsyncSession],
    catalogue: ExceptionCatalogue,
    report: ExceptionReport,
    *,
    changed_at: datetime,
) -> tuple[ExceptionRow, bool]:
    """Record ``report`` for a problem that can come back; ``changed_at`` is when the newest
    evidence of it was stated. While its latest occurrence is not resolved, or was resolved
    after that evidence (a fix the systems have not caught up with yet), the latest occurrence
    is returned; otherwise the problem came back and a new occurrence is opened."""
    latest = await _latest_occurrence(sessions, report.dedupe_key)
    if latest is None or latest.status != ExceptionStatus.RESOLVED.value:
        return await take_in(sessions, catalogue, report)
    if latest.resolved_at is None or changed_at <= latest.resolved_at:
        return latest, False
    _, _, number = latest.dedupe_key.partition(f"{report.dedupe_key}#")
    occurrence = int(number) + 1 if number.isdigit() else 2
    return await take_in(
        sessions, catalogue, replace(report, dedupe_key=f"{report.dedupe_key}#{occurrence}")
    )


async def _latest_occurrence(
    sessions: async_sessionmaker[AsyncSession], dedupe_key: str
) -> ExceptionRow | None:
    async with sessions() as session:
        found: ExceptionRow | None = await session.scalar(
            select(ExceptionRow)
            .where(
                (ExceptionRow.dedupe_key == dedupe_key)
                | ExceptionRow.dedupe_key.startswith(f"{dedupe_key}#", autoescape=True)
            )
            .order_by(ExceptionRow.detected_at.desc(), ExceptionRow.dedupe_key.desc())
            .limit(1)
        )
        return found
