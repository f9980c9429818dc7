"""The same Alembic migrations build omnigraph's store on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from typer.testing import CliRunner

from omnigraph.cli import app
from omnigraph.db.engine import create_engine, upgrade_database


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
