"""Run one piece of database work from a command line: migrate, work, dispose."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
from omnigraph.settings import Settings

__all__ = ["with_database"]

T = TypeVar("T")


def with_database(work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    """``work(sessions)`` against ``OMNIGRAPH_DATABASE_URL``, brought to the latest migration
    first, so a command works on a fresh database as well as on the service's."""

    async def run() -> T:
        engine = create_engine(Settings().database_url)
        try:
            await upgrade_database(engine)
            return await work(create_session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())
