"""Three-way matching and the payout equation, as tables over hand-made records."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from omnigraph.exceptions.catalogue import ExceptionCatalogue, ExceptionKind
from omnigraph.payouts.categories import ReportingCategory
from omnigraph.payouts.matching import Counterparts, MatchStatus, match_transactions
from omnigraph.payouts.payout_equation import (
    ReconciliationStatus,
    balance_payout,
    category_totals,
)
from omnigraph.payouts.reconciler import amount_mismatches
from omnigraph.sources.records import (
    BalanceTransaction,
    Charge,
    ChargeRefund,
    FulfilmentOrder,
    Payout,
    SalesOrder,
    StorefrontOrder,
)

T0 = 1_763_600_000
ISO = "2026-11-10T10:00:00+00:00"


def txn(tid: str, kind: str, amount: int, source: str | None, fee: int = 0) -> BalanceTransaction:
    return BalanceTransaction(
        id=tid,
        amount=amount,
        fee=fee,
        net=amount - fee,
        currency="gbp",
        type=kind,
        reporting_category=kind,
        source=source,
        payout="po_1",
        created=T0,
    )


def charge(cid: str, order_ref: str, amount: int, currency: str = "gbp") -> Charge:
    return Charge(
        id=cid,
        amount=amount,
        amount_captured=amount,
        currency=currency,
        captured=True,
        status="succeeded",
        created=T0,
        metadata={"order_ref": order_ref},
    )


def order(ref: str, *money: dict[str, Any]) -> StorefrontOrder:
    return StorefrontOrder.model_validate(
        {
            "id": ref,
            "channel": "web",
            "fulfilmentMethod": "ship",
            "currency": "GBP",
            "status": "open",
            "fulfilmentStatus": "fulfilled",
            "placedAt": ISO,
            "updatedAt": ISO,
            "lines": [{"id": f"{ref}-1", "sku": "SKU-1", "quantity": 1, "unitPrice": "20.00"}],
            "totals": {"subtotal": "20.00", "total": "20.00"},
            "transactions": [
                {"currency": "GBP", "processedAt": ISO, "returnId": None, **entry}
                for entry in money
            ],
        }
    )


def sales_order(ref: str, *memos: dict[str, Any]) -> SalesOrder:
    return SalesOrder.model_validate(
        {
            "id": f"SO-{ref}",
            "orderRef": ref,
            "currency": "GBP",
            "terms": "prepaid",
            "status": "open",
            "financialStatus": "paid",
            "lines": [],
            "totals": {"subtotal": "20.00", "total": "20.00"},
            "creditMemos": [{"issuedAt": ISO, **memo} for memo in memos],
            "updatedAt": ISO,
        }
    )


def fulfilment(ref: str, *rmas: str) -> FulfilmentOrder:
    return FulfilmentOrder.model_validate(
        {
            "id": f"FO-{ref}",
            "orderRef": ref,
            "locationId": "dc-north",
            "status": "returned",
            "lines": [{"sku": "SKU-1", "quantity": 1}],
            "updatedAt": ISO,
            "returnReceipts": [
                {"id": f"RR-{rma}", "rmaRef": rma, "receivedAt": ISO, "lines": []} for rma in rmas
            ],
        }
    )


CAPTURE = {"id": "TX-1", "kind": "capture", "amount": "20.00", "gatewayRef": "ch_1"}
REFUND_FOR_RETURN = {
    "id": "TX-2",
    "kind": "refund",
    "amount": "20.00",
    "gatewayRef": "re_1",
    "returnId": "RMA-1",
}
MEMO_FOR_RETURN = {"id": "CM-1", "amount": "20.00", "reason": "return", "returnRef": "RMA-1"}


def world(**overrides: Any) -> Counterparts:
    values: dict[str, Any] = {
        "charges": {"ch_1": charge("ch_1", "SF-1", 2000)},
        "refund_charges": {"re_1": "ch_1"},
        "dispute_charges": {"dp_1": "ch_1"},
        "orders": {"SF-1": order("SF-1", CAPTURE, REFUND_FOR_RETURN)},
        "sales_orders": {"SF-1": [sales_order("SF-1", MEMO_FOR_RETURN)]},
        "fulfilments": {"SF-1": [fulfilment("SF-1", "RMA-1")]},
    }
    return Counterparts(**(values | overrides))


def charged(
    cid: str, amount: int, order_ref: str = "SF-1", currency: str = "gbp"
) -> tuple[BalanceTransaction, Counterparts]:
    """A charge of ``amount`` paid out, and the world with the provider's record of it."""
    found = world(charges={cid: charge(cid, order_ref, amount, currency)})
    return txn("t1", "charge", amount, cid, 50), found


# the refund re_1 of order SF-1's 20.00 capture, paid out
REFUNDED = txn("t2", "refund", -2000, "re_1")

CASES = {
    "charge matches its capture": (txn("t1", "charge", 2000, "ch_1", 50), world(), "MATCHED"),
    "charge for an order the storefront lacks": (*charged("ch_9", 2000, "SF-404"), "UNMATCHED"),
    "second charge for an order captured once": (*charged("ch_2", 2000), "DUPLICATE"),
    "charge in another currency": (*charged("ch_1", 2300, currency="eur"), "CURRENCY_MISMATCH"),
    "charge amount differs from the capture": (*charged("ch_1", 2150), "AMOUNT_MISMATCH"),
    "refund for a received return with a credit memo": (REFUNDED, world(), "MATCHED"),
    "refund for a return the warehouse never received": (
        REFUNDED,
        world(fulfilments={"SF-1": [fulfilment("SF-1")]}),
        "REFUND_WITHOUT_RETURN",
    ),
    "refund with no credit memo": (
        REFUNDED,
        world(sales_orders={"SF-1": [sales_order("SF-1")]}),
        "MISSING_CREDIT_MEMO",
    ),
    "refund the storefront never recorded": (
        REFUNDED,
        world(orders={"SF-1": order("SF-1", CAPTURE)}),
        "UNMATCHED",
    ),
    "cancellation refund matched to its memo by amount": (
        REFUNDED,
        world(
            orders={"SF-1": order("SF-1", CAPTURE, {**REFUND_FOR_RETURN, "returnId": None})},
            sales_orders={
                "SF-1": [sales_order("SF-1", {"id": "CM-2", "amount": "20.00", "reason": "x"})]
            },
        ),
        "MATCHED",
    ),
    "dispute on a known charge": (txn("t3", "dispute", -2000, "dp_1", 1500), world(), "MATCHED"),
    "provider fee": (txn("t4", "stripe_fee", -500, None), world(), "MATCHED"),
}


@pytest.mark.parametrize("case", CASES)
def test_each_transaction_gets_a_verdict(case: str) -> None:
    transaction, found, expected = CASES[case]
    (line,) = match_transactions([transaction], found)
    assert line.status == MatchStatus(expected), line.reason
    assert line.reason


@pytest.mark.parametrize(
    ("currency", "captured", "charged", "expected"),
    [
        ("JPY", "3448", 3448, "MATCHED"),  # no minor unit: 3448 yen is 3448, not 344800
        ("JPY", "3448", 3449, "AMOUNT_MISMATCH"),
        ("KWD", "12.345", 12345, "MATCHED"),  # three places
        ("KWD", "12.345", 12340, "AMOUNT_MISMATCH"),
        ("GBP", "20.00", 2000, "MATCHED"),
    ],
)
def test_a_charge_matches_its_capture_in_the_currency_minor_unit(
    currency: str, captured: str, charged: int, expected: str
) -> None:
    capture = {**CAPTURE, "amount": captured, "currency": currency}
    storefront = order("SF-1", capture).model_copy(update={"currency": currency})
    found = world(
        charges={"ch_1": charge("ch_1", "SF-1", charged, currency=currency.lower())},
        orders={"SF-1": storefront},
    )
    (line,) = match_transactions([txn("t1", "charge", charged, "ch_1")], found)
    assert line.status == MatchStatus(expected), line.reason


@pytest.mark.parametrize(("captured", "expected"), [(2000, "MATCHED"), (2100, "AMOUNT_MISMATCH")])
def test_a_partial_capture_is_matched_on_what_it_captured(captured: int, expected: str) -> None:
    """25.00 authorized, 20.00 captured (the storefront's capture): the charge took 20.00."""
    partial = charge("ch_1", "SF-1", 2500).model_copy(update={"amount_captured": captured})
    (line,) = match_transactions(
        [txn("t1", "charge", captured, "ch_1")], world(charges={"ch_1": partial})
    )
    assert line.status == MatchStatus(expected), line.reason
    if expected == "AMOUNT_MISMATCH":
        assert line.difference_minor == 100


@pytest.mark.parametrize(
    ("recorded", "expected"), [("1000.00", "MATCHED"), ("900.00", "AMOUNT_MISMATCH")]
)
def test_a_refund_is_matched_in_its_charges_currency_whatever_it_settled_in(
    recorded: str, expected: str
) -> None:
    """A yen charge settled in pounds: its 1000 yen refund moved 5.20 GBP off the balance."""
    yen = charge("ch_1", "SF-1", 20000, currency="jpy")
    capture = {**CAPTURE, "amount": "20000.00", "currency": "JPY"}
    refund = {**REFUND_FOR_RETURN, "amount": recorded, "currency": "JPY"}
    storefront = order("SF-1", capture, refund).model_copy(update={"currency": "JPY"})
    settled = txn("t2", "refund", -520, "re_1").model_copy(update={"exchange_rate": 0.0052})
    found = world(charges={"ch_1": yen}, orders={"SF-1": storefront}, refund_amounts={"re_1": 1000})
    (line,) = match_transactions([settled], found)
    assert line.status == MatchStatus(expected), line.reason
    if expected == "AMOUNT_MISMATCH":
        assert line.difference_minor == 100
        assert "returned 1000;" in line.reason


def test_the_payout_transaction_itself_is_left_to_the_equation() -> None:
    lines = match_transactions([txn("t9", "payout", -1950, "po_1")], world())
    assert lines == []


def payout(amount: int, status: str = "paid") -> Payout:
    return Payout(id="po_1", amount=amount, currency="gbp", created=T0, status=status)


# 20.00 charge (fee 0.50), 5.00 refund, 3.33 provider fee, 0.01 adjustment, and a lost dispute of
# 10.00 with its 15.00 fee: 20.00 - 5.00 - (0.50 + 3.33 + 15.00) - 10.00 + 0.01 = -13.82
SETTLED = [
    txn("a", "charge", 2000, "ch_1", 50),
    txn("b", "refund", -500, "re_1"),
    txn("c", "stripe_fee", -333, None),
    txn("d", "adjustment", 1, None),
    txn("e", "dispute", -1000, "dp_1", 1500),
    txn("f", "payout", 1382, "po_1"),
]


def test_the_equation_holds_to_the_cent() -> None:
    balance = balance_payout(payout(-1382), SETTLED)
    assert balance.status is ReconciliationStatus.RECONCILED
    assert (balance.gross_minor, balance.refunds_minor, balance.fees_minor) == (2000, 500, 1883)
    assert (balance.disputes_minor, balance.adjustments_minor) == (-1000, 1)
    assert balance.expected_minor == -1382
    assert balance.variance_minor == 0
    assert balance.transaction_count == 5


def test_one_cent_off_is_a_variance() -> None:
    balance = balance_payout(payout(-1381), SETTLED)
    assert balance.status is ReconciliationStatus.VARIANCE
    assert Decimal(balance.variance_minor).scaleb(-2) == Decimal("0.01")


def test_sums_that_agree_over_an_unmatched_line_are_not_reconciled() -> None:
    lines = match_transactions(
        [txn("a", "charge", 2000, "ch_2", 50)],
        world(charges={"ch_2": charge("ch_2", "SF-1", 2000)}),
    )
    balance = balance_payout(payout(1950), [txn("a", "charge", 2000, "ch_2", 50)], lines)
    assert balance.status is ReconciliationStatus.UNRECONCILED
    assert balance.unmatched_count == 1


def test_a_payout_not_yet_paid_is_not_reconciled() -> None:
    balance = balance_payout(payout(1950, "in_transit"), [txn("a", "charge", 2000, "ch_1", 50)])
    assert balance.status is ReconciliationStatus.UNRECONCILED


@pytest.mark.parametrize(
    ("captured", "charged", "offered"),
    [
        ("20.00", 2150, {"REFUND_EXCESS", "RESYNC_RECORD"}),  # took 1.50 more: give it back
        ("20.00", 1900, {"RESYNC_RECORD"}),  # took less: nothing to refund
    ],
)
def test_money_that_moved_wrongly_is_an_owned_exception(
    captured: str, charged: int, offered: set[str]
) -> None:
    found = world(
        charges={"ch_1": charge("ch_1", "SF-1", charged)},
        orders={"SF-1": order("SF-1", {**CAPTURE, "amount": captured})},
    )
    lines = match_transactions([txn("t1", "charge", charged, "ch_1")], found)
    (report,) = amount_mismatches(
        "psp", lines, datetime(2026, 12, 1, tzinfo=UTC), order_source="web-store"
    )
    assert report.kind is ExceptionKind.AMOUNT_MISMATCH
    assert (report.order_ref, report.owner_source) == ("SF-1", "psp")
    assert report.details["currency"] == "GBP"  # the charge's, which the difference is in
    rule = ExceptionCatalogue.load().rule(report.kind)
    assert rule.owner.value == "payments"
    assert set(rule.applicable(report.details)) == offered
    if "REFUND_EXCESS" in offered:
        assert rule.resolutions["REFUND_EXCESS"].render(report.details) == {
            "charge": "ch_1",
            "amount": "150",
        }


# the ids a refund's line names, and those of the return it is for once the warehouse has it
REFUND = {"chargeId": "ch_1", "refundId": "re_1", "salesOrderId": "SO-SF-1", "amount": "20.00"}
RECEIVED_RETURN = {**REFUND, "returnId": "RMA-1", "receiptId": "RR-RMA-1"}

# What an agent reads on each case's line (the reconciliation CSV, the payout's lines): the
# reason, the order, the counterpart record, the difference and the ids behind it.
LINES: dict[str, tuple[str, str | None, str | None, int | None, dict[str, str]]] = {
    "charge matches its capture": (
        "capture TX-1 of order SF-1",
        "SF-1",
        "TX-1",
        None,
        {"chargeId": "ch_1"},
    ),
    "charge for an order the storefront lacks": (
        "charge ch_9 names order SF-404, which the storefront does not have",
        "SF-404",
        None,
        None,
        {"chargeId": "ch_9"},
    ),
    "second charge for an order captured once": (
        "order SF-1 was captured once, by ch_1; charge ch_2 charged it again",
        "SF-1",
        "ch_1",
        2000,
        {"chargeId": "ch_2"},
    ),
    "charge in another currency": (
        "charge ch_1 is in EUR; order SF-1 captured 20.00 GBP",
        "SF-1",
        "TX-1",
        None,
        {"chargeId": "ch_1"},
    ),
    "charge amount differs from the capture": (
        "charge ch_1 took 21.50; order SF-1 captured 20.00",
        "SF-1",
        "TX-1",
        150,
        {"chargeId": "ch_1", "currency": "GBP"},
    ),
    "refund for a received return with a credit memo": (
        "refund TX-2 of order SF-1, credit memo CM-1",
        "SF-1",
        "TX-2",
        None,
        {**RECEIVED_RETURN, "creditMemoId": "CM-1"},
    ),
    "refund for a return the warehouse never received": (
        "refund re_1 is for return RMA-1 of order SF-1, which the warehouse never received",
        "SF-1",
        "TX-2",
        None,
        {**REFUND, "returnId": "RMA-1"},
    ),
    "refund with no credit memo": (
        "refund re_1 of order SF-1 has no ERP credit memo",
        "SF-1",
        "TX-2",
        None,
        RECEIVED_RETURN,
    ),
    "refund the storefront never recorded": (
        "order SF-1 records no refund re_1",
        "SF-1",
        None,
        None,
        {"chargeId": "ch_1", "refundId": "re_1"},
    ),
    "cancellation refund matched to its memo by amount": (
        "refund TX-2 of order SF-1, credit memo CM-2",
        "SF-1",
        "TX-2",
        None,
        {**REFUND, "creditMemoId": "CM-2"},
    ),
    "dispute on a known charge": (
        "dispute dp_1 on charge ch_1",
        "SF-1",
        "ch_1",
        None,
        {"chargeId": "ch_1", "disputeId": "dp_1"},
    ),
    "provider fee": ("provider account activity", None, None, None, {}),
}


@pytest.mark.parametrize("case", CASES)
def test_each_line_says_why_and_names_what_it_was_matched_against(case: str) -> None:
    transaction, found, _ = CASES[case]
    (line,) = match_transactions([transaction], found)
    reason, order_ref, counterpart, difference, details = LINES[case]
    assert (line.reason, line.order_ref, line.counterpart) == (reason, order_ref, counterpart)
    assert (line.difference_minor, line.details) == (difference, details)
    assert (line.key, line.txn_id, line.payout_id, line.type) == (
        f"txn:{transaction.id}",
        transaction.id,
        "po_1",
        transaction.type,
    )
    assert (line.currency, line.amount_minor, line.fee_minor, line.net_minor) == (
        "GBP",
        transaction.amount,
        transaction.fee,
        transaction.amount - transaction.fee,
    )
    assert line.matched is (line.status is MatchStatus.MATCHED)


MORE = {
    "a charge the provider does not know": (
        txn("t1", "charge", 2000, "ch_x"),
        world(),
        ("UNMATCHED", "the provider has no charge ch_x", None, None),
    ),
    "an order that records no capture at all": (
        txn("t1", "charge", 2000, "ch_1"),
        world(orders={"SF-1": order("SF-1")}),
        ("UNMATCHED", "order SF-1 records no capture for charge ch_1", "SF-1", None),
    ),
    "a refund of no known charge": (
        txn("t2", "refund", -2000, "re_x"),
        world(),
        ("UNMATCHED", "no charge is known for refund re_x", None, None),
    ),
    "a refund for an order the storefront lacks": (
        REFUNDED,
        world(charges={"ch_1": charge("ch_1", "SF-404", 2000)}),
        (
            "UNMATCHED",
            "refund re_1 is for order SF-404, which the storefront does not have",
            "SF-404",
            None,
        ),
    ),
    "a refund of another amount than recorded": (
        txn("t2", "refund", -1500, "re_1"),
        world(),
        ("AMOUNT_MISMATCH", "refund re_1 returned 15.00; order SF-1 recorded 20.00", "SF-1", -500),
    ),
    "a cancellation refund whose memo is for another amount": (
        REFUNDED,
        world(
            orders={"SF-1": order("SF-1", CAPTURE, {**REFUND_FOR_RETURN, "returnId": None})},
            sales_orders={"SF-1": [sales_order("SF-1", {"id": "CM-3", "amount": "19.00"})]},
        ),
        ("MISSING_CREDIT_MEMO", "refund re_1 of order SF-1 has no ERP credit memo", "SF-1", None),
    ),
    "a memo for another return": (
        REFUNDED,
        world(
            sales_orders={"SF-1": [sales_order("SF-1", {**MEMO_FOR_RETURN, "returnRef": "RMA-9"})]}
        ),
        ("MISSING_CREDIT_MEMO", "refund re_1 of order SF-1 has no ERP credit memo", "SF-1", None),
    ),
    "a dispute of no known charge": (
        txn("t3", "dispute", -2000, "dp_x"),
        world(),
        ("UNMATCHED", "no charge is known for dispute dp_x", None, None),
    ),
}


@pytest.mark.parametrize("case", MORE)
def test_what_cannot_be_matched_says_what_is_missing(case: str) -> None:
    transaction, found, (status, reason, order_ref, difference) = MORE[case]
    (line,) = match_transactions([transaction], found)
    assert (line.status, line.reason) == (MatchStatus(status), reason)
    assert (line.order_ref, line.difference_minor) == (order_ref, difference)


def test_every_transaction_but_the_payouts_own_gets_a_line_in_order() -> None:
    lines = match_transactions(SETTLED, world())
    assert [line.txn_id for line in lines] == ["a", "b", "c", "d", "e"]
    assert [line.category.value for line in lines] == [
        "sales",
        "refunds",
        "fees",
        "adjustments",
        "disputes",
    ]


def test_a_refund_with_no_sales_order_or_fulfilment_on_file_is_still_judged() -> None:
    """The ERP and the WMS have nothing for the order yet: the return is not received."""
    (line,) = match_transactions(
        [txn("t2", "refund", -2000, "re_1")], world(sales_orders={}, fulfilments={})
    )
    assert line.status is MatchStatus.REFUND_WITHOUT_RETURN
    assert line.details == {
        "chargeId": "ch_1",
        "refundId": "re_1",
        "amount": "20.00",
        "returnId": "RMA-1",
    }
    cancelled = world(
        orders={"SF-1": order("SF-1", CAPTURE, {**REFUND_FOR_RETURN, "returnId": None})},
        sales_orders={},
        fulfilments={},
    )
    (line,) = match_transactions([txn("t2", "refund", -2000, "re_1")], cancelled)
    assert (line.status, line.counterpart) == (MatchStatus.MISSING_CREDIT_MEMO, "TX-2")
    assert "salesOrderId" not in line.details


def test_a_refund_is_read_from_its_charges_refunds_by_id() -> None:
    """The charge lists two refunds; this one returned 20.00, the other 5.00."""
    refunded = charge("ch_1", "SF-1", 2000).model_copy(
        update={
            "refunds": [
                ChargeRefund(id="re_0", amount=500, created=T0, status="succeeded"),
                ChargeRefund(id="re_1", amount=2000, created=T0, status="succeeded"),
            ]
        }
    )
    settled = txn("t2", "refund", -1000, "re_1")  # settled in another currency: not the amount
    (line,) = match_transactions([settled], world(charges={"ch_1": refunded}))
    assert line.status is MatchStatus.MATCHED, line.reason


def test_lines_that_cannot_be_matched_keep_the_ids_behind_them() -> None:
    lost = world(charges={"ch_9": charge("ch_9", "SF-404", 2000)})
    (line,) = match_transactions([txn("t1", "charge", 2000, "ch_9")], lost)
    assert line.details == {"chargeId": "ch_9"}
    (line,) = match_transactions(
        [txn("t1", "charge", 2000, "ch_1")], world(orders={"SF-1": order("SF-1")})
    )
    assert (line.details, line.counterpart) == ({"chargeId": "ch_1"}, None)
    lost = world(charges={"ch_1": charge("ch_1", "SF-404", 2000)})
    (line,) = match_transactions([txn("t2", "refund", -2000, "re_1")], lost)
    assert line.details == {"chargeId": "ch_1", "refundId": "re_1"}
    (line,) = match_transactions([txn("t2", "refund", -1500, "re_1")], world())
    assert (line.counterpart, line.details) == ("TX-2", {"chargeId": "ch_1", "refundId": "re_1"})


def test_a_dispute_line_names_its_kind_in_words() -> None:
    settled = txn("t3", "dispute_reversal", 2000, "dp_1")
    (line,) = match_transactions([settled], world())
    assert line.reason == "dispute reversal dp_1 on charge ch_1"


def test_the_payout_transaction_among_others_is_skipped_not_the_rest() -> None:
    lines = match_transactions([SETTLED[-1], *SETTLED[:-1]], world())
    assert [line.txn_id for line in lines] == ["a", "b", "c", "d", "e"]


def test_category_totals_add_every_transaction_and_count_fees_apart() -> None:
    totals = category_totals(
        [
            txn("a", "charge", 2000, "ch_1", 50),
            txn("b", "charge", 1000, "ch_2", 30),
            txn("c", "refund", -500, "re_1", 0),
            txn("d", "stripe_fee", -333, None, 0),
            txn("e", "stripe_fee", -100, None, 7),  # a fee with a fee of its own
        ]
    )
    assert totals[ReportingCategory.SALES] == 3000
    assert totals[ReportingCategory.REFUNDS] == -500
    assert totals[ReportingCategory.FEES] == 50 + 30 + 333 + 100 + 7


def test_a_charge_charging_an_order_captured_twice_names_both_captures() -> None:
    twice = order("SF-1", CAPTURE, {**CAPTURE, "id": "TX-3", "gatewayRef": "ch_3"})
    found = world(charges={"ch_2": charge("ch_2", "SF-1", 2000)}, orders={"SF-1": twice})
    (line,) = match_transactions([txn("t1", "charge", 2000, "ch_2")], found)
    assert (line.status, line.reason) == (
        MatchStatus.DUPLICATE,
        "order SF-1 was captured once, by ch_1, ch_3; charge ch_2 charged it again",
    )


def test_a_charge_the_provider_reports_uncaptured_is_judged_on_its_amount() -> None:
    """A record that says it was not captured carries no captured amount (0): the charge's
    amount is what it took, so 20.00 against the storefront's 20.00 capture matches."""
    uncaptured = charge("ch_1", "SF-1", 2000).model_copy(
        update={"captured": False, "amount_captured": 0}
    )
    (line,) = match_transactions(
        [txn("t1", "charge", 2000, "ch_1")], world(charges={"ch_1": uncaptured})
    )
    assert line.status == MatchStatus.MATCHED, line.reason
