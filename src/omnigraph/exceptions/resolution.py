"""Acknowledging, resolving and retrying exceptions: validate first, then write once.

Resolving writes the status change, its history entry and the outbox command in one database
transaction, guarded by the exception's ``version`` so that of two agents resolving at once
exactly one wins. Keys follow Stripe's idempotency semantics (``omnigraph.db.idempotency``):
the key is claimed before anything is read, so of any number of concurrent calls with one key
exactly one does the work and the others wait for it and replay its answer; the same key with
another input is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.idempotency import (
    Answered,
    KeyBusy,
    KeyClaims,
    KeyReused,
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
    "once",
    "refused",
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

    def refusal(row: ExceptionRow) -> str | None:
        if can_move(row.status, ExceptionStatus.ACKNOWLEDGED):
            return None
        return f"a {row.status} exception cannot be acknowledged"

    async def move(session: AsyncSession, row: ExceptionRow) -> bool:
        target = ExceptionStatus.ACKNOWLEDGED
        return await _move(session, row, target, actor=actor, note=note, now=now)

    return await _change(sessions, exception_id, refusal, move)


async def _change(
    sessions: async_sessionmaker[AsyncSession],
    exception_id: str,
    refusal: Callable[[ExceptionRow], str | None],
    move: Callable[[AsyncSession, ExceptionRow], Awaitable[bool]],
) -> Outcome[ExceptionRow]:
    """``move`` the exception in one transaction unless its status refuses the change
    (``refusal`` says why) or another change came first; the exception as it then stands."""
    async with sessions() as session, session.begin():
        row = await _load(session, exception_id)
        if row is None:
            return refused("NOT_FOUND", "no such exception", "id")
        reason = refusal(row)
        if reason is not None:
            return refused("INVALID_TRANSITION", reason, "id")
        if not await move(session, row):
            return refused("CONCURRENT_UPDATE", "the exception changed meanwhile; reload", "id")
    return Outcome(await _reload(sessions, exception_id))


async def once(
    keys: KeyClaims,
    scope: str,
    key: str,
    fingerprint: str,
    now: datetime,
    work: Callable[[], Awaitable[Outcome[RowT] | None]],
    load: Callable[[dict[str, Any]], Awaitable[RowT | None]],
) -> Outcome[RowT]:
    """``work`` once under the idempotency ``key`` in ``scope``, or the first answer again
    (``load`` reads its row back from what was stored). ``work`` takes the key
    (``keys.take``) first thing in the transaction that makes its change and answers ``None``
    when another request had taken it. A refusal when the key is not one the contract allows,
    came before with other input, or is held longer than the wait."""
    if not valid_key(key):
        return refused(
            "INVALID_IDEMPOTENCY_KEY",
            "idempotencyKey must be 1 to 255 characters",
            "input",
            "idempotencyKey",
        )
    for _ in range(3):
        stored = await keys.recall(scope, key, fingerprint, now)
        if isinstance(stored, KeyReused):
            return refused("IDEMPOTENCY_KEY_REUSED", stored.message, "input", "idempotencyKey")
        if isinstance(stored, Answered):
            return Outcome(await load(stored.response))
        try:
            outcome = await work()
        except KeyBusy:
            break
        if outcome is not None:
            return outcome
        # another request took the key first (this one waited for it): answer as it did
    return refused(
        "IDEMPOTENCY_IN_FLIGHT",
        "a request with this idempotency key is still being processed; retry it shortly",
        "input",
        "idempotencyKey",
    )


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
    keys: KeyClaims | None = None,
) -> Outcome[ExceptionRow]:
    claims = keys or KeyClaims(sessions)

    fingerprint = request_hash(exception_id, resolution, note)
    answer = {"exceptionId": exception_id}

    async def work() -> Outcome[ExceptionRow] | None:
        async with sessions() as session, session.begin():
            if not await claims.take(
                session, RESOLVE_SCOPE, idempotency_key, fingerprint, answer, now
            ):
                await session.rollback()
                return None
            problem = await _resolve_in(
                session, catalogue, exception_id, resolution, note, actor=actor, now=now
            )
            if problem is not None:  # nothing changed: the key is not kept either
                await session.rollback()
                return problem
        return Outcome(await _reload(sessions, exception_id))

    async def load(stored: dict[str, Any]) -> ExceptionRow | None:
        return await _reload(sessions, str(stored["exceptionId"]))

    return await once(claims, RESOLVE_SCOPE, idempotency_key, fingerprint, now, work, load)


async def _resolve_in(
    session: AsyncSession,
    catalogue: ExceptionCatalogue,
    exception_id: str,
    resolution: str,
    note: str | None,
    *,
    actor: str,
    now: datetime,
) -> Outcome[ExceptionRow] | None:
    """Check the resolution and write the status change, its history entry and the outbox
    command in ``session``'s transaction; the refusal, or ``None`` once written."""
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
            + ("; retry it first" if row.status == ExceptionStatus.RESOLUTION_FAILED else ""),
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
    return None


async def retry_resolution(
    sessions: async_sessionmaker[AsyncSession],
    exception_id: str,
    *,
    actor: str,
    note: str | None,
    now: datetime,
) -> Outcome[ExceptionRow]:
    """After a failure: replay a dead-lettered command, or reopen after the owner said no."""

    def refusal(row: ExceptionRow) -> str | None:
        if row.status == ExceptionStatus.RESOLUTION_FAILED:
            return None
        return f"only a failed resolution can be retried, not {row.status}"

    async def move(session: AsyncSession, row: ExceptionRow) -> bool:
        command = await session.scalar(
            select(OutboxCommandRow)
            .where(OutboxCommandRow.exception_id == row.id)
            .order_by(OutboxCommandRow.created_at.desc())
            .limit(1)
        )
        if command is None or command.status != OutboxStatus.DEAD:
            return await _move(
                session,
                row,
                ExceptionStatus.OPEN,
                actor=actor,
                note=note or "reopened to choose another resolution",
                now=now,
                resolution=None,
            )
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
        return moved

    return await _change(sessions, exception_id, refusal, move)


async def _reload(
    sessions: async_sessionmaker[AsyncSession], exception_id: str
) -> ExceptionRow | None:
    async with sessions() as session:
        return await session.get(ExceptionRow, exception_id)
