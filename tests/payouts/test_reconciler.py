"""The reconciler's chunks: bounded by transactions, not payouts; a payout the sync touched while
it was being reconciled is reconciled again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update
from starlette.applications import Starlette

from omnigraph.app import demo_sources_config
from omnigraph.db.models import PaymentPayoutRow, PayoutReconciliationRow, ReconciliationLineRow
from omnigraph.demo import DemoSystems
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.payouts import reconciler as reconciler_module
from omnigraph.payouts.matching import Counterparts, SettledTransaction
from omnigraph.payouts.reconciler import ReconcileProgress, Reconciler, transaction_chunks
from omnigraph.payouts.sync import PaymentsReader
from omnigraph.runtime.services import Services
from omnigraph.sources.contract import PaymentsSource
from omnigraph.sources.registry import SourceRegistry
from tests.conftest import ANCHOR, Graph, make_settings, services_of


def payouts(*ids: str) -> list[PaymentPayoutRow]:
    return [PaymentPayoutRow(payout_id=payout_id) for payout_id in ids]


def test_chunks_are_cut_by_transactions_and_a_large_payout_goes_alone() -> None:
    sizes = {"a": 3, "b": 2, "c": 10, "d": 1, "e": 0, "f": 4}
    chunks = transaction_chunks(payouts(*sizes), sizes, bound=5)
    assert [[p.payout_id for p in chunk] for chunk in chunks] == [
        ["a", "b"],
        ["c"],
        ["d", "e"],  # a payout with no transactions still weighs one
        ["f"],
    ]


@pytest.fixture
async def services(own_service: tuple[Starlette, Graph]) -> Services:
    services = services_of(own_service[0])
    await PaymentsReader(services.sessions, services.registry, clock=lambda: ANCHOR).sync_once()
    async with services.sessions() as session, session.begin():
        await session.execute(update(PaymentPayoutRow).values(needs_reconciliation=True))
    return services


async def stored(services: Services) -> tuple[dict[str, str], dict[str, str]]:
    async with services.sessions() as session:
        lines = await session.execute(
            select(ReconciliationLineRow.key, ReconciliationLineRow.status).where(
                ReconciliationLineRow.txn_id.is_not(None)
            )
        )
        verdicts = await session.execute(
            select(PayoutReconciliationRow.payout_id, PayoutReconciliationRow.status)
        )
        return dict(lines.all()), dict(verdicts.all())


async def payouts_of_lines(services: Services) -> dict[str, str | None]:
    async with services.sessions() as session:
        found = await session.execute(
            select(ReconciliationLineRow.key, ReconciliationLineRow.payout_id).where(
                ReconciliationLineRow.txn_id.is_not(None)
            )
        )
        return dict(found.all())


async def test_small_chunks_give_the_same_verdicts_and_hold_at_most_the_bound(
    services: Services,
) -> None:
    whole = await Reconciler(
        services.sessions, services.registry, services.get(ExceptionCatalogue), clock=lambda: ANCHOR
    ).reconcile_pending()
    expected = await stored(services)
    async with services.sessions() as session, session.begin():
        await session.execute(update(PaymentPayoutRow).values(needs_reconciliation=True))
    chunks: list[tuple[int, int]] = []  # (payouts, lines) per chunk
    seen = (0, 0)

    def progress(total: ReconcileProgress) -> None:
        nonlocal seen
        chunks.append((total.payouts - seen[0], total.lines - seen[1]))
        seen = (total.payouts, total.lines)

    bound = 12
    small = await Reconciler(
        services.sessions,
        services.registry,
        services.get(ExceptionCatalogue),
        clock=lambda: ANCHOR,
        chunk_transactions=bound,
    ).reconcile_pending(progress)
    assert await stored(services) == expected
    assert (small.payouts, small.lines) == (whole.payouts, whole.lines)
    assert len(chunks) > 1
    # a chunk's lines exclude the payouts' own transactions, so they fit under the bound
    assert all(lines <= bound or count == 1 for count, lines in chunks)


async def test_a_payout_the_sync_touched_meanwhile_is_reconciled_again(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetch = reconciler_module.fetch_counterparts
    async with services.sessions() as session:
        touched = await session.scalar(select(func.min(PaymentPayoutRow.payout_id)))
    reconciled: list[str] = []

    async def sync_meanwhile(
        registry: SourceRegistry,
        payments: PaymentsSource,
        transactions: Sequence[SettledTransaction],
    ) -> Counterparts:
        payout_ids = {txn.payout for txn in transactions}
        reconciled.extend(sorted(p for p in payout_ids if p))
        if reconciled.count(touched) == 1 and touched in payout_ids:
            async with services.sessions() as session, session.begin():
                await session.execute(
                    update(PaymentPayoutRow)
                    .where(PaymentPayoutRow.payout_id == touched)
                    .values(synced_at=ANCHOR + timedelta(minutes=1))
                )
        return await fetch(registry, payments, transactions)

    monkeypatch.setattr(reconciler_module, "fetch_counterparts", sync_meanwhile)
    await Reconciler(
        services.sessions, services.registry, services.get(ExceptionCatalogue), clock=lambda: ANCHOR
    ).reconcile_pending()
    assert reconciled.count(touched) == 2
    assert len(reconciled) == len(set(reconciled)) + 1
    async with services.sessions() as session:
        marked = await session.scalar(
            select(func.count()).where(PaymentPayoutRow.needs_reconciliation.is_(True))
        )
    assert marked == 0


async def test_a_chunk_that_fails_leaves_the_chunk_before_it_stored_and_the_rest_marked(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk is stored while the next is matched: when the next one fails (its sources
    unreachable), the one being stored is stored whole before the failure goes on, the failed
    chunk's payouts stay marked, and a later run finishes with what a run in one piece stores."""
    reconciler = Reconciler(
        services.sessions,
        services.registry,
        services.get(ExceptionCatalogue),
        clock=lambda: ANCHOR,
        chunk_transactions=12,
    )
    await reconciler.reconcile_pending()
    expected = await stored(services)
    expected_payout_of = await payouts_of_lines(services)
    async with services.sessions() as session, session.begin():
        await session.execute(update(PaymentPayoutRow).values(needs_reconciliation=True))
        await session.execute(delete(ReconciliationLineRow))
        await session.execute(delete(PayoutReconciliationRow))
    fetch = reconciler_module.fetch_counterparts
    asked: list[set[str]] = []

    async def second_chunk_fails(
        registry: SourceRegistry,
        payments: PaymentsSource,
        transactions: Sequence[SettledTransaction],
    ) -> Counterparts:
        asked.append({txn.payout for txn in transactions if txn.payout})
        if len(asked) == 2:
            raise RuntimeError("the ERP is down")
        return await fetch(registry, payments, transactions)

    monkeypatch.setattr(reconciler_module, "fetch_counterparts", second_chunk_fails)
    with pytest.raises(RuntimeError, match="the ERP is down"):
        await reconciler.reconcile_pending()
    lines, verdicts = await stored(services)
    # the first chunk's verdicts and every one of its lines, as the whole run stored them
    assert set(verdicts) == asked[0]
    assert verdicts == {payout: expected[1][payout] for payout in asked[0]}
    first_lines = {key for key, payout in expected_payout_of.items() if payout in asked[0]}
    assert first_lines
    assert lines == {key: expected[0][key] for key in first_lines}
    async with services.sessions() as session:
        marked = set(
            await session.scalars(
                select(PaymentPayoutRow.payout_id).where(
                    PaymentPayoutRow.needs_reconciliation.is_(True)
                )
            )
        )
    assert asked[1] <= marked
    assert not marked & asked[0]
    monkeypatch.setattr(reconciler_module, "fetch_counterparts", fetch)
    await reconciler.reconcile_pending()
    assert await stored(services) == expected


async def test_payouts_named_by_a_webhook_are_reconciled_now_marked_or_not(
    services: Services,
) -> None:
    reconciler = Reconciler(
        services.sessions, services.registry, services.get(ExceptionCatalogue), clock=lambda: ANCHOR
    )
    await reconciler.reconcile_pending()
    expected = await stored(services)
    async with services.sessions() as session:
        named = list(
            await session.scalars(select(PaymentPayoutRow.payout_id).order_by("payout_id").limit(3))
        )
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(PaymentPayoutRow)
            .where(PaymentPayoutRow.payout_id.in_(named))
            .values(needs_reconciliation=True)
        )
    done = await reconciler.reconcile_payouts(services.registry.payments[0], [*named, "po_none"])
    assert done.payouts == len(named)
    assert await stored(services) == expected
    async with services.sessions() as session:
        marked = await session.scalar(
            select(func.count()).where(PaymentPayoutRow.needs_reconciliation.is_(True))
        )
    assert marked == 0


async def test_a_reconciliation_leaves_nothing_in_the_record_caches(
    services: Services, own_demo: DemoSystems, clean_database: str
) -> None:
    """Even where the record caches are on, a reconciliation keeps none of the counterparts it
    reads (it reads each once, by the thousand): a second one asks the sources as often."""
    registry = SourceRegistry(
        demo_sources_config(own_demo.urls), make_settings(clean_database, cache_ttl_seconds=60)
    )
    reconciler = Reconciler(
        services.sessions, registry, services.get(ExceptionCatalogue), clock=lambda: ANCHOR
    )
    try:
        await reconciler.reconcile_pending()
        first = {name: client.upstream.calls for name, client in registry.clients.items()}
        async with services.sessions() as session, session.begin():
            await session.execute(update(PaymentPayoutRow).values(needs_reconciliation=True))
        await reconciler.reconcile_pending()
        second = {
            name: client.upstream.calls - first[name] for name, client in registry.clients.items()
        }
        async with services.sessions() as session:
            refs = list(
                await session.scalars(
                    select(ReconciliationLineRow.order_ref)
                    .where(ReconciliationLineRow.order_ref.is_not(None))
                    .limit(5)
                )
            )
        storefront = registry.clients["web-store"].upstream
        cached = await storefront.cache_get([("orders", "id", ref) for ref in refs if ref])
        hits = sum(client.upstream.cache_hits for client in registry.clients.values())
    finally:
        await registry.aclose()
    assert first["web-store"] > 0
    assert second == first
    assert hits == 0
    assert cached
    assert cached == [None] * len(cached)
