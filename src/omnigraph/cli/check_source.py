"""``omnigraph check-source --kind wms URL``: does a shim speak the source contract?

Runs schemathesis against the shim with the kind's OpenAPI file, then the contract's semantic
checks (:mod:`omnigraph.sources.conformance`), and prints one row per check: pass, FAIL with
what to fix, or skip with why. Read-only unless ``--commands``. Exit status: 0 when nothing
failed, 1 when a check failed, 2 when the checks could not run (schemathesis missing, the token
variable unset, the shim unreachable).
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Annotated

import httpx
import typer

from omnigraph.sources.conformance import (
    CheckResult,
    Outcome,
    SchemathesisMissing,
    run_checks,
)

__all__ = ["SourceKind", "check_source", "render"]


class SourceKind(StrEnum):
    STOREFRONT = "storefront"
    ERP = "erp"
    WMS = "wms"
    PAYMENTS = "payments"


def check_source(
    url: Annotated[str, typer.Argument(help="The shim's base URL, e.g. http://127.0.0.1:9000.")],
    kind: Annotated[SourceKind, typer.Option(help="The kind of source system it stands for.")],
    token_env: Annotated[
        str | None,
        typer.Option(
            help="The environment variable holding the shim's bearer token "
            "(sent as Authorization: Bearer; also checks that a wrong one is refused)."
        ),
    ] = None,
    commands: Annotated[
        bool,
        typer.Option(
            "--commands",
            help="Also send commands (record.resync of one of the shim's records) to check "
            "Idempotency-Key handling. Off by default: the checks only read.",
        ),
    ] = False,
    schema: Annotated[
        bool,
        typer.Option(
            "--schema/--no-schema",
            help="Run schemathesis with the kind's OpenAPI file first "
            "(needs pip install 'omnigraph\\[conformance]').",
        ),
    ] = True,
    max_examples: Annotated[
        int, typer.Option(min=1, help="Generated requests per operation, valid and invalid each.")
    ] = 10,
    max_seconds: Annotated[
        float, typer.Option(min=1, help="Time budget of the schemathesis run, in seconds.")
    ] = 120.0,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for one answer.")] = 10.0,
) -> None:
    """Check that a source system, or a retailer's shim, speaks the source contract.

    Each row of the table says what to fix; docs/sources/README.md explains every check.
    """
    token = None
    if token_env is not None:
        token = os.environ.get(token_env)
        if not token:
            typer.echo(f"the environment variable {token_env} holds no token", err=True)
            raise typer.Exit(2)
    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=timeout)
    except httpx.HTTPError as error:
        typer.echo(f"{url} cannot be reached: {type(error).__name__}: {error}", err=True)
        raise typer.Exit(2) from None
    try:
        results = run_checks(
            url,
            kind.value,
            token=token,
            commands=commands,
            schema=schema,
            max_examples=max_examples,
            max_seconds=max_seconds,
            timeout=timeout,
        )
    except SchemathesisMissing as missing:
        typer.echo(str(missing), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{kind.value} contract at {url}")
    typer.echo(render(results))
    if not all(result.passed for result in results):
        raise typer.Exit(1)


def render(results: list[CheckResult]) -> str:
    """The table: check, result, and what to fix (or why it was skipped), then the totals."""
    width = max([len("check"), *(len(result.name) for result in results)])
    lines = [f"{'check':<{width}}  result  what to fix", f"{'-' * width}  ------  -----------"]
    lines += [
        f"{result.name:<{width}}  {result.outcome.value:<6}  {result.fix}".rstrip()
        for result in results
    ]
    counts = {outcome: sum(r.outcome is outcome for r in results) for outcome in Outcome}
    lines.append(
        f"{counts[Outcome.PASS]} passed, {counts[Outcome.FAIL]} failed, "
        f"{counts[Outcome.SKIP]} skipped"
    )
    return "\n".join(lines)
