"""In production, ``/reports/reconciliation.csv`` is for finance and reporting (and admin) only:
every other key gets a coded 403 and not one payout line, no key a coded 401."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from omnigraph.db.models import ReconciliationLineRow
from omnigraph.demo import DemoSystems
from omnigraph.payouts.report import CSV_COLUMNS
from omnigraph.security.principal import Role
from tests.conftest import issue_key, services_of
from tests.helpers import reconcile_payouts
from tests.security.conftest import serve

PERIOD = {"from": "2026-09-01", "to": "2026-12-01"}
START, END = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
async def production(
    own_demo: DemoSystems, clean_database: str
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    async for app, client in serve(own_demo, clean_database, mode="production"):
        await reconcile_payouts(app.state.services)
        yield app, client


async def report_as(
    production: tuple[Starlette, httpx.AsyncClient], role: Role, *, status: int, media_type: str
) -> httpx.Response:
    """The period's report, asked for with a key of ``role``: answered ``status`` in
    ``media_type``."""
    app, client = production
    issued = await issue_key(
        app, role, name=f"report-{role}", channel="web" if role is Role.STOREFRONT else None
    )
    response = await client.get(
        "/reports/reconciliation.csv",
        params=PERIOD,
        headers={"Authorization": f"Bearer {issued.secret}"},
    )
    assert response.status_code == status
    assert response.headers["content-type"].startswith(media_type)
    return response


@pytest.mark.parametrize("role", [Role.STOREFRONT, Role.SUPPORT])
async def test_other_roles_get_a_coded_403_and_no_line(
    production: tuple[Starlette, httpx.AsyncClient], role: Role
) -> None:
    response = await report_as(production, role, status=403, media_type="application/json")
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "payout_id" not in response.text


async def test_no_key_gets_a_coded_401(production: tuple[Starlette, httpx.AsyncClient]) -> None:
    response = await production[1].get("/reports/reconciliation.csv", params=PERIOD)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("role", [Role.FINANCE, Role.REPORTING, Role.ADMIN])
async def test_finance_reporting_and_admin_get_every_line_of_the_period(
    production: tuple[Starlette, httpx.AsyncClient], role: Role
) -> None:
    response = await report_as(production, role, status=200, media_type="text/csv")
    header, *rows = list(csv.reader(io.StringIO(response.text)))
    assert tuple(header) == CSV_COLUMNS
    services = services_of(production[0])
    async with services.sessions() as session:
        stored = await session.scalar(
            select(func.count())
            .select_from(ReconciliationLineRow)
            .where(
                ReconciliationLineRow.occurred_at >= START,
                ReconciliationLineRow.occurred_at < END,
            )
        )
    assert stored  # the demo's payouts were reconciled: there are lines to read
    assert len(rows) == stored
