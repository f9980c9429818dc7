"""Ground truth for payout reconciliation: the money mismatches planted on purpose, and disputes.

Every charge and refund the demo processor makes has its counterparts in the other systems (see
lifecycle.py); here a few trails break on purpose, `planted_count` of each of `MONEY_KINDS`,
drawn from a random stream of their own so every record they do not touch stays as it was.
`plan_money` picks the orders before the story is told, so that a charge which differs from
the storefront's capture is made that way; `plant_money` writes the rest once every order is
told, so their ids come after the story's own, and opens a few disputes. A dispute is not a
mismatch: it matches the charge it disputes.

Each planted order is a distinct card-paid retail order that nothing else was planted on, and
each plant breaks one trail only: a refund with no return still has its storefront refund and
credit memo, and the storefront and the ERP agree on every order's financial status.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from omnigraph.demo.drafts import ChargeFault
from omnigraph.demo.lifecycle import Planted

if TYPE_CHECKING:
    from omnigraph.demo.drafts import DraftOrder
    from omnigraph.demo.ledger import Ledger
    from omnigraph.demo.lifecycle import OrderBook

__all__ = ["MONEY_KINDS", "MoneyPlan", "dispute_count", "plan_money", "plant_money"]

MONEY_KINDS = (
    "charge_without_order",
    "capture_amount_mismatch",
    "currency_mismatch",
    "duplicate_charge",
    "refund_without_return",
    "return_without_refund",
    "refund_without_credit_memo",
)
_RETURN_KINDS = ("refund_without_return", "return_without_refund", "refund_without_credit_memo")
_CHARGE_KINDS = ("capture_amount_mismatch", "currency_mismatch", "duplicate_charge")
_RETAIL = frozenset({"web", "marketplace", "store-pickup"})
_SETTLED_STAGES = frozenset({"cancelled", "partially_returned", "returned"})
_HANDED_OVER = frozenset({"delivered", "picked_up"})  # a store collection can come back too
_DAY = timedelta(days=1)
_STEP = timedelta(seconds=30)  # between one system's part in a refund and the next one's
# How long before the anchor an order's story must have got far enough for its plant to be
# told in full, with a day or more over for the payout that sweeps it: a return plant needs
# the goods handed over, a dispute its charge (it comes days later and takes days to close).
_RETURNABLE = 8 * _DAY
_DISPUTABLE = 6 * _DAY
_CAPTURE_DIFFERENCES = (-300, -45, -5, 3, 60, 250)  # pence: a few pence to a few pounds


def dispute_count(orders: int) -> int:
    """Disputed charges: about one per hundred orders, and at least one won and one lost
    (where even the smallest world has two charges old enough to be fought out)."""
    return max(2, orders // 100)


@dataclass
class MoneyPlan:
    """Which orders (by their place in the story) carry which plant, and which are disputed."""

    rng: random.Random
    anchor: datetime
    count: int
    targets: dict[str, list[int]]
    disputed: list[int]


def plan_money(
    rng: random.Random,
    story: Sequence[DraftOrder],
    anchor: datetime,
    count: int,
    disputes: int,
) -> MoneyPlan:
    """Pick up to `count` orders per money kind and `disputes` disputed ones, all distinct.

    `story` is the drafts in the order they will be told. Return plants go on delivered
    orders first, then disputes on charges old enough to be fought out before `anchor`, then
    the charge plants on any of the rest; the capture and currency mismatches are marked on
    their drafts for the charge to be made that way.
    """
    taken: set[int] = set()

    def pick(fits: Callable[[DraftOrder], bool], wanted: int) -> list[int]:
        pool = [
            index
            for index, draft in enumerate(story)
            if index not in taken and _plantable(draft) and fits(draft)
        ]
        chosen = sorted(rng.sample(pool, min(wanted, len(pool))))
        taken.update(chosen)
        return chosen

    targets = {
        kind: pick(
            lambda draft: (
                draft.plan.stage in _HANDED_OVER and _handed_over(draft) <= anchor - _RETURNABLE
            ),
            count,
        )
        for kind in _RETURN_KINDS
    }
    disputed = pick(lambda draft: draft.at("charge") <= anchor - _DISPUTABLE, disputes)
    for kind in _CHARGE_KINDS:
        # Any charge will do: each is made before the anchor, so a payout sweeps it.
        targets[kind] = pick(lambda draft: True, count)
    for index in targets["capture_amount_mismatch"]:
        difference = rng.choice(_CAPTURE_DIFFERENCES)
        story[index].charge_fault = ChargeFault("capture_amount_mismatch", difference=difference)
    for index in targets["currency_mismatch"]:
        rate = round(rng.uniform(0.84, 0.88), 6)
        story[index].charge_fault = ChargeFault("currency_mismatch", exchange_rate=rate)
    return MoneyPlan(rng=rng, anchor=anchor, count=count, targets=targets, disputed=disputed)


def _handed_over(draft: DraftOrder) -> datetime:
    """When the customer got the goods: delivered, or collected in store."""
    return draft.at("delivered" if draft.reached("delivered") else "collected")


def _plantable(draft: DraftOrder) -> bool:
    """A card-paid retail order with nothing else planted on it and no money gone back yet."""
    return (
        draft.plan.channel in _RETAIL
        and draft.plan.planted is None
        and draft.plan.stage not in _SETTLED_STAGES
        and draft.incident is None
        and draft.charge_fault is None
    )


def plant_money(
    plan: MoneyPlan, book: OrderBook, ledger: Ledger, story: Sequence[DraftOrder]
) -> list[Planted]:
    """Write the planted mismatches `plan_money` left for after the story, and the disputes.

    Call once every draft of `story` is recorded and before the ledger settles, so everything
    written here is swept by payouts like any other money.
    """
    writer = _Writer(plan.rng, plan.anchor, book, ledger, story)
    planted = [writer.charge_without_order() for _ in range(plan.count)]
    planted += [writer.duplicate_charge(i) for i in plan.targets["duplicate_charge"]]
    planted += [writer.refund_without_return(i) for i in plan.targets["refund_without_return"]]
    planted += [writer.return_without_refund(i) for i in plan.targets["return_without_refund"]]
    planted += [
        writer.refund_without_credit_memo(i) for i in plan.targets["refund_without_credit_memo"]
    ]
    for position, index in enumerate(plan.disputed):
        writer.dispute(index, won=position % 2 == 1)
    return planted


@dataclass
class _Writer:
    """Writes each plant into every system it touches, with the feed events they would send."""

    rng: random.Random
    anchor: datetime
    book: OrderBook
    ledger: Ledger
    story: Sequence[DraftOrder]
    orphans: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.sales_orders = {s["orderRef"]: s for s in self.book.erp_sales_orders}
        self.fulfilments = {f["orderRef"]: f for f in self.book.wms_fulfilment_orders}
        self.charges = {c["id"]: c for c in self.ledger.charges}

    def _between(self, start: datetime, end: datetime) -> datetime:
        return start + timedelta(seconds=self.rng.randint(0, int((end - start).total_seconds())))

    def _charge_of(self, order: dict[str, Any]) -> dict[str, Any]:
        capture = next(t for t in order["transactions"] if t["kind"] == "capture")
        return self.charges[capture["gatewayRef"]]

    # -- charges ------------------------------------------------------------------------------

    def charge_without_order(self) -> Planted:
        """A charge for a checkout whose order the storefront never wrote."""
        self.orphans += 1
        order_ref = f"SF-{100000 + len(self.book.storefront_orders) + self.orphans}"
        moment = self._between(self.anchor - 40 * _DAY, self.anchor - 3 * _DAY)
        charge = self.ledger.charge(order_ref, self.rng.randint(1500, 18000), moment)
        return Planted(
            kind="charge_without_order",
            order_ref=order_ref,
            record_ref=charge["balance_transaction"],
            field="source",
            detail=(
                f"processor charge {charge['id']} ({charge['balance_transaction']}) took "
                f"{charge['amount']} for order {order_ref}, which the storefront never wrote"
            ),
        )

    def duplicate_charge(self, index: int) -> Planted:
        """The card is charged a second time moments after the first (a double submit)."""
        order = self.book.storefront_orders[index]
        first = self._charge_of(order)
        moment = datetime.fromtimestamp(first["created"], self.anchor.tzinfo) + timedelta(
            seconds=self.rng.randint(20, 900)
        )
        again = self.ledger.charge(order["id"], first["amount"], moment)
        return Planted(
            kind="duplicate_charge",
            order_ref=order["id"],
            record_ref=again["balance_transaction"],
            field="source",
            detail=(
                f"processor charged order {order['id']} twice: {first['id']} and, "
                f"{moment - datetime.fromtimestamp(first['created'], self.anchor.tzinfo)} later, "
                f"{again['id']} ({again['balance_transaction']}); the storefront captured once"
            ),
        )

    # -- returns ------------------------------------------------------------------------------

    def refund_without_return(self, index: int) -> Planted:
        """Refunded on the customer's word; the goods never came back."""
        order, sales_order, fulfilment, draft = self._order(index)
        handed_over = _handed_over(draft)
        opened = self._between(handed_over + _DAY, handed_over + 4 * _DAY)
        refunded_at = opened + timedelta(seconds=self.rng.randint(3600, 8 * 3600))
        lines = range(len(fulfilment["lines"]))
        rma = self.book.open_return(order, fulfilment, lines, opened, "requested")
        self.book.credit_memo(sales_order, draft.total, "return", refunded_at, rma["id"])
        sales_order["financialStatus"] = "refunded"
        self.book.erp_changed(sales_order, refunded_at, "credit_memo.issued")
        refund, txn = self._refund_in_full(order, draft, rma, refunded_at)
        return Planted(
            kind="refund_without_return",
            order_ref=order["id"],
            record_ref=txn,
            field="source",
            detail=(
                f"refund {refund['id']} ({txn}) paid back order {order['id']} for return "
                f"{rma['id']}, which {fulfilment['id']} never received"
            ),
        )

    def return_without_refund(self, index: int) -> Planted:
        """The warehouse took the goods back; nobody refunded the customer."""
        order, _, fulfilment, draft = self._order(index)
        rma, receipt, received = self._received_in_full(order, fulfilment, draft)
        heard = received + timedelta(seconds=draft.sync_lag)
        self.book.storefront_changed(order, heard, "order.updated")
        return Planted(
            kind="return_without_refund",
            order_ref=order["id"],
            record_ref=rma["id"],
            field="status",
            detail=(
                f"{fulfilment['id']} received return {rma['id']} of order {order['id']} "
                f"({receipt['id']}, {receipt['receivedAt']}); no refund or credit memo followed"
            ),
        )

    def refund_without_credit_memo(self, index: int) -> Planted:
        """A return received and refunded, but the ERP never raised its credit memo."""
        order, sales_order, fulfilment, draft = self._order(index)
        rma, _, received = self._received_in_full(order, fulfilment, draft)
        refunded_at = received + timedelta(seconds=draft.sync_lag)
        refund, txn = self._refund_in_full(order, draft, rma, refunded_at)
        # The ERP hears the order was refunded, as it hears every payment status...
        sales_order["financialStatus"] = "refunded"
        self.book.erp_changed(sales_order, refunded_at + 3 * _STEP, "sales_order.updated")
        return Planted(
            kind="refund_without_credit_memo",
            order_ref=order["id"],
            record_ref=txn,
            field="source",
            detail=(
                f"refund {refund['id']} ({txn}) for return {rma['id']} of order {order['id']} "
                f"has no credit memo on {sales_order['id']}"
            ),
        )

    def _order(
        self, index: int
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], DraftOrder]:
        order = self.book.storefront_orders[index]
        return (
            order,
            self.sales_orders[order["id"]],
            self.fulfilments[order["id"]],
            self.story[index],
        )

    def _received_in_full(
        self, order: dict[str, Any], fulfilment: dict[str, Any], draft: DraftOrder
    ) -> tuple[dict[str, Any], dict[str, Any], datetime]:
        """Every line comes back: the storefront's return, opened two days before the warehouse
        receives it (three to five days after the customer got the goods), its return receipt,
        and when it was received."""
        handed_over = _handed_over(draft)
        received = self._between(handed_over + 3 * _DAY, handed_over + 5 * _DAY)
        lines = range(len(fulfilment["lines"]))
        rma = self.book.open_return(order, fulfilment, lines, received - 2 * _DAY, "received")
        receipt = self.book.receive_return(fulfilment, rma["id"], lines, received)
        return rma, receipt, received

    def _refund_in_full(
        self,
        order: dict[str, Any],
        draft: DraftOrder,
        rma: dict[str, Any],
        refunded_at: datetime,
    ) -> tuple[dict[str, Any], str]:
        """The processor refunds the whole order for return `rma` a step after `refunded_at`,
        and the storefront records it a step later: the refund and its balance transaction."""
        refund = self.book.refund(
            order, self._charge_of(order), draft.total, refunded_at + _STEP, rma["id"]
        )
        order["financialStatus"] = "refunded"
        self.book.storefront_changed(order, refunded_at + 2 * _STEP, "order.updated")
        txn = next(t["id"] for t in self.ledger.transactions if t["source"] == refund["id"])
        return refund, str(txn)

    # -- disputes -----------------------------------------------------------------------------

    def dispute(self, index: int, *, won: bool) -> None:
        """The cardholder disputes the order's charge days later; it is won or lost before
        the anchor (a day ahead of it, so the payout sweeping it is created)."""
        charge = self._charge_of(self.book.storefront_orders[index])
        charged = datetime.fromtimestamp(charge["created"], self.anchor.tzinfo)
        last = self.anchor - _DAY
        opened = self._between(charged + 2 * _DAY, min(charged + 10 * _DAY, last - 3 * _DAY))
        closed = self._between(opened + 3 * _DAY, min(opened + 12 * _DAY, last))
        self.ledger.dispute(charge, opened, closed, won=won)
