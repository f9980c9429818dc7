"""``omnigraph rehearse``: run a peak-season rehearsal (a scenario file) against the built-in
demo, or, with ``--config`` and ``--i-understand-this-writes``, against configured sources;
print a summary, write the JSON (and HTML) report, exit 1 when a threshold fails."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from omnigraph.rehearsal.driver import Progress as OnProgress
from omnigraph.rehearsal.driver import Rehearsal, Target
from omnigraph.rehearsal.html import html_report
from omnigraph.rehearsal.measure import Figures
from omnigraph.rehearsal.scenario import Scenario, load_scenario
from omnigraph.settings import Settings

__all__ = ["rehearse", "run_rehearsal"]

WRITES = (
    "rehearse writes: it reserves stock, moves it and takes systems down through their test"
    " switches; against configured sources, add --i-understand-this-writes"
)


async def run_rehearsal(
    scenario: Scenario, settings: Settings, *, progress: OnProgress | None = None
) -> dict[str, Any]:
    """Start the service in this process (with the demo systems when no sources are
    configured, on a fresh SQLite database of its own), catch it up, drive ``scenario`` at it
    and answer the report."""
    from omnigraph.app import BACKGROUND_SWITCHES, background_workers, catch_up, create_app
    from omnigraph.rehearsal.measure import report

    with tempfile.TemporaryDirectory(prefix="omnigraph-rehearsal-") as folder:
        if settings.sources_config is None:
            settings = settings.model_copy(
                update={
                    "database_url": f"sqlite+aiosqlite:///{Path(folder) / 'rehearsal.sqlite3'}",
                    "demo_base_port": 0,  # ephemeral: never in the way of a running demo
                }
            )
        # started without its background work, caught up step by step (the ledger has read
        # every WMS event, due commands are delivered), then the background work runs as
        # `serve` runs it: a survey of the stock before then would measure a ledger half read
        quiet = settings.model_copy(update=dict.fromkeys(BACKGROUND_SWITCHES, False))
        app = create_app(quiet)
        async with app.router.lifespan_context(app), contextlib.AsyncExitStack() as stack:
            await catch_up(app.state.services)
            services = dataclasses.replace(app.state.services, settings=settings)
            await stack.enter_async_context(background_workers(services))
            systems = getattr(app.state, "demo_urls", None) or {
                source.kind: str(source.base_url) for source in services.registry.config.sources
            }
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1:8000", timeout=60
            ) as client:
                target = Target(graph=client, systems=systems, sessions=services.sessions)
                figures = await Rehearsal(scenario, target, progress=progress).run()
        return report(scenario, figures)


def _by_phase(title: str, rows: list[dict[str, Any]], sections: dict[str, dict[str, str]]) -> Table:
    """A row a phase: its name, then a column a figure (``{section: {column: figure}}``)."""
    table = Table(title=title)
    table.add_column("phase", justify="left")
    for figures in sections.values():
        for column in figures:
            table.add_column(column, justify="right")
    for phase in rows:
        cells = [str(phase[name][key]) for name, keys in sections.items() for key in keys.values()]
        table.add_row(phase["name"], *cells)
    return table


def _summary(console: Console, body: dict[str, Any]) -> None:
    rows = [*body["phases"], {"name": "overall", **body["overall"]}]
    load = {
        "graphql": {
            "requests": "requests",
            "errors": "errors",
            "p50 ms": "p50Ms",
            "p99 ms": "p99Ms",
        },
        "movementToAvailability": {"move→avail p99 ms": "p99Ms"},
    }
    console.print(_by_phase(f"rehearsal {body['scenario']}: {body['seconds']} s", rows, load))
    promises = {
        "promises": {"promised": "made", "broken": "broken"},
        "disagreementToException": {
            "planted": "planted",
            "raised": "raised",
            "p50 ms": "p50Ms",
            "p99 ms": "p99Ms",
        },
    }
    title = "promises broken, disagreements raised (time to exception)"
    console.print(_by_phase(title, rows, promises))
    for verdict in body["thresholds"]:
        mark = "[green]pass[/green]" if verdict["passed"] else "[red]FAIL[/red]"
        console.print(f"  {mark} {verdict['name']}: {verdict['value']} (limit {verdict['limit']})")


def rehearse(
    scenario: Annotated[
        str, typer.Option(help="A shipped scenario (peak, outage, returns-wave) or a TOML file.")
    ] = "peak",
    minutes: Annotated[
        float | None,
        typer.Option(min=0.05, max=60, help="Stretch or shrink the scenario to this many minutes."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Settings and sources TOML; none = the built-in demo systems."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write the JSON report here (and FILE.html beside it).")
    ] = None,
    i_understand_this_writes: Annotated[
        bool,
        typer.Option(
            "--i-understand-this-writes", help="Allow a rehearsal against configured sources."
        ),
    ] = False,
) -> None:
    """Rehearse peak season: drive a scenario's load, outages and slow acknowledgements at the
    service and its sources, measure what held, and fail (exit 1) when a threshold fails."""
    chosen = load_scenario(scenario)
    if minutes is not None:
        chosen = chosen.scaled_to(minutes)
    settings = Settings(config=config) if config is not None else Settings()
    if settings.sources_config is not None and not i_understand_this_writes:
        typer.echo(f"omnigraph: {WRITES}", err=True)
        raise typer.Exit(2)
    console = Console(stderr=True)
    if console.is_terminal:
        # the progress display owns the terminal: the service's own lines only when they are
        # errors (its warnings during an outage are the outage the rehearsal asked for)
        from omnigraph.observability.logging import configure_logging

        configure_logging(settings.effective_log_format, level="ERROR")
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=1.0, status="")

        def show(phase: str, done: float, figures: Figures) -> None:
            errors = sum(1 for s in figures.samples if s.error)
            bar.update(
                task,
                description=phase,
                completed=done,
                status=f"{len(figures.samples)} requests, {errors} errors",
            )

        body = asyncio.run(run_rehearsal(chosen, settings, progress=show))
    _summary(Console(), body)
    if report is not None:
        report.write_text(json.dumps(body, indent=2) + "\n")
        page = report.with_suffix(".html")
        page.write_text(html_report(body))
        typer.echo(f"omnigraph: wrote {report} and {page}", err=True)
    if not body["passed"]:
        raise typer.Exit(1)
