"""The background work of bulk exports: runners, and the cleanup of their files.

A runner claims one export at a time (``operations.claim_next``: a compare-and-set, so any
number of runners on any replica may look), then for each page:

1. renews its claim (a cancelled export, or one taken over, stops here);
2. asks the page through the :class:`PageExecutor` as the caller who started the export,
   ``first`` the plan's page size and ``after`` the checkpoint's cursor;
3. appends the page's nodes to its spool (cut back first to the checkpoint's length: bytes a
   page wrote whose checkpoint never landed do not count) and makes them durable;
4. writes the checkpoint (cursor, the spool's length, the counts) while the claim is its own.

After the last page it makes the export's file from the spool (renewing its claim meanwhile),
renames it into place and marks the export COMPLETED, only while the claim is still its own.
A runner that died leaves its claim to lapse (``claim_seconds``); the next claim starts a new
spool after the checkpointed pages and goes on from the checkpoint's cursor.

A page whose source did not answer is tried again after ``retry_seconds`` (the claim is let go
meanwhile), at most ``max_page_attempts`` times; any other error fails the export with its
code (``FORBIDDEN`` for a field the caller may not read on some row, for instance).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson
import structlog

from omnigraph.bulk import operations
from omnigraph.bulk.formats import FormatUnavailable, write_export
from omnigraph.bulk.operations import BulkStatus, Held
from omnigraph.bulk.plan import Plan, count_rows
from omnigraph.bulk.store import BulkFiles
from omnigraph.db.models import BulkOperationRow
from omnigraph.runtime.periodic import PeriodicTask, repeating
from omnigraph.settings import BulkPolicy

__all__ = [
    "TRANSIENT_CODES",
    "AccessEnded",
    "BulkCleanup",
    "BulkRunner",
    "PageAnswer",
    "PageError",
    "PageExecutor",
]

log = structlog.get_logger(__name__)

# a page refused with only these is tried again later: its sources may answer then
TRANSIENT_CODES = frozenset({"UPSTREAM_UNAVAILABLE", "TIMEOUT"})


@dataclass(frozen=True, slots=True)
class PageError:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class PageAnswer:
    data: dict[str, Any] | None
    errors: list[PageError] = field(default_factory=list)
    rows: int | None = None  # the rows its nodes make, when the executor counted them


class AccessEnded(Exception):
    """The caller who started the export may no longer ask (a revoked key, an expired token)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PageExecutor(Protocol):
    """Runs one page of an export as the caller who started it (``omnigraph.bulk.resolvers``
    runs it through the schema, with every permission and limit of a direct query)."""

    async def run_page(
        self, operation: BulkOperationRow, variables: dict[str, Any]
    ) -> PageAnswer: ...


class _Next(enum.Enum):
    MORE = "more"  # the claim is held, more pages to go
    DONE = "done"  # finished, failed or lost: look for another export
    WAIT = "wait"  # the claim was let go until a retry is due


class BulkRunner:
    """One runner: runs one export at a time, ``policy.pages_per_step`` pages a step."""

    def __init__(
        self,
        sessions: operations.Sessions,
        files: BulkFiles,
        executor: PageExecutor,
        *,
        worker: str,
        policy: BulkPolicy,
        clock: Callable[[], datetime],
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.files = files
        self.executor = executor
        self.worker = worker
        self.policy = policy
        self.clock = clock
        self.on_change = on_change
        self.held: Held | None = None

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.policy.claim_seconds)

    def periodic(
        self, name: str, *, wakeup: asyncio.Event | None = None, jitter: float = 0.0
    ) -> PeriodicTask:
        """Not a singleton: every replica's runners claim exports one by one (a claim per
        export, compare-and-set), so exports run side by side across replicas."""
        return PeriodicTask(
            name,
            self.step,
            self.policy.poll_seconds,
            jitter=jitter,
            wakeup=wakeup,
            context={"worker": self.worker},
        )

    async def step(self) -> bool:
        """Claim an export if none is held, then run up to ``pages_per_step`` of its pages;
        True while there is more to do at once."""
        if self.held is None:
            claimed = await operations.claim_next(
                self.sessions, worker=self.worker, now=self.clock(), lease=self.lease
            )
            if claimed is None:
                return False
            self.held, previous = claimed
            if previous is not None:
                log.warning("bulk_claim_taken_over", operation=self.held.operation)
            self._changed(self.held.operation)
        held = self.held
        for _ in range(self.policy.pages_per_step):
            outcome = await self._page(held)
            if outcome is _Next.MORE:
                continue
            self.held = None
            return outcome is _Next.DONE
        return True

    def _changed(self, operation: str) -> None:
        if self.on_change is not None:
            self.on_change(operation)

    async def _page(self, held: Held) -> _Next:
        row = await operations.load_held(self.sessions, held)
        if row is None:
            return _Next.DONE  # cancelled, or another runner has it now
        plan = Plan.from_json(row.plan)
        checkpoint: dict[str, Any] = dict(row.checkpoint or {})
        if checkpoint.get("done"):
            return await self._finish(held, row, plan, checkpoint)
        now = self.clock()
        if not await operations.update_held(
            self.sessions, held, claimed_until=now + self.lease, updated_at=now
        ):
            return _Next.DONE
        try:
            answer = await self.executor.run_page(row, plan.variables(checkpoint.get("cursor")))
        except AccessEnded as ended:
            return await self._fail(held, ended.code, ended.message)
        if answer.errors or answer.data is None:
            return await self._refused(held, row, answer.errors)
        page = plan.page_of(answer.data)
        cursor = checkpoint.get("cursor")
        if page.has_next and (not page.end_cursor or page.end_cursor == cursor):
            return await self._fail(
                held, "BULK_PAGING_STUCK", "the listing said it had more but gave no new cursor"
            )
        segments = [tuple(s) for s in checkpoint.get("segments", [])]
        mine = self.files.spool_name(held.operation, held.token)
        if not segments or segments[-1][0] != mine:
            if segments:  # the claim before this one's last pages past its checkpoint go
                self.files.truncate(str(segments[-1][0]), int(segments[-1][1]))
            segments.append((mine, 0))
        lines = [orjson.dumps(node) + b"\n" for node in page.nodes]
        try:
            length = await asyncio.to_thread(self.files.append, mine, int(segments[-1][1]), lines)
        except OSError as error:
            return await self._fail(held, "BULK_STORAGE_FAILED", f"writing the export: {error}")
        segments[-1] = (mine, length)
        objects = (
            answer.rows
            if answer.rows is not None
            else sum(count_rows(node, plan.shape) for node in page.nodes)
        )
        now = self.clock()
        written = await operations.update_held(
            self.sessions,
            held,
            checkpoint={
                "cursor": page.end_cursor if page.end_cursor else cursor,
                "segments": [list(s) for s in segments],
                "done": not page.has_next,
            },
            object_count=row.object_count + objects,
            root_object_count=row.root_object_count + len(page.nodes),
            page_count=row.page_count + 1,
            page_attempts=0,
            retry_at=None,
            claimed_until=now + self.lease,
            updated_at=now,
        )
        if not written:
            return _Next.DONE
        self._changed(held.operation)
        return _Next.MORE

    async def _refused(self, held: Held, row: BulkOperationRow, errors: list[PageError]) -> _Next:
        codes = [error.code for error in errors] or ["INTERNAL_SERVER_ERROR"]
        lasting = [error for error in errors if error.code not in TRANSIENT_CODES]
        if lasting or not errors:
            first = lasting[0] if lasting else PageError(codes[0], "the page had no data")
            return await self._fail(held, first.code, first.message)
        attempts = row.page_attempts + 1
        if attempts >= self.policy.max_page_attempts:
            return await self._fail(
                held,
                errors[0].code,
                f"{errors[0].message} (the page was tried {attempts} times)",
            )
        now = self.clock()
        await operations.release_held(
            self.sessions,
            held,
            now,
            page_attempts=attempts,
            retry_at=now + timedelta(seconds=self.policy.retry_seconds),
        )
        log.warning(
            "bulk_page_deferred", operation=held.operation, attempt=attempts, code=errors[0].code
        )
        return _Next.WAIT

    async def _fail(self, held: Held, code: str, message: str) -> _Next:
        now = self.clock()
        if await operations.release_held(
            self.sessions,
            held,
            now,
            status=BulkStatus.FAILED.value,
            error_code=code[:64],
            error_message=message,
            completed_at=now,
        ):
            log.warning("bulk_operation_failed", operation=held.operation, code=code)
            self._changed(held.operation)
        return _Next.DONE

    async def _finish(
        self, held: Held, row: BulkOperationRow, plan: Plan, checkpoint: dict[str, Any]
    ) -> _Next:
        """Make the file from the spool, rename it into place, mark the export COMPLETED."""
        segments = [(str(name), int(length)) for name, length in checkpoint.get("segments", [])]
        name = self.files.final_name(held.operation, held.token, row.format)
        final = self.files.path(name)
        partial = self.files.path(name + ".part")

        def make() -> int:
            final.parent.mkdir(parents=True, exist_ok=True)
            size = write_export(plan, self.files.lines(segments), row.format, partial)
            partial.replace(final)
            return size

        try:
            async with self._renewing(held):
                size = await asyncio.to_thread(make)
        except FormatUnavailable as error:
            self.files.remove(partial.name)
            return await self._fail(held, "BULK_FORMAT_UNAVAILABLE", str(error))
        except (OSError, ValueError, ArithmeticError) as error:
            # pyarrow's ArrowInvalid is a ValueError: a value its column cannot hold
            self.files.remove(partial.name)
            return await self._fail(held, "BULK_FORMAT_FAILED", f"making the file: {error}")
        now = self.clock()
        completed = await operations.release_held(
            self.sessions,
            held,
            now,
            status=BulkStatus.COMPLETED.value,
            file_name=name,
            file_size=size,
            completed_at=now,
            expires_at=now + timedelta(seconds=self.policy.retention_seconds),
        )
        if not completed:  # cancelled meanwhile, or taken over: this file is nobody's
            self.files.remove(name)
            return _Next.DONE
        for spool, _ in segments:
            self.files.remove(spool)
        log.info(
            "bulk_operation_completed",
            operation=held.operation,
            rows=row.object_count,
            bytes=size,
        )
        self._changed(held.operation)
        return _Next.DONE

    def _renewing(self, held: Held) -> contextlib.AbstractAsyncContextManager[None]:
        """Renew the claim every third of its lease while the block runs."""

        async def renew() -> None:
            now = self.clock()
            await operations.update_held(
                self.sessions, held, claimed_until=now + self.lease, updated_at=now
            )

        return repeating(self.policy.claim_seconds / 3, renew)


class BulkCleanup:
    """Deletes the files of exports that failed or were cancelled, and of finished ones once
    their retention has passed (their ``url`` is gone from then on)."""

    def __init__(
        self, sessions: operations.Sessions, files: BulkFiles, *, clock: Callable[[], datetime]
    ) -> None:
        self.sessions = sessions
        self.files = files
        self.clock = clock

    async def step(self) -> bool:
        """One batch; True when there may be more."""
        now = self.clock()
        due = await operations.files_to_delete(self.sessions, now)
        for operation in due:
            removed = await asyncio.to_thread(self.files.remove_all, operation)
            await operations.files_deleted(self.sessions, operation, now)
            log.info("bulk_files_deleted", operation=operation, files=removed)
        return len(due) >= 100

    def periodic(self, *, interval_seconds: float, jitter: float = 0.0) -> PeriodicTask:
        return PeriodicTask(
            "bulk_cleanup",
            self.step,
            interval_seconds,
            jitter=jitter,
            singleton=True,  # one replica's sweep is enough (a second deletes nothing more)
        )
