"""Storing balance transactions: keyed by transaction id, without reading them first."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, select
from starlette.applications import Starlette

from omnigraph.db.models import PaymentTransactionRow
from omnigraph.payouts.sync import store_transactions
from omnigraph.runtime.services import Services
from omnigraph.sources.records import BalanceTransaction
from tests.conftest import Graph, services_of

SOURCE = "psp-store-test"  # a source no configured adapter reads: the demo's books stay as they are
T0 = 1_763_600_000


def txn(n: int, amount: int = 1000) -> BalanceTransaction:
    return BalanceTransaction(
        id=f"txn_{n}",
        amount=amount,
        fee=30,
        net=amount - 30,
        currency="gbp",
        type="charge",
        reporting_category="charge",
        source=f"ch_{n}",
        payout="po_1",
        created=T0 + n,
    )


@pytest.fixture
async def services(own_service: tuple[Starlette, Graph]) -> AsyncIterator[Services]:
    services = services_of(own_service[0])
    yield services
    async with services.sessions() as session, session.begin():
        await session.execute(
            delete(PaymentTransactionRow).where(PaymentTransactionRow.source == SOURCE)
        )


async def store(services: Services, transactions: list[BalanceTransaction]) -> tuple[int, int]:
    async with services.sessions() as session, session.begin():
        return await store_transactions(session, SOURCE, transactions)


async def test_a_transaction_is_stored_once_and_a_changed_one_is_updated(
    services: Services,
) -> None:
    assert await store(services, [txn(1), txn(2), txn(3)]) == (3, 0)
    assert await store(services, [txn(1), txn(2), txn(3)]) == (0, 3)  # re-delivered
    # txn_2 changed upstream, txn_4 is new, txn_1 comes twice in one page (the last one counts)
    page = [txn(1), txn(2, amount=1500), txn(4), txn(1)]
    assert await store(services, page) == (2, 2)
    async with services.sessions() as session:
        rows = await session.execute(
            select(PaymentTransactionRow.txn_id, PaymentTransactionRow.amount_minor).where(
                PaymentTransactionRow.source == SOURCE
            )
        )
        amounts = {txn_id: amount for txn_id, amount in rows}
    assert amounts == {"txn_1": 1000, "txn_2": 1500, "txn_3": 1000, "txn_4": 1000}


async def test_a_payout_of_thousands_is_stored_whole_and_once(
    services: Services,
) -> None:
    swept = [txn(n) for n in range(2017)]  # more rows than one batch of the driver's
    assert await store(services, swept) == (len(swept), 0)
    assert await store(services, swept) == (0, len(swept))
