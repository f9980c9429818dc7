"""One-shot and long-running jobs against the configured sources: ``dispatch``, ``detect``,
``sync wms | payments | exceptions`` and ``db upgrade``.

Each opens the database (migrated first) and the source registry, does its work, and closes
both; :func:`against_sources` is that frame, written once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.settings import Settings, SourcesConfig
from omnigraph.sources.registry import SourceRegistry

__all__ = [
    "db_upgrade",
    "detect",
    "dispatch",
    "sync_exceptions",
    "sync_payments",
    "sync_wms",
]

ResultT = TypeVar("ResultT")
Sessions = async_sessionmaker[AsyncSession]
ConfigOption = Annotated[
    Path | None, typer.Option(help="Settings and sources TOML (OMNIGRAPH_CONFIG).")
]


def configured_sources(config: Path | None) -> tuple[Settings, SourcesConfig]:
    """The settings and the sources a job runs against; exit 2 when there are none."""
    settings = Settings(config=config) if config else Settings()
    sources = settings.sources_config
    if sources is None:
        typer.echo("sources are needed: --config FILE or OMNIGRAPH_CONFIG", err=True)
        raise typer.Exit(2)
    return settings, sources


def against_sources(
    config: Path | None,
    work: Callable[[Settings, Sessions, SourceRegistry], Awaitable[ResultT]],
) -> ResultT:
    """Run ``work`` with a migrated database and the configured sources, then close both."""
    from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database

    settings, sources = configured_sources(config)

    async def run() -> ResultT:
        engine = create_engine(settings.database_url)
        registry = SourceRegistry(sources, settings)
        try:
            await upgrade_database(engine)
            return await work(settings, create_session_factory(engine), registry)
        finally:
            await registry.aclose()
            await engine.dispose()

    return asyncio.run(run())


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[str], None]]:
    """A spinner line with the time elapsed; what it yields sets the line's text."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("events read: 0", total=None)
        yield lambda text: bar.update(task, description=text)


def dispatch(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option(help="Deliver what is due now, then exit.")] = False,
    worker: Annotated[str | None, typer.Option(help="Name in claims and logs.")] = None,
) -> None:
    """Deliver resolution commands from the outbox to their owners (any number may run)."""
    import os
    import signal
    import socket

    from omnigraph.exceptions.dispatcher import CommandDispatcher
    from omnigraph.runtime.periodic import PeriodicRunner

    async def work(settings: Settings, sessions: Sessions, registry: SourceRegistry) -> None:
        dispatcher = CommandDispatcher(
            sessions,
            registry,
            worker=worker or f"{socket.gethostname()}:{os.getpid()}:dispatch",
            policy=settings.dispatch,
        )
        if once:
            while await dispatcher.run_once():
                pass
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await PeriodicRunner(dispatcher.periodic()).run(stop)

    against_sources(config, work)


def detect(
    config: ConfigOption = None,
    dry_run: Annotated[
        bool, typer.Option(help="Report disagreements without raising exceptions.")
    ] = False,
) -> None:
    """Scan every order for disagreements once; raise the operational ones as exceptions."""
    import json
    from datetime import UTC, datetime

    from omnigraph.exceptions.catalogue import ExceptionCatalogue
    from omnigraph.orders.authority import AuthorityRules
    from omnigraph.orders.detector import DisagreementDetector

    async def work(
        settings: Settings, sessions: Sessions, registry: SourceRegistry
    ) -> dict[str, object]:
        detector = DisagreementDetector(
            sessions,
            registry,
            AuthorityRules.load(settings.authority_rules),
            ExceptionCatalogue.load(settings.exception_catalogue),
        )
        report = await detector.scan(now=datetime.now(UTC), raise_exceptions=not dry_run)
        return report.as_dict()

    typer.echo(json.dumps(against_sources(config, work), indent=2))


def sync_wms(config: ConfigOption = None) -> None:
    """Backfill the inventory ledger from every WMS change feed, with progress."""
    from omnigraph.inventory.ledger import LedgerReader, SyncProgress

    async def work(
        _settings: Settings, sessions: Sessions, registry: SourceRegistry
    ) -> SyncProgress:
        reader = LedgerReader(sessions, registry)
        with _progress() as say:

            def advance(progress: SyncProgress) -> None:
                say(
                    f"events read: {progress.events_read}"
                    f" (applied {progress.applied}, quarantined {progress.quarantined})"
                )

            return await reader.sync_once(advance)

    done = against_sources(config, work)
    typer.echo(
        f"{done.events_read} events read: {done.applied} applied, {done.duplicates} already"
        f" in the ledger, {done.quarantined} quarantined, {done.gaps} gaps"
    )


def sync_exceptions(config: ConfigOption = None) -> None:
    """Read exception reports from every WMS change feed into omnigraph, then exit."""
    from omnigraph.exceptions.catalogue import ExceptionCatalogue
    from omnigraph.exceptions.source_reports import SourceReportReader

    async def work(settings: Settings, sessions: Sessions, registry: SourceRegistry) -> int:
        catalogue = ExceptionCatalogue.load(settings.exception_catalogue or None)
        return await SourceReportReader(sessions, registry, catalogue).sync_once()

    typer.echo(f"{against_sources(config, work)} new exceptions")


def sync_payments(
    config: ConfigOption = None,
    returns: Annotated[
        bool, typer.Option(help="Also sweep the returns for ones nobody refunded.")
    ] = True,
) -> None:
    """Sync payouts and their balance transactions, then reconcile every payout that changed."""
    from omnigraph.exceptions.catalogue import ExceptionCatalogue
    from omnigraph.payouts.reconciler import ReconcileProgress, Reconciler
    from omnigraph.payouts.returns import ReturnSweep
    from omnigraph.payouts.sync import PaymentsReader, PaymentsSyncProgress
    from omnigraph.runtime.batch import batch_collection

    async def work(settings: Settings, sessions: Sessions, registry: SourceRegistry) -> str:
        catalogue = ExceptionCatalogue.load(settings.exception_catalogue or None)
        with _progress() as say:

            def synced(progress: PaymentsSyncProgress) -> None:
                say(
                    f"events read: {progress.events_read} (payouts {progress.payouts_seen},"
                    f" transactions stored {progress.transactions_stored})"
                )

            def reconciled(progress: ReconcileProgress) -> None:
                say(f"payouts reconciled: {progress.payouts} ({progress.lines} lines)")

            sync = await PaymentsReader(sessions, registry).sync_once(synced)
            done = await Reconciler(sessions, registry, catalogue).reconcile_pending(reconciled)
            flagged: list[str] = []
            if returns:
                say("sweeping returns")
                sweep = ReturnSweep(
                    sessions,
                    registry,
                    catalogue,
                    grace=timedelta(seconds=settings.refund_grace_seconds),
                )
                flagged = await sweep.sweep()
        statuses = ", ".join(f"{n} {status}" for status, n in sorted(done.by_status.items()))
        return (
            f"{sync.events_read} events read, {sync.transactions_stored} transactions stored"
            f" ({sync.transactions_unchanged} unchanged); {done.payouts} payouts reconciled"
            f" ({statuses or 'none changed'}), {done.exceptions_raised} new exceptions;"
            f" {len(flagged)} returns without a refund"
        )

    with batch_collection():  # a process of its own: never the web service's thresholds
        summary = against_sources(config, work)
    typer.echo(summary)


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
