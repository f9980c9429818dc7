"""The catalogue is validated data; intake records one exception per underlying problem."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from omnigraph.core.errors import ConfigurationError
from omnigraph.core.sources import SourceKind
from omnigraph.db.models import ExceptionEventRow, ExceptionRow
from omnigraph.exceptions.catalogue import (
    DEFAULT_CATALOGUE_PATH,
    ExceptionCatalogue,
    ExceptionKind,
    PayloadNotApplicable,
)
from omnigraph.exceptions.intake import ExceptionReport, take_in, take_in_many
from omnigraph.exceptions.lifecycle import ExceptionStatus, can_move
from omnigraph.runtime.services import Services


def test_every_kind_has_an_owner_and_commands_the_owner_accepts() -> None:
    catalogue = ExceptionCatalogue.load()
    assert set(catalogue.kinds) == set(ExceptionKind)
    short = catalogue.rule(ExceptionKind.SHORT_PICK)
    assert short.owner is SourceKind.WMS
    assert set(short.resolutions) == {
        "SHIP_PARTIAL_AND_REFUND",
        "BACKORDER",
        "SUBSTITUTE",
        "CANCEL_LINE",
    }
    assert catalogue.rule(ExceptionKind.PAYOUT_MISMATCH).owner is SourceKind.PAYMENTS
    assert catalogue.rule(ExceptionKind.PRICE_DISAGREEMENT).owner is SourceKind.ERP
    assert catalogue.rule(ExceptionKind.LATE_CANCELLATION).owner is SourceKind.STOREFRONT
    backorder = short.resolutions["BACKORDER"]
    assert backorder.money
    assert backorder.inventory
    assert backorder.order


def test_payloads_keep_types_and_say_what_is_missing() -> None:
    rule = ExceptionCatalogue.load().rule("SHORT_PICK").resolutions["BACKORDER"]
    assert rule.render({"fulfilmentOrderId": "WO-1", "sku": "SKU-1", "quantity": 2}) == {
        "fulfilmentOrderId": "WO-1",
        "sku": "SKU-1",
        "quantity": 2,
    }
    with pytest.raises(PayloadNotApplicable, match="'sku'"):
        rule.render({"fulfilmentOrderId": "WO-1", "quantity": 2})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('command = "fulfilment.backorder"', 'command = "fulfilment.teleport"'),
            "has no command 'fulfilment.teleport'",
        ),
        (
            ('[kinds.SHORT_PICK]\nowner = "wms"', '[kinds.SHORT_PICK]\nowner = "crm"'),
            "kinds.SHORT_PICK.owner",
        ),
        (("[kinds.RETURN_WITHOUT_REFUND]", "[kinds.NOT_A_KIND]"), "NOT_A_KIND"),
    ],
)
def test_a_bad_catalogue_fails_at_start_up(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = tmp_path / "catalogue.toml"
    text = DEFAULT_CATALOGUE_PATH.read_text()
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(ConfigurationError, match=message):
        ExceptionCatalogue.load(path)


def test_a_rule_naming_an_unconfigured_source_fails(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.toml"
    path.write_text(
        DEFAULT_CATALOGUE_PATH.read_text().replace(
            '[kinds.DAMAGE]\nowner = "wms"',
            '[kinds.DAMAGE]\nowner = "wms"\nowner_source = "wms-east"',
        )
    )
    catalogue = ExceptionCatalogue.load(path)
    assert catalogue.rule("DAMAGE").owner_source == "wms-east"
    catalogue.check_sources({"wms-east": SourceKind.WMS})
    with pytest.raises(ConfigurationError, match="wms-east"):
        catalogue.check_sources({"wms": SourceKind.WMS})


def test_lifecycle_allows_only_the_documented_moves() -> None:
    assert can_move("OPEN", ExceptionStatus.ACKNOWLEDGED)
    assert can_move("ACKNOWLEDGED", ExceptionStatus.RESOLUTION_PENDING)
    assert can_move("RESOLUTION_FAILED", ExceptionStatus.OPEN)
    assert not can_move("RESOLVED", ExceptionStatus.OPEN)
    assert not can_move("ACKNOWLEDGED", ExceptionStatus.ACKNOWLEDGED)
    assert not can_move("OPEN", ExceptionStatus.RESOLVED)


async def test_the_same_problem_seen_twice_at_once_is_one_exception(services: Services) -> None:
    report = ExceptionReport(
        kind=ExceptionKind.DAMAGE,
        dedupe_key="test:damage:once",
        subject="SF-1",
        subject_type="order",
        summary="2 x SKU-0001 damaged",
        detected_at=datetime.now(UTC),
        reported_by="wms",
        owner_source="wms",
        details={"sku": "SKU-0001"},
    )
    results = await asyncio.gather(
        *(take_in(services.sessions, services.get(ExceptionCatalogue), report) for _ in range(5))
    )
    assert len({row.id for row, _ in results}) == 1
    assert sum(new for _, new in results) == 1
    row, new = await take_in(services.sessions, services.get(ExceptionCatalogue), report)
    assert not new
    assert row.id == results[0][0].id
    assert row.severity == "HIGH"
    assert row.owner_kind == "wms"


async def test_many_reports_at_once_are_one_exception_per_problem(services: Services) -> None:
    """Reports taken in together (a reconciliation's chunk) open each problem once: one already
    recorded and one reported twice are not opened again, and each new one has its opening
    event."""

    def report(key: str, summary: str = "a charge took another amount") -> ExceptionReport:
        return ExceptionReport(
            kind=ExceptionKind.AMOUNT_MISMATCH,
            dedupe_key=f"test:many:{key}",
            subject=f"psp:{key}",
            subject_type="charge",
            summary=summary,
            detected_at=datetime.now(UTC),
            reported_by="reconciler",
            owner_source="psp",
        )

    catalogue = services.get(ExceptionCatalogue)
    earlier, _ = await take_in(services.sessions, catalogue, report("a"))
    batch = [report("a"), report("b"), report("c"), report("b", "seen again")]
    assert await take_in_many(services.sessions, catalogue, batch) == 2
    assert await take_in_many(services.sessions, catalogue, batch) == 0
    async with services.sessions() as session:
        rows = (
            await session.execute(
                select(ExceptionRow.dedupe_key, ExceptionRow.id, ExceptionRow.summary).where(
                    ExceptionRow.dedupe_key.startswith("test:many:")
                )
            )
        ).all()
        events = await session.scalar(
            select(func.count())
            .select_from(ExceptionEventRow)
            .where(ExceptionEventRow.exception_id.in_([row.id for row in rows]))
        )
    assert sorted(key for key, _, _ in rows) == ["test:many:a", "test:many:b", "test:many:c"]
    assert {key: summary for key, _, summary in rows}["test:many:b"] == (
        "a charge took another amount"
    )
    assert earlier.id in {row_id for _, row_id, _ in rows}
    assert events == 3
