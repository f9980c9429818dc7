"""One-shot and long-running jobs against the configured sources: ``dispatch``, ``detect``,
``sync wms | payments | exceptions`` and ``db upgrade``.

Each opens the database (migrated first) and the source registry, does its work, and closes
both; :func:`against_sources` is that frame, written once. Without configured sources, the
built-in demo systems start in the process for the job's duration, as ``serve`` starts them
(:func:`omnigraph.cli.demo.sources_for`). Each job says what it did, every event read counted
in one of the categories it names.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.cli.demo import AsOfOption, sources_for
from omnigraph.settings import Settings
from omnigraph.sources.registry import SourceRegistry

__all__ = [
    "Job",
    "against_sources",
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
    Path | None, typer.Option(help="Settings and sources TOML (OMNIGRAPH_CONFIG); none = demo.")
]


@dataclass(frozen=True, slots=True)
class Job:
    """What a job works with: the settings, the database, the sources and the clock (the
    demo's, started at its instant, when the demo systems stand in)."""

    settings: Settings
    sessions: Sessions
    registry: SourceRegistry
    now: Callable[[], datetime]


def against_sources(
    config: Path | None, work: Callable[[Job], Awaitable[ResultT]], as_of: str | None = None
) -> ResultT:
    """Run ``work`` with a migrated database and the configured sources (or the demo's),
    then close both."""
    from omnigraph.app import check_configuration
    from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database

    options = {"config": config, "demo_as_of": as_of}
    settings = Settings(**{k: v for k, v in options.items() if v is not None})
    check_configuration(settings)

    async def run() -> ResultT:
        async with sources_for(settings) as sources:
            engine = create_engine(settings.database_url)
            registry = SourceRegistry(sources.config, settings)
            try:
                await upgrade_database(engine)
                sessions = create_session_factory(engine)
                return await work(Job(settings, sessions, registry, sources.clock))
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
    as_of: AsOfOption = None,
) -> None:
    """Deliver resolution commands from the outbox to their owners (any number may run)."""
    import os
    import signal
    import socket

    from omnigraph.db.leases import LeaseStore, process_holder
    from omnigraph.exceptions.dispatcher import CommandDispatcher
    from omnigraph.runtime.periodic import PeriodicRunner

    async def work(job: Job) -> str:
        dispatcher = CommandDispatcher(
            job.sessions,
            job.registry,
            worker=worker or f"{socket.gethostname()}:{os.getpid()}:dispatch",
            policy=job.settings.dispatch,
            clock=job.now,
        )
        handled = 0
        if once:
            while batch := await dispatcher.run_once():
                handled += batch
        else:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            # the expired-key sweep is a singleton: shared with the replicas' by its lease
            leases = LeaseStore(job.sessions, process_holder("dispatch"), job.now)
            runner = PeriodicRunner(
                dispatcher.periodic(), leases=leases, lease_seconds=job.settings.task_lease_seconds
            )
            await runner.run(stop)
        return dispatched(dispatcher.outcomes)

    typer.echo(against_sources(config, work, as_of))


def dispatched(outcomes: Mapping[str, int]) -> str:
    """``3 commands dispatched: 2 delivered, 1 rejected by their owner, ...``."""
    names = {
        "delivered": "delivered",
        "rejected": "rejected by their owner",
        "retry": "to retry later",
        "dead": "dead-lettered",
    }
    total = sum(outcomes.values())
    parts = [f"{outcomes[key]} {name}" for key, name in names.items() if outcomes.get(key)]
    noun = "command" if total == 1 else "commands"
    return f"{total} {noun} dispatched" + (": " + ", ".join(parts) if parts else "")


def detect(
    config: ConfigOption = None,
    dry_run: Annotated[
        bool, typer.Option(help="Report disagreements without raising exceptions.")
    ] = False,
    as_of: AsOfOption = None,
) -> None:
    """Scan every order for disagreements once; raise the operational ones as exceptions."""
    import json

    from omnigraph.exceptions.catalogue import ExceptionCatalogue
    from omnigraph.orders.authority import AuthorityRules
    from omnigraph.orders.detector import DisagreementDetector

    async def work(job: Job) -> dict[str, object]:
        detector = DisagreementDetector(
            job.sessions,
            job.registry,
            AuthorityRules.load(job.settings.authority_rules),
            ExceptionCatalogue.load(job.settings.exception_catalogue),
        )
        report = await detector.scan(now=job.now(), raise_exceptions=not dry_run)
        return report.as_dict()

    typer.echo(json.dumps(against_sources(config, work, as_of), indent=2))


def sync_wms(config: ConfigOption = None, as_of: AsOfOption = None) -> None:
    """Backfill the inventory ledger from every WMS change feed, with progress."""
    from omnigraph.inventory.ledger import LedgerReader, SyncProgress
    from omnigraph.runtime.batch import batch_collection

    async def work(job: Job) -> SyncProgress:
        reader = LedgerReader(job.sessions, job.registry, clock=job.now)
        with _progress() as say:

            def advance(progress: SyncProgress) -> None:
                say(
                    f"events read: {progress.events_read}"
                    f" (applied {progress.applied}, quarantined {progress.quarantined})"
                )

            return await reader.sync_once(advance)

    with batch_collection():  # a backfill of a million events: as the payments sync
        done = against_sources(config, work, as_of)
    typer.echo(
        f"{done.events_read} events read: {done.applied} stock movements applied,"
        f" {done.duplicates} already in the ledger, {done.quarantined} quarantined,"
        f" {done.other_events} not about stock (orders, exception reports);"
        f" {done.gaps} gaps in the feed"
    )


def sync_exceptions(config: ConfigOption = None, as_of: AsOfOption = None) -> None:
    """Read exception reports from every WMS change feed into omnigraph, then exit."""
    from omnigraph.exceptions.catalogue import ExceptionCatalogue
    from omnigraph.exceptions.source_reports import ReportSyncProgress, SourceReportReader

    async def work(job: Job) -> ReportSyncProgress:
        catalogue = ExceptionCatalogue.load(job.settings.exception_catalogue or None)
        return await SourceReportReader(job.sessions, job.registry, catalogue).sync()

    done = against_sources(config, work, as_of)
    typer.echo(
        f"{done.events_read} events read: {done.new} new exceptions, {done.known} reports"
        f" already recorded, {done.malformed} malformed, {done.other_events} not exception"
        " reports"
    )


def sync_payments(
    config: ConfigOption = None,
    returns: Annotated[
        bool, typer.Option(help="Also sweep the returns for ones nobody refunded.")
    ] = True,
    as_of: AsOfOption = None,
) -> None:
    """Sync payouts and their balance transactions, then reconcile every payout that changed."""
    from omnigraph.exceptions.catalogue import ExceptionCatalogue
    from omnigraph.payouts.reconciler import ReconcileProgress, Reconciler
    from omnigraph.payouts.returns import ReturnSweep
    from omnigraph.payouts.sync import PaymentsReader, PaymentsSyncProgress
    from omnigraph.runtime.batch import batch_collection

    async def work(job: Job) -> str:
        catalogue = ExceptionCatalogue.load(job.settings.exception_catalogue or None)
        with _progress() as say:

            def synced(progress: PaymentsSyncProgress) -> None:
                say(
                    f"events read: {progress.events_read} (payouts {progress.payouts_seen},"
                    f" transactions stored {progress.transactions_stored})"
                )

            def reconciled(progress: ReconcileProgress) -> None:
                say(f"payouts reconciled: {progress.payouts} ({progress.lines} lines)")

            sync = await PaymentsReader(job.sessions, job.registry, clock=job.now).sync_once(synced)
            done = await Reconciler(
                job.sessions, job.registry, catalogue, clock=job.now
            ).reconcile_pending(reconciled)
            flagged: list[str] = []
            if returns:
                say("sweeping returns")
                sweep = ReturnSweep(
                    job.sessions,
                    job.registry,
                    catalogue,
                    grace=timedelta(seconds=job.settings.refund_grace_seconds),
                    clock=job.now,
                )
                flagged = await sweep.sweep()
        statuses = ", ".join(f"{n} {status}" for status, n in sorted(done.by_status.items()))
        return (
            f"{sync.events_read} events read: {sync.payout_events} about payouts"
            f" ({sync.payouts_seen} payouts named), {sync.other_events} about charges, refunds"
            f" and disputes (read through the payouts' transactions);"
            f" {sync.transactions_stored} transactions stored"
            f" ({sync.transactions_unchanged} unchanged); {done.payouts} payouts reconciled"
            f" ({statuses or 'none changed'}), {done.exceptions_raised} new exceptions;"
            f" {len(flagged)} returns without a refund"
        )

    with batch_collection():  # a process of its own: never the web service's thresholds
        summary = against_sources(config, work, as_of)
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
