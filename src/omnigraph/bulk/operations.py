"""Bulk exports in the database: started (at most N created or running per key, one per
idempotency key), listed and read by their owner only, cancelled; and the runner's claims.

The state is in the database, so any replica answers for any export, and any replica's runner
may run one: it claims the export with a compare-and-set on its claim (a token and a lease),
renews the lease every page, and writes its checkpoint only while the claim is still its own.
A runner that died leaves a claim that lapses; the next claim resumes from the checkpoint.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.errors import InvalidId
from omnigraph.core.ids import decode_global_id, encode_global_id
from omnigraph.db.models import BulkOperationRow

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "BulkFormat",
    "BulkStatus",
    "Problem",
    "bulk_operation_key",
    "cancel_operation",
    "download_path",
    "fingerprint",
    "get_operation",
    "global_id",
    "list_operations",
    "start_operation",
]

Sessions = async_sessionmaker[AsyncSession]
# an export no runner holds
_UNCLAIMED: Final[dict[str, None]] = {
    "claim_token": None,
    "claimed_by": None,
    "claimed_until": None,
}


class BulkStatus(enum.StrEnum):
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class BulkFormat(enum.StrEnum):
    JSONL = "JSONL"
    CSV = "CSV"
    PARQUET = "PARQUET"


_ROW_ID = re.compile(r"^[0-9a-f]{32}$")


def bulk_operation_key(raw: str) -> str:
    """The export's row id from a ``BulkOperation`` global id (:class:`InvalidId` else)."""
    _, parts = decode_global_id(raw, expected_type="BulkOperation")
    if len(parts) != 1 or not _ROW_ID.match(parts[0]):
        raise InvalidId(f"{raw!r} is not a BulkOperation id", id=raw)
    return parts[0]


def global_id(row_id: str) -> str:
    return encode_global_id("BulkOperation", row_id)


def download_path(row_id: str) -> str:
    """The path of the export's file on this service (``omnigraph.bulk.download``)."""
    return f"/bulk/{global_id(row_id)}/file"


ACTIVE = (BulkStatus.CREATED.value, BulkStatus.RUNNING.value)
TERMINAL = (BulkStatus.COMPLETED.value, BulkStatus.FAILED.value, BulkStatus.CANCELED.value)


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a start or a cancellation was refused: a stable code and a sentence."""

    code: str
    message: str
    field: tuple[str, ...] = ()


def fingerprint(query: str, format: str) -> str:
    return hashlib.sha256(json.dumps([query, format]).encode()).hexdigest()


class _OverLimit(Exception):
    """Rolls a start back: the owner has as many exports under way as it may."""


async def _serialise_owner(session: AsyncSession, owner: str) -> None:
    """Starts by one owner take turns on PostgreSQL (a transaction-scoped advisory lock);
    SQLite has one writer at a time, and the insert comes before the count."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"bulk:{owner}"}
        )


async def start_operation(
    sessions: Sessions,
    *,
    owner: str,
    principal: dict[str, Any],
    query: str,
    format: str,
    idempotency_key: str,
    plan: dict[str, Any],
    now: datetime,
    max_running: int,
) -> BulkOperationRow | Problem:
    """The new export, or the one this key already started with the same query and format;
    refused when the key was used for another, or when the owner has ``max_running``
    created or running already."""
    print_ = fingerprint(query, format)
    for _ in range(2):
        try:
            async with sessions() as session, session.begin():
                await _serialise_owner(session, owner)
                existing = await session.scalar(
                    select(BulkOperationRow).where(
                        BulkOperationRow.owner == owner,
                        BulkOperationRow.idempotency_key == idempotency_key,
                    )
                )
                if existing is not None:
                    if existing.fingerprint != print_:
                        return Problem(
                            "IDEMPOTENCY_KEY_REUSED",
                            "this idempotency key started an export of another query or format",
                            ("input", "idempotencyKey"),
                        )
                    return existing
                row = BulkOperationRow(
                    id=uuid.uuid4().hex,
                    owner=owner,
                    principal=principal,
                    idempotency_key=idempotency_key,
                    fingerprint=print_,
                    query=query,
                    format=format,
                    status=BulkStatus.CREATED.value,
                    plan=plan,
                    checkpoint={},
                    object_count=0,
                    root_object_count=0,
                    page_count=0,
                    page_attempts=0,
                    files_pending=True,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                await session.flush()  # first the insert, then the count: it sees itself
                active = await session.scalar(
                    select(func.count())
                    .select_from(BulkOperationRow)
                    .where(BulkOperationRow.owner == owner, BulkOperationRow.status.in_(ACTIVE))
                )
                if int(active or 0) > max_running:
                    raise _OverLimit
                return row
        except _OverLimit:
            return Problem(
                "BULK_LIMIT_REACHED",
                f"this key has {max_running} exports created or running, the most it may:"
                " wait for one to finish, or cancel one",
            )
        except IntegrityError:
            continue  # the same key's start landed first: answer as a replay
    return Problem("IDEMPOTENCY_IN_FLIGHT", "an export with this idempotency key is starting")


async def get_operation(sessions: Sessions, operation: str, owner: str) -> BulkOperationRow | None:
    """The export ``operation`` if it is ``owner``'s (another's is as one that does not exist)."""
    async with sessions() as session:
        row = await session.get(BulkOperationRow, operation)
    return row if row is not None and row.owner == owner else None


async def list_operations(
    sessions: Sessions, owner: str, *, first: int, after: tuple[datetime, str] | None
) -> tuple[list[BulkOperationRow], bool]:
    """``owner``'s exports, newest first, after the (created at, id) of ``after``."""
    query = select(BulkOperationRow).where(BulkOperationRow.owner == owner)
    if after is not None:
        at, row_id = after
        query = query.where(
            or_(
                BulkOperationRow.created_at < at,
                and_(BulkOperationRow.created_at == at, BulkOperationRow.id > row_id),
            )
        )
    query = query.order_by(BulkOperationRow.created_at.desc(), BulkOperationRow.id).limit(first + 1)
    async with sessions() as session:
        rows = list(await session.scalars(query))
    return rows[:first], len(rows) > first


async def cancel_operation(
    sessions: Sessions, operation: str, owner: str, now: datetime
) -> BulkOperationRow | Problem | None:
    """Cancel ``owner``'s export while it is created or running (its runner stops at its next
    page, and its files are deleted); None when there is no such export of ``owner``'s."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(BulkOperationRow)
            .where(
                BulkOperationRow.id == operation,
                BulkOperationRow.owner == owner,
                BulkOperationRow.status.in_(ACTIVE),
            )
            .values(
                status=BulkStatus.CANCELED.value,
                completed_at=now,
                updated_at=now,
                **_UNCLAIMED,
            )
            .execution_options(synchronize_session=False)
        )
        changed = int(result.rowcount or 0) == 1  # type: ignore[attr-defined]
    row = await get_operation(sessions, operation, owner)
    if row is None:
        return None
    if not changed:
        return Problem(
            "BULK_OPERATION_FINISHED",
            f"the export is {row.status.lower()} already: only a created or running one can"
            " be cancelled",
            ("id",),
        )
    return row


# -- the runner's claims ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Held:
    """An export a runner holds: its id and the claim's token."""

    operation: str
    token: str


def _holding(held: Held) -> Sequence[Any]:
    return (
        BulkOperationRow.id == held.operation,
        BulkOperationRow.claim_token == held.token,
        BulkOperationRow.status == BulkStatus.RUNNING.value,
    )


async def claim_next(
    sessions: Sessions, *, worker: str, now: datetime, lease: timedelta
) -> tuple[Held, str | None] | None:
    """Claim the oldest export that is created, or running without a live claim, and due;
    the claim and the token of the claim it took over (a runner that died), or None."""
    async with sessions() as session:
        candidates = list(
            await session.execute(
                select(BulkOperationRow.id, BulkOperationRow.claim_token)
                .where(
                    BulkOperationRow.status.in_(ACTIVE),
                    or_(
                        BulkOperationRow.claimed_until.is_(None),
                        BulkOperationRow.claimed_until <= now,
                    ),
                    or_(BulkOperationRow.retry_at.is_(None), BulkOperationRow.retry_at <= now),
                )
                .order_by(BulkOperationRow.created_at, BulkOperationRow.id)
                .limit(5)
            )
        )
    for operation, seen in candidates:
        token = uuid.uuid4().hex
        async with sessions() as session, session.begin():
            result = await session.execute(
                update(BulkOperationRow)
                .where(
                    BulkOperationRow.id == operation,
                    BulkOperationRow.status.in_(ACTIVE),
                    BulkOperationRow.claim_token.is_(None)
                    if seen is None
                    else BulkOperationRow.claim_token == seen,
                    or_(
                        BulkOperationRow.claimed_until.is_(None),
                        BulkOperationRow.claimed_until <= now,
                    ),
                )
                .values(
                    status=BulkStatus.RUNNING.value,
                    claim_token=token,
                    claimed_by=worker[:160],
                    claimed_until=now + lease,
                    started_at=func.coalesce(BulkOperationRow.started_at, now),
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if int(result.rowcount or 0) == 1:  # type: ignore[attr-defined]
                return Held(operation, token), seen
    return None


async def load_held(sessions: Sessions, held: Held) -> BulkOperationRow | None:
    """The export while ``held`` is still its claim; None once it is lost (cancelled, or
    taken over after the lease lapsed)."""
    async with sessions() as session:
        row = await session.get(BulkOperationRow, held.operation)
    if row is None or row.claim_token != held.token or row.status != BulkStatus.RUNNING.value:
        return None
    return row


async def update_held(sessions: Sessions, held: Held, **values: Any) -> bool:
    """Write ``values`` if the claim is still ``held``'s; whether it was."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(BulkOperationRow)
            .where(*_holding(held))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def release_held(sessions: Sessions, held: Held, now: datetime, **values: Any) -> bool:
    """Write ``values`` and give the claim up (another runner may take the export), if the
    claim is still ``held``'s; whether it was."""
    return await update_held(sessions, held, **values, **_UNCLAIMED, updated_at=now)


async def files_to_delete(sessions: Sessions, now: datetime, limit: int = 100) -> list[str]:
    """Exports whose files may go: failed or cancelled, or finished and past retention."""
    async with sessions() as session:
        found = await session.scalars(
            select(BulkOperationRow.id)
            .where(
                BulkOperationRow.files_pending.is_(True),
                or_(
                    BulkOperationRow.status.in_(
                        (BulkStatus.FAILED.value, BulkStatus.CANCELED.value)
                    ),
                    and_(
                        BulkOperationRow.status == BulkStatus.COMPLETED.value,
                        BulkOperationRow.expires_at <= now,
                    ),
                ),
            )
            .limit(limit)
        )
        return list(found)


async def files_deleted(sessions: Sessions, operation: str, now: datetime) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(BulkOperationRow)
            .where(BulkOperationRow.id == operation, BulkOperationRow.status.in_(TERMINAL))
            .values(files_pending=False, file_name=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
