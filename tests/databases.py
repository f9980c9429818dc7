"""Databases of a test's own, beside the session's shared one.

The suite shares one database per kind (``clean_database``: migrations run once); a test whose
effects other modules would count (payouts reconciled, exceptions raised) or that needs an empty
one (migrations, services side by side) takes scratch databases here: SQLite files, or databases
created on the PostgreSQL server for the block and dropped after it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

__all__ = ["scratch_databases"]


@contextlib.asynccontextmanager
async def scratch_databases(
    database_url: str, tmp_path: Path, count: int = 1, *, prefix: str = "omnigraph_scratch"
) -> AsyncIterator[list[str]]:
    """``count`` empty databases of the kind ``database_url`` is (SQLite files under
    ``tmp_path``, or databases of their own on its PostgreSQL server), as URLs."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        yield [f"sqlite+aiosqlite:///{tmp_path / f'{prefix}-{n}.sqlite3'}" for n in range(count)]
        return
    admin_dsn = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    names = [f"{prefix}_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    admin = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
        yield [
            url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
                hide_password=False
            )
            for name in names
        ]
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
