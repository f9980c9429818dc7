"""Acknowledging, resolving and retrying exceptions: validate first, then write once.

Resolving writes the status change, its history entry and the outbox command in one database
transaction, guarded by the exception's ``version`` so that of two agents resolving at once
exactly one wins. Keys follow Stripe's idempotency semantics: the same key with the same input
replays the first answer; with another input it is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.idempotency import (
    KeyReused,
    recall,
    remember,
    request_hash,
    valid_key,
)
from omnigraph.db.models import ExceptionEventRow, ExceptionRow, OutboxCommandRow
from omnigraph.exceptions.catalogue import ExceptionCatalogue, PayloadNotApplicable
from omnigraph.exceptions.lifecycle import ExceptionStatus, OutboxStatus, can_move

__all__ = [
    "Outcome",
    "Problem",
    "acknowledge",
    "refused",
    "replayed",
    "resolve",
    "retry_resolution",
]

RESOLVE_SCOPE = "resolveException"
RowT = TypeVar("RowT")


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str
    field: tuple[str, ...] | None = None


@dataclass(slots=True)
class Outcome(Generic[RowT]):
    """What a mutation left: the row as it now stands, or the problems that stopped it (and
    then it changed nothing)."""

    row: RowT | None
    problems: list[Problem] = field(default_factory=list)


def refused(code: str, message: str, *path: str) -> Outcome[Any]:
    """An outcome that changed nothing, for ``code`` (about the input at ``path``)."""
    return Outcome(None, [Problem(code, message, tuple(path) or None)])


async def _move(
    session: AsyncSession,
    row: ExceptionRow,
    target: ExceptionStatus,
    *,
    actor: str,
    note: str | None,
    now: datetime,
    **changes: object,
) -> bool:
    """Move ``row`` to ``target`` if nobody moved it since it was read; add the history entry."""
    result = await session.execute(
        update(ExceptionRow)
        .where(ExceptionRow.id == row.id, ExceptionRow.version == row.version)
        .values(status=target.value, version=row.version + 1, updated_at=now, **changes)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.add(
        ExceptionEventRow(exception_id=row.id, at=now, status=target.value, actor=actor, note=note)
    )
    return True


async def _load(session: AsyncSession, exception_id: str) -> ExceptionRow | None:
    return await session.get(ExceptionRow, exception_id, populate_existing=True)


async def acknowledge(
    sessions: async_sessionmaker[AsyncSession],
    exception_id: str,
    *,
    actor: str,
    note: str | None,
    now: datetime,
) -> Outcome[ExceptionRow]:
    async with sessions() as session, session.begin():
        row = await _load(session, exception_id)
        if row is None:
            return refused("NOT_FOUND", "no such exception", "id")
        if not can_move(row.status, ExceptionStatus.ACKNOWLEDGED):
            return refused(
                "INVALID_TRANSITION", f"a {row.status} exception cannot be acknowledged", "id"
            )
        if not await _move(
            session, row, ExceptionStatus.ACKNOWLEDGED, actor=actor, note=note, now=now
        ):
            return refused("CONCURRENT_UPDATE", "the exception changed meanwhile; reload", "id")
    return Outcome(await _reload(sessions, exception_id))


async def replayed(
    sessions: async_sessionmaker[AsyncSession],
    scope: str,
    key: str,
    fingerprint: str,
    now: datetime,
    load: Callable[[dict[str, Any]], Awaitable[RowT | None]],
) -> Outcome[RowT] | None:
    """The answer the idempotency ``key`` already has in ``scope``: a refusal when it is not a
    key the contract allows or came before with other input, the first answer again when it
    came with the same input (``load`` reads its row back from what was remembered), ``None``
    when it is new."""
    if not valid_key(key):
        return refused(
            "INVALID_IDEMPOTENCY_KEY",
            "idempotencyKey must be 1 to 255 characters",
            "input",
            "idempotencyKey",
        )
    stored = await recall(sessions, scope, key, fingerprint, now)
    if stored is None:
        return None
    if isinstance(stored, KeyReused):
        return refused("IDEMPOTENCY_KEY_REUSED", stored.message, "input", "idempotencyKey")
    return Outcome(await load(stored))


async def _replay(
    sessions: async_sessionmaker[AsyncSession], key: str, fingerprint: str, now: datetime
) -> Outcome[ExceptionRow] | None:
    async def load(stored: dict[str, Any]) -> ExceptionRow | None:
        return await _reload(sessions, str(stored["exceptionId"]))

    return await replayed(sessions, RESOLVE_SCOPE, key, fingerprint, now, load)


async def resolve(
    sessions: async_sessionmaker[AsyncSession],
    catalogue: ExceptionCatalogue,
    *,
    exception_id: str,
    resolution: str,
    note: str | None,
    idempotency_key: str,
    actor: str,
    now: datetime,
) -> Outcome[ExceptionRow]:
    fingerprint = request_hash(exception_id, resolution, note)
    replayed = await _replay(sessions, idempotency_key, fingerprint, now)
    if replayed is not None:
        return replayed
    try:
        async with sessions() as session, session.begin():
            row = await _load(session, exception_id)
            if row is None:
                return refused("NOT_FOUND", "no such exception", "input", "id")
            rule = catalogue.rule(row.kind)
            chosen = rule.resolutions.get(resolution)
            if chosen is None:
                return refused(
                    "INVALID_RESOLUTION",
                    f"{row.kind} allows {', '.join(rule.resolutions)}; not {resolution!r}",
                    "input",
                    "resolution",
                )
            if not can_move(row.status, ExceptionStatus.RESOLUTION_PENDING) or (
                row.status == ExceptionStatus.RESOLUTION_FAILED
            ):
                return refused(
                    "INVALID_TRANSITION",
                    f"a {row.status} exception cannot be resolved"
                    + (
                        "; retry it first"
                        if row.status == ExceptionStatus.RESOLUTION_FAILED
                        else ""
                    ),
                    "input",
                    "id",
                )
            try:
                payload = chosen.render(row.details)
            except PayloadNotApplicable as error:
                return refused("RESOLUTION_NOT_APPLICABLE", str(error), "input", "resolution")
            attempt = row.version + 1
            if not await _move(
                session,
                row,
                ExceptionStatus.RESOLUTION_PENDING,
                actor=actor,
                note=f"{resolution}: {note}" if note else resolution,
                now=now,
                resolution=resolution,
                last_error=None,
            ):
                return refused(
                    "CONCURRENT_RESOLUTION",
                    "another change to this exception was accepted first; reload it",
                    "input",
                    "id",
                )
            session.add(
                OutboxCommandRow(
                    # named by its idempotency key, as the exception is by its problem
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"omnigraph:{row.id}:{attempt}")),
                    exception_id=row.id,
                    resolution=resolution,
                    owner_source=row.owner_source,
                    command_type=chosen.command,
                    payload=payload,
                    idempotency_key=f"omnigraph:{row.id}:{attempt}",
                    status=OutboxStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
            remember(
                session, RESOLVE_SCOPE, idempotency_key, fingerprint, {"exceptionId": row.id}, now
            )
    except IntegrityError:
        # The same key arrived twice at once: the other request won; answer as it did.
        replayed = await _replay(sessions, idempotency_key, fingerprint, now)
        if replayed is None:
            raise
        return replayed
    return Outcome(await _reload(sessions, exception_id))


async def retry_resolution(
    sessions: async_sessionmaker[AsyncSession],
    exception_id: str,
    *,
    actor: str,
    note: str | None,
    now: datetime,
) -> Outcome[ExceptionRow]:
    """After a failure: replay a dead-lettered command, or reopen after the owner said no."""
    async with sessions() as session, session.begin():
        row = await _load(session, exception_id)
        if row is None:
            return refused("NOT_FOUND", "no such exception", "id")
        if row.status != ExceptionStatus.RESOLUTION_FAILED:
            return refused(
                "INVALID_TRANSITION",
                f"only a failed resolution can be retried, not {row.status}",
                "id",
            )
        command = await session.scalar(
            select(OutboxCommandRow)
            .where(OutboxCommandRow.exception_id == row.id)
            .order_by(OutboxCommandRow.created_at.desc())
            .limit(1)
        )
        if command is not None and command.status == OutboxStatus.DEAD:
            moved = await _move(
                session,
                row,
                ExceptionStatus.RESOLUTION_PENDING,
                actor=actor,
                note=note or f"replaying {command.command_type}",
                now=now,
            )
            command.status = OutboxStatus.PENDING.value
            command.attempts = 0
            command.next_attempt_at = now
            command.updated_at = now
        else:
            moved = await _move(
                session,
                row,
                ExceptionStatus.OPEN,
                actor=actor,
                note=note or "reopened to choose another resolution",
                now=now,
                resolution=None,
            )
        if not moved:
            return refused("CONCURRENT_UPDATE", "the exception changed meanwhile; reload", "id")
    return Outcome(await _reload(sessions, exception_id))


async def _reload(
    sessions: async_sessionmaker[AsyncSession], exception_id: str
) -> ExceptionRow | None:
    async with sessions() as session:
        return await session.get(ExceptionRow, exception_id)
