"""The same Alembic migrations build omnigraph's store on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from omnigraph.cli import app
from omnigraph.db.engine import (
    alembic_config,
    create_engine,
    upgrade_database,
)
from omnigraph.db.models import Base
from tests.conftest import SERVER_DATABASE_URL
from tests.databases import scratch_databases


async def test_upgrade_creates_the_tables_and_is_repeatable(clean_database: str) -> None:
    engine = create_engine(clean_database)
    try:
        await upgrade_database(engine)
        await upgrade_database(engine)  # a second run is a no-op, not an error
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert {"exceptions", "exception_events", "source_cursors", "alembic_version"} <= tables


def test_db_upgrade_command_builds_a_fresh_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "nested" / "omnigraph.sqlite3"
    result = CliRunner().invoke(
        app, ["db", "upgrade"], env={"OMNIGRAPH_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    )
    assert result.exit_code == 0, result.output
    assert database.is_file()


def test_export_schema_check_passes_on_the_checked_in_files(repo_root: Path) -> None:
    result = CliRunner().invoke(
        app, ["export-schema", "--check", "--out", str(repo_root / "schema")]
    )
    assert result.exit_code == 0, result.output


def test_export_schema_check_fails_on_stale_files(tmp_path: Path) -> None:
    (tmp_path / "omnigraph.graphql").write_text("type Query { stale: Int }\n")
    result = CliRunner().invoke(app, ["export-schema", "--check", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "stale" in result.output


@asynccontextmanager
async def fresh_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of its own: a SQLite file, or a scratch database on the server."""
    if kind != "sqlite" and SERVER_DATABASE_URL is None:
        pytest.skip("no PostgreSQL server (set OMNIGRAPH_TEST_DATABASE_URL)")
    given = SERVER_DATABASE_URL if kind != "sqlite" else "sqlite+aiosqlite://"
    assert given is not None
    async with scratch_databases(given, tmp_path, prefix="omnigraph_migrate") as (url,):
        yield url


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_replicas_starting_together_migrate_one_at_a_time(kind: str, tmp_path: Path) -> None:
    """Four replicas migrating a fresh database at once all start: one applies the migrations,
    the others wait for it and find them applied."""
    async with fresh_database(kind, tmp_path) as url:
        engines = [create_engine(url) for _ in range(4)]
        try:
            results = await asyncio.gather(
                *(upgrade_database(engine) for engine in engines), return_exceptions=True
            )
            async with engines[0].connect() as connection:
                version = (
                    await connection.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar_one()
        finally:
            for engine in engines:
                await engine.dispose()
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_the_migrated_store_is_what_the_models_describe(kind: str, tmp_path: Path) -> None:
    """Every table, column, type, default, key and index the code maps, as the migrations
    build them on an empty database: nothing missing, nothing more, nothing different."""
    async with fresh_database(kind, tmp_path) as url:
        engine = create_engine(url)
        try:
            await upgrade_database(engine)
            async with engine.connect() as connection:
                differences = await connection.run_sync(
                    lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
                )
        finally:
            await engine.dispose()
    assert differences == []


def test_a_database_from_before_the_baseline_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """A database a step-by-step migration left below the baseline is not touched: the
    command says which revision it is at and what to run first."""
    database = tmp_path / "old.sqlite3"
    url = f"sqlite+aiosqlite:///{database}"
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env={"OMNIGRAPH_DATABASE_URL": url}).exit_code == 0
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0013'")
    result = runner.invoke(app, ["db", "upgrade"], env={"OMNIGRAPH_DATABASE_URL": url})
    assert result.exit_code == 2
    assert result.output == (
        "omnigraph: the database is at migration 0013, from before the baseline 0014 these"
        " migrations start at: upgrade it with the previous omnigraph release first"
        " (docs/operations.md, Upgrades and migrations)\n"
    )
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("0013",)
        ]
