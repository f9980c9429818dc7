"""The same Alembic migrations build omnigraph's store on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from omnigraph.cli import app
from omnigraph.db.engine import (
    alembic_config,
    create_engine,
    downgrade_database,
    upgrade_database,
)
from tests.conftest import SERVER_DATABASE_URL


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


async def test_the_ledger_is_rekeyed_by_movement_id_keeping_its_history(
    clean_database: str,
) -> None:
    """Entries taken in by event id keep their history under their movement id; a movement an
    earlier redelivery recorded twice keeps its later copy under a key of its own."""
    engine = create_engine(clean_database)
    row = (
        "INSERT INTO inventory_ledger (source, event_id, sequence, movement, sku, location_id,"
        " quantity, occurred_at, ingested_at, data) VALUES (:source, :event, :sequence,"
        " 'receipt', 'SKU-MIG', 'dc-north', 1, :at, :at, :data)"
    )
    at = datetime(2026, 12, 1, tzinfo=UTC)
    try:
        await upgrade_database(engine)
        await downgrade_database(engine, "0009")
        async with engine.begin() as connection:
            for event, sequence, movement in [
                ("e1", 1, "MOV-1"),
                ("e2", 2, "MOV-1"),
                ("e3", 3, None),
            ]:
                data = {"id": movement} if movement else {}
                await connection.execute(
                    text(row),
                    {
                        "source": "wms-mig",
                        "event": event,
                        "sequence": sequence,
                        "at": at,
                        "data": json.dumps(data),
                    },
                )
        await upgrade_database(engine)
        async with engine.begin() as connection:
            keys = (
                await connection.execute(
                    text(
                        "SELECT movement_id, event_id FROM inventory_ledger"
                        " WHERE source = 'wms-mig' ORDER BY sequence"
                    )
                )
            ).all()
            await connection.execute(text("DELETE FROM inventory_ledger WHERE source = 'wms-mig'"))
    finally:
        await engine.dispose()
    assert [tuple(k) for k in keys] == [("MOV-1", "e1"), ("MOV-1#e2", "e2"), ("e3", "e3")]


@asynccontextmanager
async def fresh_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of its own: a SQLite file, or a scratch database on the server."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    if SERVER_DATABASE_URL is None:
        pytest.skip("no PostgreSQL server (set OMNIGRAPH_TEST_DATABASE_URL)")
    name = f"omnigraph_migrate_{uuid.uuid4().hex[:12]}"
    admin = create_engine(SERVER_DATABASE_URL).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(SERVER_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


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
async def test_documents_kept_before_0011_were_last_used_when_learnt(
    kind: str, tmp_path: Path
) -> None:
    """So a document learnt before owners and last use were recorded still expires."""
    learnt = datetime(2026, 11, 1, tzinfo=UTC)
    async with fresh_database(kind, tmp_path) as url:
        engine = create_engine(url)
        try:
            await upgrade_database(engine, "0010")
            async with engine.begin() as connection:
                await connection.execute(
                    text(
                        "INSERT INTO persisted_documents (sha256, document, trusted, created_at)"
                        " VALUES (:sha, '{ __typename }', false, :at)"
                    ),
                    {"sha": "a" * 64, "at": learnt},
                )
            await upgrade_database(engine)
            async with engine.connect() as connection:
                owner, last_used = (
                    await connection.execute(
                        text("SELECT owner, last_used_at FROM persisted_documents")
                    )
                ).one()
        finally:
            await engine.dispose()
    assert owner is None
    last = last_used if isinstance(last_used, datetime) else datetime.fromisoformat(last_used)
    assert last.replace(tzinfo=last.tzinfo or UTC) == learnt
