"""The outbox dispatcher: delivers resolution commands to their owners, exactly once in effect.

Commands are claimed with a lease (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
conditional update on SQLite), so any number of dispatchers can run; a dispatcher that dies
mid-batch loses its lease and another delivers again with the same ``Idempotency-Key``, which
the owner replays instead of applying twice. Failed deliveries back off exponentially with full
jitter (tenacity); a circuit breaker per owner (purgatory) stops hammering an owner that is down;
after ``max_attempts`` a command is dead-lettered for an operator to replay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
import tenacity
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.errors import SourceContractViolation, UpstreamUnavailable
from omnigraph.db.idempotency import forget_expired_keys
from omnigraph.db.models import ExceptionEventRow, ExceptionRow, OutboxCommandRow
from omnigraph.exceptions.lifecycle import ExceptionStatus, OutboxStatus
from omnigraph.runtime.periodic import PeriodicTask
from omnigraph.settings import DispatchPolicy
from omnigraph.sources.contract import CommandReceipt
from omnigraph.sources.registry import SourceRegistry

__all__ = ["CommandDispatcher", "DispatcherWakeup"]

log = structlog.get_logger(__name__)
HOUSEKEEPING_INTERVAL = timedelta(minutes=10)


@dataclass(slots=True)
class DispatcherWakeup:
    """Lets a resolution deliver its command now instead of at the dispatcher's next poll."""

    event: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        self.event.set()


class CommandDispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        registry: SourceRegistry,
        *,
        worker: str,
        policy: DispatchPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.worker = worker
        self.policy = policy or DispatchPolicy()
        self.clock = clock
        self.wait = tenacity.wait_random_exponential(
            multiplier=self.policy.backoff_seconds, max=self.policy.backoff_max_seconds
        )
        # what became of each delivery this dispatcher made: delivered, rejected, retry, dead
        self.outcomes: Counter[str] = Counter()
        self.breakers = AsyncCircuitBreakerFactory(
            default_threshold=self.policy.breaker.threshold,
            default_ttl=self.policy.breaker.reset_seconds,
            # Only an owner that cannot answer counts against its circuit.
            exclude=[SourceContractViolation],
        )

    def periodic(
        self,
        *,
        wakeup: asyncio.Event | None = None,
        poll_seconds: float = 0.5,
        jitter: float = 0.0,
    ) -> list[PeriodicTask]:
        """The dispatcher as background tasks: ``dispatcher`` delivers batch after batch while
        commands are due, and when idle waits ``poll_seconds`` or for ``wakeup`` (set when a
        command is queued); ``idempotency_keys`` forgets expired keys every ten minutes.

        Every replica delivers (each claims its batch, so no command goes out twice at once);
        the sweep of expired keys is a singleton, run by one replica at a time."""
        context = {"worker": self.worker}
        return [
            PeriodicTask(
                "dispatcher",
                self._dispatch,
                poll_seconds,
                jitter=jitter,
                wakeup=wakeup,
                context=context,
            ),
            PeriodicTask(
                "idempotency_keys",
                self._forget_expired_keys,
                HOUSEKEEPING_INTERVAL.total_seconds(),
                jitter=jitter,
                context=context,
                singleton=True,  # one replica's sweep is enough
            ),
        ]

    async def _dispatch(self) -> bool:
        """One batch; True (go on at once) when it handled any."""
        return await self.run_once() > 0

    async def _forget_expired_keys(self) -> None:
        await forget_expired_keys(self.sessions, self.clock())

    async def run_once(self) -> int:
        """Claim one batch of due commands and deliver them; return how many were handled."""
        claimed = await self._claim()
        await asyncio.gather(*(self._deliver(command_id) for command_id in claimed))
        return len(claimed)

    async def _claim(self) -> list[str]:
        now = self.clock()
        due = (
            select(OutboxCommandRow.id)
            .where(
                OutboxCommandRow.status == OutboxStatus.PENDING.value,
                OutboxCommandRow.next_attempt_at <= now,
                or_(
                    OutboxCommandRow.claimed_until.is_(None),
                    OutboxCommandRow.claimed_until < now,
                ),
            )
            .order_by(OutboxCommandRow.next_attempt_at)
            .limit(self.policy.batch_size)
        )
        lease_until = now + timedelta(seconds=self.policy.lease_seconds)
        lease = {"claimed_by": self.worker, "claimed_until": lease_until}
        async with self.sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                async with session.begin():
                    claimed = await session.scalars(
                        update(OutboxCommandRow)
                        .where(OutboxCommandRow.id.in_(due.with_for_update(skip_locked=True)))
                        .values(**lease)
                        .returning(OutboxCommandRow.id)
                    )
                    return list(claimed)
            candidates = list(await session.scalars(due))
        claimed_ids = []
        for command_id in candidates:
            async with self.sessions() as session, session.begin():
                result = await session.execute(
                    update(OutboxCommandRow)
                    .where(
                        OutboxCommandRow.id == command_id,
                        OutboxCommandRow.status == OutboxStatus.PENDING.value,
                        or_(
                            OutboxCommandRow.claimed_until.is_(None),
                            OutboxCommandRow.claimed_until < now,
                        ),
                    )
                    .values(**lease)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed_ids.append(command_id)
        return claimed_ids

    async def _deliver(self, command_id: str) -> None:
        async with self.sessions() as session:
            command = await session.get(OutboxCommandRow, command_id)
        if command is None:
            return
        client = self.registry.clients.get(command.owner_source)
        if client is None:
            await self._give_up(command, f"owner {command.owner_source!r} is not configured")
            return
        try:
            breaker = await self.breakers.get_breaker(command.owner_source)
            async with breaker:
                receipt = await client.command(
                    command.command_type, command.payload, command.idempotency_key
                )
        except OpenedState:
            await self._postpone(
                command,
                f"circuit open for {command.owner_source}: not calling it for now",
                timedelta(seconds=self.policy.breaker.reset_seconds),
                count_attempt=False,
            )
        except UpstreamUnavailable as error:
            await self._failed_attempt(command, error.message)
        except SourceContractViolation as error:
            await self._give_up(command, error.message)
        else:
            await self._answered(command, receipt)

    async def _answered(self, command: OutboxCommandRow, receipt: CommandReceipt) -> None:
        now = self.clock()
        status = OutboxStatus.DELIVERED if receipt.accepted else OutboxStatus.REJECTED
        self.outcomes[status.value.lower()] += 1
        target = ExceptionStatus.RESOLVED if receipt.accepted else ExceptionStatus.RESOLUTION_FAILED
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(OutboxCommandRow)
                .where(OutboxCommandRow.id == command.id)
                .values(
                    status=status.value,
                    attempts=command.attempts + 1,
                    delivered_at=now,
                    updated_at=now,
                    claimed_until=None,
                    last_error=None if receipt.accepted else receipt.detail,
                    response={
                        "accepted": receipt.accepted,
                        "detail": receipt.detail,
                        "commandId": receipt.command_id,
                        "replayed": receipt.replayed,
                    },
                )
            )
            await self._move_exception(
                session,
                command,
                target,
                note=receipt.detail or status.value.lower(),
                now=now,
                resolved_at=now if receipt.accepted else None,
                last_error=None if receipt.accepted else receipt.detail,
            )
        log.info(
            "command_answered",
            owner=command.owner_source,
            command=command.command_type,
            accepted=receipt.accepted,
            replayed=receipt.replayed,
        )

    async def _failed_attempt(self, command: OutboxCommandRow, error: str) -> None:
        attempts = command.attempts + 1
        if attempts >= self.policy.max_attempts:
            await self._give_up(command, f"gave up after {attempts} attempts: {error}", attempts)
            return
        await self._postpone(command, error, self._delay_after(attempts), attempts=attempts)

    def _delay_after(self, attempts: int) -> timedelta:
        """Exponential backoff with full jitter (tenacity's), capped at the policy's maximum."""
        state = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = attempts
        return timedelta(seconds=self.wait(state))

    async def _postpone(
        self,
        command: OutboxCommandRow,
        error: str,
        delay: timedelta,
        *,
        attempts: int | None = None,
        count_attempt: bool = True,
    ) -> None:
        now = self.clock()
        tries = attempts if count_attempt and attempts else command.attempts
        async with self._letting_go(
            command, error, now, "retry", attempts=tries, next_attempt_at=now + delay
        ) as session:
            # The exception stays RESOLUTION_PENDING and shows why it is still waiting.
            await session.execute(
                update(ExceptionRow)
                .where(ExceptionRow.id == command.exception_id)
                .values(last_error=error, updated_at=now)
            )
        log.warning("command_postponed", owner=command.owner_source, error=error)

    async def _give_up(
        self, command: OutboxCommandRow, error: str, attempts: int | None = None
    ) -> None:
        now = self.clock()
        tries = attempts or command.attempts + 1
        async with self._letting_go(
            command, error, now, "dead", status=OutboxStatus.DEAD.value, attempts=tries
        ) as session:
            await self._move_exception(
                session,
                command,
                ExceptionStatus.RESOLUTION_FAILED,
                note=f"dead-lettered: {error}",
                now=now,
                last_error=error,
            )
        log.error("command_dead_lettered", owner=command.owner_source, error=error)

    @contextlib.asynccontextmanager
    async def _letting_go(
        self,
        command: OutboxCommandRow,
        error: str,
        now: datetime,
        outcome: str,
        **changes: object,
    ) -> AsyncIterator[AsyncSession]:
        """A transaction that lets go of a command whose delivery failed with ``error``, with
        ``changes`` (when to try again, or dead), counted as ``outcome``; the block writes what
        the exception shows of it."""
        self.outcomes[outcome] += 1
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(OutboxCommandRow)
                .where(OutboxCommandRow.id == command.id)
                .values(claimed_until=None, last_error=error, updated_at=now, **changes)
            )
            yield session

    async def _move_exception(
        self,
        session: AsyncSession,
        command: OutboxCommandRow,
        target: ExceptionStatus,
        *,
        note: str,
        now: datetime,
        **changes: object,
    ) -> None:
        """Record the owner's answer on the exception, if it still waits for this command."""
        result = await session.execute(
            update(ExceptionRow)
            .where(
                ExceptionRow.id == command.exception_id,
                ExceptionRow.status == ExceptionStatus.RESOLUTION_PENDING.value,
            )
            .values(
                status=target.value,
                version=ExceptionRow.version + 1,
                updated_at=now,
                **changes,
            )
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            session.add(
                ExceptionEventRow(
                    exception_id=command.exception_id,
                    at=now,
                    status=target.value,
                    actor=command.owner_source,
                    note=note,
                )
            )
