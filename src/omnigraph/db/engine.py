"""Async engine and session factory, plus migrations run from inside the running service.

On SQLite (WAL, ``busy_timeout`` 5 s) write transactions take turns through one queue per
engine and begin ``IMMEDIATE``; reads run beside them (``omnigraph.db.writer``).

Replicas started together each migrate at start-up; one lock makes them take turns (a
PostgreSQL advisory lock held for the migration's transaction, a file lock beside a SQLite
database), so the first applies the migrations and the others find them applied.

The migrations start at one baseline revision, 0014, which builds the whole store; a database
left at a revision the baseline replaced is refused with what to do (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from omnigraph.core.errors import ConfigurationError
from omnigraph.db.writer import QueuedSession, queue_writes

__all__ = [
    "alembic_config",
    "create_engine",
    "create_session_factory",
    "downgrade_database",
    "migration_head",
    "migration_revisions",
    "upgrade_database",
]

MIGRATIONS = Path(__file__).with_name("migrations")
# How long a SQLite connection waits for the write lock held by another connection: another
# process on the same file (this process's writers take turns in its queue and never wait here)
SQLITE_BUSY_TIMEOUT_MS = 5_000
# pg_advisory_xact_lock's key for migrations: "omnigrap" in ASCII, a constant every replica shares
MIGRATION_LOCK_KEY = 0x6F6D6E6967726170
# The step-by-step revisions the baseline (migrations/versions/0014_baseline.py) replaced: a
# database at one of them was migrated by an earlier release, which brings it to 0014 first
SQUASHED_REVISIONS = frozenset(f"{step:04d}" for step in range(1, 14))


def create_engine(database_url: str) -> AsyncEngine:
    """An engine for ``database_url``; SQLite files get their folder created, WAL turned on and
    their write transactions queued (one at a time, ``BEGIN IMMEDIATE``)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        queue_writes(engine.sync_engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_MS)}")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose ``begin()`` is a write transaction: queued on SQLite, and committed to
    the end once the commit has started (:class:`omnigraph.db.writer.QueuedSession`)."""
    return async_sessionmaker(
        engine,
        class_=QueuedSession,
        # named, so that a part that hooks the sessions (the exception event bus) subclasses it
        sync_session_class=QueuedSession.sync_session_class,
        expire_on_commit=False,
    )


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def migration_head() -> str:
    """The revision the migrations end at: what ``alembic_version`` holds once they all ran."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations have one head"
    return head


def migration_revisions() -> frozenset[str]:
    """Every revision the migrations know, those the baseline replaced included (a database
    at another was migrated by newer code)."""
    script = ScriptDirectory.from_config(alembic_config())
    return SQUASHED_REVISIONS | {revision.revision for revision in script.walk_revisions()}


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations on ``engine`` (the same ones ``omnigraph db upgrade`` runs), one
    process at a time."""
    await _migrate(engine, command.upgrade, revision)


@contextlib.asynccontextmanager
async def _migration_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """A file lock beside a SQLite database (taken before any connection, so nobody waits on
    the database itself); nothing elsewhere (PostgreSQL locks inside the transaction)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    descriptor = os.open(f"{url.database}.migrations.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


async def downgrade_database(engine: AsyncEngine, revision: str) -> None:
    """Undo migrations on ``engine`` down to ``revision`` (for tests of a migration's data)."""
    await _migrate(engine, command.downgrade, revision)


async def _migrate(engine: AsyncEngine, step: Callable[[Config, str], None], revision: str) -> None:
    def run(connection: Connection) -> None:
        current = MigrationContext.configure(connection).get_current_revision()
        if current in SQUASHED_REVISIONS:
            raise ConfigurationError(
                f"the database is at migration {current}, from before the baseline 0014 these"
                " migrations start at: upgrade it with the previous omnigraph release first"
                " (docs/operations.md, Upgrades and migrations)"
            )
        config = alembic_config()
        config.attributes["connection"] = connection
        step(config, revision)

    async with _migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # held until this transaction ends: the next replica waits, then finds it applied
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        await connection.run_sync(run)
