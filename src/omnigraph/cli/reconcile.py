"""``omnigraph sync payments``: payouts and their transactions in, then reconciled."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from omnigraph.settings import Settings
from omnigraph.sources.config import SourcesConfig

__all__ = ["sync_payments"]


def sync_payments(
    config: Annotated[Path | None, typer.Option(help="Sources TOML (OMNIGRAPH_CONFIG).")] = None,
    returns: Annotated[
        bool, typer.Option(help="Also sweep the returns for ones nobody refunded.")
    ] = True,
) -> None:
    """Sync payouts and their balance transactions, then reconcile every payout that changed."""
    from omnigraph.cli import _sources_settings
    from omnigraph.runtime.batch import batch_collection

    settings, sources = _sources_settings(config)
    with batch_collection():  # a process of its own: never the web service's thresholds
        summary = asyncio.run(_run(settings, sources, returns))
    typer.echo(summary)


async def _run(settings: Settings, sources: SourcesConfig, returns: bool) -> str:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
    from omnigraph.exceptions.catalogue import ExceptionCatalogue
    from omnigraph.payouts.reconciler import ReconcileProgress, Reconciler
    from omnigraph.payouts.returns import ReturnSweep
    from omnigraph.payouts.sync import PaymentsReader, PaymentsSyncProgress
    from omnigraph.sources.registry import SourceRegistry

    engine = create_engine(settings.database_url)
    registry = SourceRegistry(sources, settings)
    catalogue = ExceptionCatalogue.load(settings.exception_catalogue or None)
    try:
        await upgrade_database(engine)
        sessions = create_session_factory(engine)
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task("events read: 0", total=None)

            def synced(progress: PaymentsSyncProgress) -> None:
                bar.update(
                    task,
                    description=f"events read: {progress.events_read} (payouts"
                    f" {progress.payouts_seen}, transactions stored"
                    f" {progress.transactions_stored})",
                )

            def reconciled(progress: ReconcileProgress) -> None:
                bar.update(
                    task,
                    description=f"payouts reconciled: {progress.payouts} ({progress.lines} lines)",
                )

            sync = await PaymentsReader(sessions, registry).sync_once(synced)
            done = await Reconciler(sessions, registry, catalogue).reconcile_pending(reconciled)
            flagged: list[str] = []
            if returns:
                bar.update(task, description="sweeping returns")
                sweep = ReturnSweep(
                    sessions,
                    registry,
                    catalogue,
                    grace=timedelta(seconds=settings.refund_grace_seconds),
                )
                flagged = await sweep.sweep()
    finally:
        await registry.aclose()
        await engine.dispose()
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(done.by_status.items()))
    return (
        f"{sync.events_read} events read, {sync.transactions_stored} transactions stored"
        f" ({sync.transactions_unchanged} unchanged); {done.payouts} payouts reconciled"
        f" ({statuses or 'none changed'}), {done.exceptions_raised} new exceptions;"
        f" {len(flagged)} returns without a refund"
    )
