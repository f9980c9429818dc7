"""`omnigraph check-source`: the table, the exit status, and why it cannot run when it cannot.

The command is synchronous and the shims serve from this test's event loop, so each invocation
runs in a thread.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator

import pytest
from click.testing import Result
from typer.testing import CliRunner

from omnigraph.cli import app as cli
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.sources.conformance import CHECKS
from tests.fakes.broken_shim import TOKEN, Fault, broken_shim, serve

ENV = {"SHIM_TOKEN": TOKEN}


@pytest.fixture(scope="module")
async def demo_with_token(world: DemoWorld) -> AsyncIterator[DemoSystems]:
    async with DemoSystems(world, token=TOKEN) as systems:
        yield systems


async def check_source(*args: str, env: dict[str, str] | None = None) -> Result:
    return await asyncio.to_thread(
        CliRunner().invoke, cli, ["check-source", *args], env=ENV if env is None else env
    )


def rows(result: Result) -> dict[str, tuple[str, str]]:
    """check name -> (result, what to fix), read back from the table."""
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("check ")) + 2
    table = {}
    for line in lines[start:-1]:
        name, _, rest = line.partition("  ")
        outcome, _, fix = rest.strip().partition("  ")
        table[name.strip()] = (outcome, fix.strip())
    return table


async def check_broken_payments_shim(world: DemoWorld, fault: Fault, *options: str) -> Result:
    """check-source against a payments shim broken by ``fault``: it must exit 1."""
    async with serve(broken_shim(world, fault)) as url:
        result = await check_source(
            "--kind", "payments", url, "--token-env", "SHIM_TOKEN", *options
        )
    assert result.exit_code == 1, result.output
    return result


async def test_a_demo_system_passes_and_exits_0(demo_with_token: DemoSystems) -> None:
    url = demo_with_token.urls["wms"]
    result = await check_source(
        "--kind", "wms", url, "--token-env", "SHIM_TOKEN", "--commands", "--max-examples", "3"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wms contract at {url}\n")
    table = rows(result)
    assert {outcome for outcome, _ in table.values()} == {"pass"}
    assert [name for name in table if not name.startswith("schema ")] == [c.name for c in CHECKS]
    assert "schema GET /changes" in table
    assert result.stdout.splitlines()[-1] == f"{len(table)} passed, 0 failed, 0 skipped"


async def test_without_commands_the_command_checks_are_skipped(
    demo_with_token: DemoSystems,
) -> None:
    url = demo_with_token.urls["storefront"]
    result = await check_source(
        "--kind", "storefront", url, "--token-env", "SHIM_TOKEN", "--no-schema"
    )
    assert result.exit_code == 0, result.output
    table = rows(result)
    assert table["command-replay"] == ("skip", "sends a command: run with --commands")
    assert table["by-order-ref"] == ("skip", "the storefront kind has no by-order-ref route")
    assert not any(name.startswith("schema ") for name in table)
    assert result.stdout.splitlines()[-1] == "10 passed, 0 failed, 4 skipped"


async def test_a_broken_shim_fails_with_what_to_fix_and_exits_1(world: DemoWorld) -> None:
    result = await check_broken_payments_shim(
        world, Fault.CHANGES_ORDER, "--no-schema", "--commands"
    )
    table = rows(result)
    outcome, fix = table["changes-order"]
    assert outcome == "FAIL"
    assert fix.startswith(
        "GET /changes must give events in increasing sequence order (on the first"
    )
    assert {name for name, (outcome, _) in table.items() if outcome != "pass"} == {"changes-order"}
    assert result.stdout.splitlines()[-1] == "13 passed, 1 failed, 0 skipped"


async def test_a_shim_off_its_schema_fails_its_operations_row(world: DemoWorld) -> None:
    result = await check_broken_payments_shim(world, Fault.SCHEMA, "--max-examples", "2")
    failing = {name for name, (outcome, _) in rows(result).items() if outcome == "FAIL"}
    assert failing == {"schema GET /payouts"}


async def test_an_unset_token_variable_exits_2(demo_with_token: DemoSystems) -> None:
    url = demo_with_token.urls["erp"]
    result = await check_source("--kind", "erp", url, "--token-env", "NO_SUCH_VARIABLE", env={})
    assert result.exit_code == 2
    assert "the environment variable NO_SUCH_VARIABLE holds no token" in result.stderr
    assert result.stdout == ""


async def test_an_unreachable_shim_exits_2() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = await check_source("--kind", "wms", url)
    assert result.exit_code == 2
    assert f"{url} cannot be reached: ConnectError" in result.stderr


async def test_without_schemathesis_it_says_how_to_install_it(
    demo_with_token: DemoSystems, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "schemathesis", None)  # import schemathesis fails
    url = demo_with_token.urls["erp"]
    refused = await check_source("--kind", "erp", url, "--token-env", "SHIM_TOKEN")
    assert refused.exit_code == 2
    assert "pip install 'omnigraph[conformance]'" in refused.stderr
    semantic_only = await check_source(
        "--kind", "erp", url, "--token-env", "SHIM_TOKEN", "--no-schema"
    )
    assert semantic_only.exit_code == 0, semantic_only.output
    assert "health" in rows(semantic_only)


async def test_an_unknown_kind_is_a_usage_error() -> None:
    result = await check_source("--kind", "crm", "http://127.0.0.1:1")
    assert result.exit_code == 2
    assert "crm" in result.stderr
