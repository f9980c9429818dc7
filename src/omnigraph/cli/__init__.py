"""``omnigraph serve | demo | export-schema | dispatch | detect | sync | keys | operations |
db upgrade``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from omnigraph.cli.documents import operations_app
from omnigraph.cli.keys import keys_app
from omnigraph.cli.reconcile import sync_payments
from omnigraph.observability.logging import configure_logging
from omnigraph.settings import Settings, SubgraphName
from omnigraph.sources.config import SourcesConfig

__all__ = ["app", "main"]

app = typer.Typer(help="One GraphQL data layer over storefront, ERP, WMS and payments.")
db_app = typer.Typer(help="Omnigraph's own database.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(operations_app, name="operations")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (OMNIGRAPH_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (OMNIGRAPH_PORT).")] = None,
    config: Annotated[
        Path | None, typer.Option(help="Sources TOML (OMNIGRAPH_CONFIG); none = demo systems.")
    ] = None,
    subgraph: Annotated[
        SubgraphName | None,
        typer.Option(help="Serve only this federation subgraph (OMNIGRAPH_SUBGRAPH)."),
    ] = None,
) -> None:
    """Serve the graph, or one subgraph of it; with no sources configured, the demo source
    systems start too."""
    settings = Settings()
    options = {"host": host, "port": port, "config": config, "subgraph": subgraph}
    settings = settings.model_copy(update={k: v for k, v in options.items() if v})
    from omnigraph.app import create_app

    served = f"the {settings.subgraph} subgraph" if settings.subgraph else "GraphiQL"
    typer.echo(f"omnigraph: {served} at http://{settings.host}:{settings.port}/graphql")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # uvicorn's lines go through configure_logging's handler too
    )


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed for the demo business.")] = 7,
    orders: Annotated[int, typer.Option(help="How many orders to seed.")] = 300,
    host: Annotated[str, typer.Option(help="Loopback address to bind.")] = "127.0.0.1",
    base_port: Annotated[
        int, typer.Option(help="Storefront port; ERP, WMS and payments take the next three.")
    ] = 8101,
    truth: Annotated[
        Path | None, typer.Option(help="Write the planted disagreements (ground truth) here.")
    ] = None,
) -> None:
    """Run only the four demo source systems (storefront, ERP, WMS, payments)."""
    from omnigraph.demo import build_world, run_forever

    world = build_world(seed=seed, orders=orders)
    if truth is not None:
        import json
        from dataclasses import asdict

        truth.write_text(json.dumps([asdict(p) for p in world.planted], indent=2))
    kinds = ("storefront", "erp", "wms", "payments")
    ports = {kind: base_port + i for i, kind in enumerate(kinds)}
    for kind, port in ports.items():
        typer.echo(f"{kind:<11} http://{host}:{port}")
    asyncio.run(run_forever(world, host=host, ports=ports))


@app.command("export-schema")
def export_schema(
    out: Annotated[Path, typer.Option(help="Folder for the SDL files.")] = Path("schema"),
    check: Annotated[bool, typer.Option(help="Fail if the files differ; write nothing.")] = False,
) -> None:
    """Write the SDL of each subgraph, the single-process graph and the composed supergraph."""
    from omnigraph.api.export import CompositionError

    try:
        _export(out, check)
    except CompositionError as error:
        typer.echo(f"composition failed:\n{error}", err=True)
        raise typer.Exit(1) from None


def _export(out: Path, check: bool) -> None:
    from omnigraph.api.export import stale_schema_files, write_schema_files

    if check:
        stale = stale_schema_files(out)
        if stale:
            typer.echo("stale: " + ", ".join(str(p) for p in stale), err=True)
            raise typer.Exit(1)
        typer.echo("schema files are up to date")
        return
    for path in write_schema_files(out):
        typer.echo(f"wrote {path}")


sync_app = typer.Typer(help="Read source change feeds now.")
app.add_typer(sync_app, name="sync")


def _sources_settings(config: Path | None) -> tuple[Settings, SourcesConfig]:
    from omnigraph.core.errors import ConfigurationError
    from omnigraph.sources.config import load_sources_config

    settings = Settings()
    path = config or settings.config
    if path is None:
        typer.echo("a sources file is needed: --config FILE or OMNIGRAPH_CONFIG", err=True)
        raise typer.Exit(2)
    try:
        return settings, load_sources_config(path)
    except ConfigurationError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


@app.command()
def dispatch(
    config: Annotated[Path | None, typer.Option(help="Sources TOML (OMNIGRAPH_CONFIG).")] = None,
    once: Annotated[bool, typer.Option(help="Deliver what is due now, then exit.")] = False,
    worker: Annotated[str | None, typer.Option(help="Name in claims and logs.")] = None,
) -> None:
    """Deliver resolution commands from the outbox to their owners (any number may run)."""
    import os
    import signal
    import socket

    from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
    from omnigraph.exceptions.dispatcher import CommandDispatcher
    from omnigraph.sources.registry import SourceRegistry

    settings, sources = _sources_settings(config)

    async def run() -> None:
        engine = create_engine(settings.database_url)
        registry = SourceRegistry(sources, settings)
        try:
            await upgrade_database(engine)
            dispatcher = CommandDispatcher(
                create_session_factory(engine),
                registry,
                worker=worker or f"{socket.gethostname()}:{os.getpid()}:dispatch",
                policy=settings.dispatch_policy(),
            )
            if once:
                while await dispatcher.run_once():
                    pass
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await dispatcher.run(stop)
        finally:
            await registry.aclose()
            await engine.dispose()

    asyncio.run(run())


@sync_app.command("wms")
def sync_wms(
    config: Annotated[Path | None, typer.Option(help="Sources TOML (OMNIGRAPH_CONFIG).")] = None,
) -> None:
    """Backfill the inventory ledger from every WMS change feed, with progress."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
    from omnigraph.inventory.ledger import LedgerReader, SyncProgress
    from omnigraph.sources.registry import SourceRegistry

    settings, sources = _sources_settings(config)

    async def run() -> SyncProgress:
        engine = create_engine(settings.database_url)
        registry = SourceRegistry(sources, settings)
        try:
            await upgrade_database(engine)
            reader = LedgerReader(create_session_factory(engine), registry)
            columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
            with Progress(*columns, transient=False) as bar:
                task = bar.add_task("events read: 0", total=None)

                def advance(progress: SyncProgress) -> None:
                    bar.update(
                        task,
                        description=f"events read: {progress.events_read}"
                        f" (applied {progress.applied}, quarantined {progress.quarantined})",
                    )

                return await reader.sync_once(advance)
        finally:
            await registry.aclose()
            await engine.dispose()

    done = asyncio.run(run())
    typer.echo(
        f"{done.events_read} events read: {done.applied} applied, {done.duplicates} already"
        f" in the ledger, {done.quarantined} quarantined, {done.gaps} gaps"
    )


sync_app.command("payments")(sync_payments)


@sync_app.command("exceptions")
def sync_exceptions(
    config: Annotated[Path | None, typer.Option(help="Sources TOML (OMNIGRAPH_CONFIG).")] = None,
) -> None:
    """Read exception reports from every WMS change feed into omnigraph, then exit."""
    from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
    from omnigraph.exceptions.catalogue import ExceptionCatalogue
    from omnigraph.exceptions.source_reports import SourceReportReader
    from omnigraph.sources.registry import SourceRegistry

    settings, sources = _sources_settings(config)

    async def run() -> int:
        engine = create_engine(settings.database_url)
        registry = SourceRegistry(sources, settings)
        try:
            await upgrade_database(engine)
            reader = SourceReportReader(
                create_session_factory(engine), registry, ExceptionCatalogue.load()
            )
            return await reader.sync_once()
        finally:
            await registry.aclose()
            await engine.dispose()

    typer.echo(f"{asyncio.run(run())} new exceptions")


@app.command()
def detect(
    config: Annotated[Path | None, typer.Option(help="Sources TOML (OMNIGRAPH_CONFIG).")] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Report disagreements without raising exceptions.")
    ] = False,
) -> None:
    """Scan every order for disagreements once; raise the operational ones as exceptions."""
    import json
    from datetime import UTC, datetime

    from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
    from omnigraph.exceptions.catalogue import ExceptionCatalogue
    from omnigraph.orders.authority import AuthorityRules
    from omnigraph.orders.detector import DisagreementDetector
    from omnigraph.sources.registry import SourceRegistry

    settings, sources = _sources_settings(config)

    async def run() -> dict[str, object]:
        engine = create_engine(settings.database_url)
        registry = SourceRegistry(sources, settings)
        try:
            await upgrade_database(engine)
            detector = DisagreementDetector(
                create_session_factory(engine),
                registry,
                AuthorityRules.load(settings.authority_rules),
                ExceptionCatalogue.load(settings.exception_catalogue),
            )
            report = await detector.scan(now=datetime.now(UTC), raise_exceptions=not dry_run)
            return report.as_dict()
        finally:
            await registry.aclose()
            await engine.dispose()

    typer.echo(json.dumps(asyncio.run(run()), indent=2))


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations to OMNIGRAPH_DATABASE_URL."""
    from omnigraph.db.engine import create_engine, upgrade_database

    async def run() -> None:
        engine = create_engine(Settings().database_url)
        try:
            await upgrade_database(engine, revision)
        finally:
            await engine.dispose()

    asyncio.run(run())
    typer.echo(f"database at {revision}")


def main() -> None:
    try:
        settings = Settings()
    except ValueError:  # the command itself reports the bad setting
        settings = Settings.model_construct()
    configure_logging(settings.effective_log_format, level=settings.log_level)
    app()
