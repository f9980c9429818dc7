"""Leases: one process at a time runs each singleton background task, whichever replica it is.

A lease is a row of ``leases`` (name, holder, expires_at). A process takes a lease that nobody
holds or whose time has passed, and renews its own, by one compare-and-set ``UPDATE ... WHERE
holder = me OR expires_at <= now``: on SQLite and on PostgreSQL alike exactly one of the
processes racing for a lapsed lease changes the row (PostgreSQL re-reads the row a concurrent
update changed before matching it again). A holder that stops renewing (killed, frozen, cut off
from the database) loses the lease once ``expires_at`` passes, and the next process to ask takes
it over; one that stops cleanly releases it, so another takes over at once.

Times come from the injected clock (``Services.now``), so the replicas' clocks must agree to
well within a lease (NTP does); :class:`omnigraph.runtime.periodic.PeriodicRunner` stops running
a task a third of a lease before its row expires, which is the skew it tolerates.

Example::

    leases = LeaseStore(sessions, holder="web-1:4242:1f2e")
    if await leases.acquire("detector", seconds=30):
        ...  # this process runs the detector for the next 30 seconds unless it renews
    await leases.release("detector")
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import LeaseRow
from omnigraph.db.upsert import insert_for

__all__ = ["LeaseStore", "process_holder"]


def process_holder(role: str = "serve") -> str:
    """A name for this process that no other process, here or on another host, shares:
    host, pid, role and a random suffix (a restarted process with a reused pid is another)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{role}:{uuid.uuid4().hex[:8]}"


class LeaseStore:
    """The ``leases`` table as seen by one ``holder``."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        holder: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.holder = holder[:128]
        self.clock = clock

    async def acquire(self, name: str, seconds: float) -> bool:
        """Take or renew the lease ``name`` until ``seconds`` from now; True when this holder
        has it, False while another holder's has not expired."""
        now = self.clock()
        async with self.sessions() as session:
            current = (
                await session.execute(
                    select(LeaseRow.holder, LeaseRow.expires_at).where(LeaseRow.name == name)
                )
            ).one_or_none()
        if current is not None and current.holder != self.holder and current.expires_at > now:
            return False  # someone else's, and alive: nothing written
        until = now + timedelta(seconds=seconds)
        async with self.sessions() as session, session.begin():
            if current is None:
                insert = insert_for(session)
                await session.execute(
                    insert(LeaseRow)
                    .values(name=name, holder=self.holder, expires_at=until)
                    .on_conflict_do_nothing(index_elements=["name"])
                )
            taken = await session.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.name == name,
                    or_(LeaseRow.holder == self.holder, LeaseRow.expires_at <= now),
                )
                .values(holder=self.holder, expires_at=until)
            )
        return taken.rowcount == 1  # type: ignore[attr-defined,no-any-return]

    async def release(self, name: str) -> None:
        """Let the lease ``name`` lapse now, if this holder has it (the row stays, naming its
        last holder)."""
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name, LeaseRow.holder == self.holder)
                .values(expires_at=self.clock())
            )

    async def holders(self) -> dict[str, str]:
        """Each lease still held now, by name: its holder."""
        now = self.clock()
        async with self.sessions() as session:
            rows = await session.execute(
                select(LeaseRow.name, LeaseRow.holder).where(LeaseRow.expires_at > now)
            )
        return {name: holder for name, holder in rows}
