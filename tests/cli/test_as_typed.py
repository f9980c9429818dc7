"""Commands as a user types them: a bad setting or data file is its message alone, on one line
of stderr, with exit status 2, before anything is started or said (no "GraphiQL at" line, no
traceback, the database untouched); a second ``serve`` on a busy port says so before it
migrates anything; the libraries' info lines (alembic's) only when asked for."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from omnigraph.cli import app as cli

# every command, with the arguments it needs to get going
ARGUMENTS: dict[str, list[str]] = {
    "serve": [],
    "demo": [],
    "export-schema": ["--check"],
    "export": ["shop.graphql", "--out", "shop.jsonl"],
    "dispatch": ["--once"],
    "detect": [],
    "sync wms": [],
    "sync payments": [],
    "sync exceptions": [],
    "db upgrade": [],
    "keys create": ["--name", "ops", "--role", "admin"],
    "keys list": [],
    "keys revoke": ["og_nothing"],
    "documents register": ["shop.graphql"],
    "documents list": [],
    "settings": [],
    "catalogue": [],
    "check-source": ["--kind", "storefront", "http://127.0.0.1:9"],
    "rehearse": ["--minutes", "0.1"],
}


def command_paths(group: Any, prefix: str = "") -> Iterator[str]:
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer's own click, or click's)
            yield from command_paths(command, f"{prefix}{name} ")
        else:
            yield prefix + name


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Where the database would be (it must not be made), in an environment holding nothing
    else of omnigraph's."""
    for name in list(os.environ):
        if name.startswith("OMNIGRAPH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shop.graphql").write_text("query Shop { __typename }\n")
    path = tmp_path / "omnigraph.sqlite3"
    monkeypatch.setenv("OMNIGRAPH_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    return path


def test_every_command_is_covered() -> None:
    assert sorted(command_paths(typer.main.get_command(cli))) == sorted(ARGUMENTS)


@pytest.mark.parametrize("command", sorted(ARGUMENTS))
def test_a_bad_setting_is_one_line_and_exit_2_for_every_command(
    command: str, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNIGRAPH_MAX_COST", "lots")
    result = CliRunner().invoke(cli, [*command.split(), *ARGUMENTS[command]])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "omnigraph: settings are invalid: limits.max_cost (OMNIGRAPH_MAX_COST or"
        " OMNIGRAPH_LIMITS__MAX_COST): Input should be a valid integer, unable to parse string"
        " as an integer"
    ]
    assert not database.exists()


@pytest.mark.parametrize(
    ("setting", "what"),
    [
        ("OMNIGRAPH_AUTHORITY_RULES", "authority rules"),
        ("OMNIGRAPH_EXCEPTION_CATALOGUE", "exception catalogue"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "detect", "sync exceptions"])
def test_a_bad_data_file_stops_serve_and_jobs_before_they_start(
    command: str, setting: str, what: str, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path("bad.toml").write_text("x = [\n")
    monkeypatch.setenv(setting, "bad.toml")
    result = CliRunner().invoke(cli, command.split())
    assert result.exit_code == 2, result.output
    assert "GraphiQL" not in result.output
    assert result.stderr.splitlines() == [
        f"omnigraph: {what} bad.toml is not valid TOML: Invalid value (at end of document)"
    ]
    assert not database.exists()  # nothing migrated, no demo started


def test_serve_on_a_busy_port_says_so_before_touching_the_database(database: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert "GraphiQL" not in result.output
    assert result.stderr.splitlines() == [
        f"omnigraph: cannot listen on 127.0.0.1:{port}: it is in use (another omnigraph"
        " serve?); choose another port (--port or OMNIGRAPH_PORT)"
    ]
    assert not database.exists()  # no migration, no background work on the shared database


def omnigraph() -> list[str]:
    """The command as a user types it after the README's set-up: the console script beside
    this interpreter (.venv/bin/omnigraph), else ``python -m omnigraph``."""
    script = Path(sys.executable).with_name("omnigraph")
    if script.exists() or shutil.which(str(script)):
        return [str(script)]
    return [sys.executable, "-m", "omnigraph"]


def typed(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*omnigraph(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_as_typed_quiet_by_default_and_the_message_alone(tmp_path: Path) -> None:
    """Through the real entry point: ``db upgrade`` says one line and nothing on stderr
    (alembic's lines with --verbose); a bad setting is one line on stderr and exit 2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIGRAPH_")}
    env["OMNIGRAPH_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'omnigraph.sqlite3'}"
    quiet = typed("db", "upgrade", env=env, cwd=tmp_path)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "database at head\n", "")
    verbose = typed("--verbose", "db", "upgrade", env=env, cwd=tmp_path)
    assert verbose.returncode == 0
    assert "Context impl SQLiteImpl." in verbose.stderr
    bad = typed("serve", env={**env, "OMNIGRAPH_MODE": "staging"}, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.splitlines() == [
        "omnigraph: settings are invalid: mode (OMNIGRAPH_MODE): Input should be 'development'"
        " or 'production'"
    ]


def test_serve_with_workers_needs_configured_sources(database: Path) -> None:
    """The built-in demo systems live inside one process: several workers would each start
    them on the same ports, so ``--workers`` over 1 is refused before anything starts."""
    result = CliRunner().invoke(cli, ["serve", "--workers", "2"])
    assert result.exit_code == 2, result.output
    assert "GraphiQL" not in result.output
    assert result.stderr.splitlines() == [
        "omnigraph: --workers needs configured sources: the built-in demo systems live inside"
        " one process; run `omnigraph demo` and point OMNIGRAPH_CONFIG at its sources, or serve"
        " one worker"
    ]
    assert not database.exists()
