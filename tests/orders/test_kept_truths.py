"""An order's truth is decided once and kept while every system's claims about it stand.

The reference throughout is a truth decided afresh (``OrderTruth``) from the same evidence at
the same moment: a kept truth must answer exactly what that one answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from omnigraph.core.errors import UpstreamUnavailable
from omnigraph.core.sources import SourceKind
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.truth import OrderEvidence, OrderTruth, OrderTruths, truths_of
from omnigraph.sources.parsing import parse_kept, parse_record
from omnigraph.sources.records import SalesOrder, Sourced, StorefrontOrder
from tests.conftest import Graph, services_of

AT = datetime(2026, 11, 20, 9, tzinfo=UTC)
ERP = frozenset({SourceKind.ERP})
ALL = frozenset(SourceKind)
RULES = AuthorityRules.load()  # totals: one hour of grace


def storefront_json(total: str = "10.00") -> dict[str, Any]:
    return {
        "id": "SF-7",
        "channel": "web",
        "fulfilmentMethod": "ship",
        "currency": "GBP",
        "status": "open",
        "fulfilmentStatus": "unfulfilled",
        "placedAt": (AT - timedelta(hours=1)).isoformat(),
        "updatedAt": (AT - timedelta(minutes=5)).isoformat(),
        "lines": [{"id": "L1", "sku": "SKU-1", "quantity": 1, "unitPrice": "12.00"}],
        "totals": {"subtotal": total, "total": total},
    }


def sales_order_json(total: str = "12.00") -> dict[str, Any]:
    return {
        "id": "SO-7",
        "orderRef": "SF-7",
        "currency": "GBP",
        "terms": "prepaid",
        "status": "open",
        "financialStatus": "paid",
        "lines": [{"lineNo": 1, "sku": "SKU-1", "quantity": 1, "unitPrice": total}],
        "totals": {"subtotal": total, "total": total},
        "updatedAt": AT.isoformat(),
    }


def evidence(*, erp_total: str = "12.00", **extra: Any) -> OrderEvidence:
    """The order as read now: parsed afresh each time, so never the same objects."""
    return OrderEvidence(
        storefront=Sourced("web-store", StorefrontOrder.model_validate(storefront_json())),
        sales_orders=[Sourced("erp", SalesOrder.model_validate(sales_order_json(erp_total)))],
        **extra,
    )


def truth(kept: OrderTruths, found: OrderEvidence, now: datetime, **kw: Any) -> OrderTruth:
    kinds = kw.get("kinds", ERP)
    return kept.truths(found, kinds, [kinds], kw.get("rules", RULES), now)[kinds]


def test_equal_evidence_takes_the_truth_decided_before() -> None:
    kept = OrderTruths(max_entries=10)
    first = truth(kept, evidence(), AT)
    again = truth(kept, evidence(), AT + timedelta(seconds=1))
    assert again is first
    assert kept.reused == 1
    fresh = OrderTruth(evidence(), RULES, AT + timedelta(seconds=1))
    assert again.total == fresh.total
    assert again.served_facts() == fresh.served_facts()


def test_any_change_to_a_record_decides_afresh_even_when_its_stamp_did_not_move() -> None:
    kept = OrderTruths(max_entries=10)
    first = truth(kept, evidence(erp_total="12.00"), AT)
    assert first.total.served.value == "12.00"
    changed = truth(kept, evidence(erp_total="11.00"), AT)  # same updatedAt, other total
    assert changed is not first
    assert changed.total.served.value == "11.00"
    assert kept.reused == 0


def test_sync_lag_becomes_a_disagreement_when_the_grace_period_ends() -> None:
    """The storefront's older total is lag for an hour after the ERP's; a truth kept from
    within that hour is not taken once it has passed."""
    kept = OrderTruths(max_entries=10)
    early = truth(kept, evidence(), AT + timedelta(minutes=30))
    assert early.total.lagging
    assert not early.disagreements()
    assert truth(kept, evidence(), AT + timedelta(minutes=59)) is early
    late = truth(kept, evidence(), AT + timedelta(hours=1))
    assert late is not early
    reference = OrderTruth(evidence(), RULES, AT + timedelta(hours=1))
    assert [f.field for f in late.disagreements()] == ["totals.total"]
    assert late.disagreements() == reference.disagreements()


def test_a_decision_first_made_on_a_kept_truth_is_made_for_the_time_it_is_asked() -> None:
    kept = OrderTruths(max_entries=10)
    truth(kept, evidence(), AT + timedelta(minutes=30))  # nothing decided yet
    later = truth(kept, evidence(), AT + timedelta(hours=2))
    assert later.total.disputed
    assert later.total == OrderTruth(evidence(), RULES, AT + timedelta(hours=2)).total


def test_a_clock_that_went_back_decides_afresh() -> None:
    kept = OrderTruths(max_entries=10)
    late = truth(kept, evidence(), AT + timedelta(hours=2))
    assert late.total.disputed
    early = truth(kept, evidence(), AT + timedelta(minutes=30))
    assert early is not late
    assert not early.total.disputed


def test_evidence_missing_a_system_is_never_kept() -> None:
    kept = OrderTruths(max_entries=10)
    down = {SourceKind.ERP: UpstreamUnavailable("erp", "HTTP 503")}
    first = truth(kept, evidence(unavailable=down), AT)
    assert truth(kept, evidence(unavailable=dict(down)), AT) is not first
    assert kept.reused == 0
    # decided afresh, the same as without a keep
    reference = OrderTruth(evidence(unavailable=dict(down)), RULES, AT)
    assert first.evidence == evidence(unavailable=down)
    assert first.total == reference.total
    assert first.now == AT


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ({"kinds": ALL}, "other systems asked"),
        ({"rules": AuthorityRules.load()}, "other rules"),
    ],
)
def test_truths_are_kept_per_set_of_systems_and_rules(second: dict[str, Any], why: str) -> None:
    kept = OrderTruths(max_entries=10)
    first = truth(kept, evidence(), AT)
    assert truth(kept, evidence(), AT, **second) is not first, why


def test_several_sets_of_systems_share_one_comparison_and_each_its_truth() -> None:
    kept = OrderTruths(max_entries=10)
    sets = [ERP, frozenset({SourceKind.WMS})]
    made = kept.truths(evidence(), ERP | {SourceKind.WMS}, sets, RULES, AT)
    assert made[ERP].evidence.sales_orders
    assert not made[sets[1]].evidence.sales_orders
    again = kept.truths(evidence(), ERP | {SourceKind.WMS}, sets, RULES, AT)
    assert again[ERP] is made[ERP]
    assert again[sets[1]] is made[sets[1]]


def test_truths_of_decides_each_set_of_systems_from_its_own_evidence() -> None:
    both = ERP | {SourceKind.WMS}
    made = truths_of(evidence(), [ERP, both], RULES, AT + timedelta(hours=2))
    assert made[ERP].evidence == evidence().only(ERP)
    assert made[ERP].rules is RULES
    assert made[ERP].total == OrderTruth(evidence(), RULES, AT + timedelta(hours=2)).total
    assert made[both].evidence == evidence()


def test_a_keep_of_one_order_keeps_it() -> None:
    kept = OrderTruths(max_entries=1)
    first = truth(kept, evidence(), AT)
    assert truth(kept, evidence(), AT) is first
    kept.clear()
    assert truth(kept, evidence(), AT) is not first


@pytest.mark.parametrize("size", [0, 1])
def test_a_full_keep_lets_the_least_recent_order_go(size: int) -> None:
    kept = OrderTruths(max_entries=size)
    first = truth(kept, evidence(), AT)
    other = OrderEvidence(
        storefront=Sourced(
            "web-store", StorefrontOrder.model_validate({**storefront_json(), "id": "SF-8"})
        )
    )
    truth(kept, other, AT)
    assert truth(kept, evidence(), AT) is not first
    assert kept.reused == 0


def test_the_same_json_parses_to_the_same_frozen_record() -> None:
    raw = sales_order_json()
    first = parse_kept("erp", SalesOrder, raw)
    assert parse_kept("erp", SalesOrder, sales_order_json()) is first
    assert first == parse_record("erp", SalesOrder, raw)
    other = parse_kept("erp", SalesOrder, sales_order_json("11.00"))
    assert other is not first
    assert str(other.totals.total) == "11.00"
    # what orjson cannot write (an integer past 64 bits) is parsed each time, as ever
    huge = {**raw, "lines": [{**raw["lines"][0], "quantity": 2**70}]}
    parsed = parse_kept("erp", SalesOrder, huge)
    assert parsed.lines[0].quantity == 2**70
    assert parse_kept("erp", SalesOrder, huge) is not parsed


async def test_a_second_request_serves_the_kept_truths_and_the_same_answer(
    app: Starlette, graph: Graph
) -> None:
    page = """{ orders(first: 20) { edges { node { id state totals { total { amount } }
        provenance { field source recordRef asOf authoritative } disagreements { field } } } } }"""
    first = await graph.query(page)
    assert "errors" not in first
    assert len(first["data"]["orders"]["edges"]) == 20
    kept = services_of(app).get(OrderTruths)
    before = kept.reused
    assert await graph.query(page) == first
    assert kept.reused - before >= 20
