"""The payment processor's books for the demo world: charges, refunds, disputes, fees and payouts.

Shaped like the leading card processors: every money movement is a balance transaction in the
settlement currency (a charge presented in another currency carries its `exchange_rate`), and a
payout sweeps the previous day's transactions (carrying a non-positive day forward, as a processor
never pays out a negative balance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from omnigraph.demo.formats import unix

if TYPE_CHECKING:
    import random
    from datetime import date

    from omnigraph.demo.recorder import FeedRecorder

__all__ = ["BALANCE_TYPES", "CURRENCY", "DISPUTE_FEE", "Ledger"]

CURRENCY = "gbp"
# Balance transaction type -> reporting category, as the processor reports them.
BALANCE_TYPES = {
    "charge": "charge",
    "refund": "refund",
    "dispute": "dispute",
    "dispute_reversal": "dispute_reversal",
    "stripe_fee": "fee",
    "adjustment": "adjustment",
    "payout": "payout",
}
# What the processor charges for handling a chargeback, refunded if the merchant wins it.
DISPUTE_FEE = 1500
# UK consumer card pricing: 1.5% + 20p per successful charge.
_FEE_RATE = Decimal("0.015")
_FEE_FIXED = 20
_DAY = timedelta(days=1)


def _card_fee(amount: int) -> int:
    percent = (Decimal(amount) * _FEE_RATE).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(percent) + _FEE_FIXED


@dataclass
class Ledger:
    """Builds charges, refunds and balance transactions, then settles them into payouts."""

    recorder: FeedRecorder
    charges: list[dict[str, Any]] = field(default_factory=list)
    payouts: list[dict[str, Any]] = field(default_factory=list)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    _refund_count: int = 0
    _dispute_count: int = 0

    def charge(
        self,
        order_ref: str,
        amount: int,
        moment: datetime,
        *,
        currency: str = CURRENCY,
        exchange_rate: float | None = None,
    ) -> dict[str, Any]:
        """A captured card charge for a storefront order, with its balance transaction.

        A charge presented in another `currency` settles at `exchange_rate` (settlement
        currency per unit of it): its balance transaction is in the settlement currency.
        """
        if (currency == CURRENCY) != (exchange_rate is None):
            raise ValueError("a charge needs an exchange rate exactly when it is not in gbp")
        charge_id = f"ch_{len(self.charges) + 1:06d}"
        settled = amount
        if exchange_rate is not None:
            converted = Decimal(amount) * Decimal(str(exchange_rate))
            settled = int(converted.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        txn = self._transaction(
            settled, _card_fee(settled), "charge", charge_id, moment, exchange_rate
        )
        charge: dict[str, Any] = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "currency": currency,
            "captured": True,
            "status": "succeeded",
            "created": unix(moment),
            "balance_transaction": txn["id"],
            "metadata": {"order_ref": order_ref},
            "refunds": [],
            "disputed": False,
            "disputes": [],
        }
        self.charges.append(charge)
        self.recorder.emit("payments", moment, "charge.succeeded", "charge", charge_id, charge)
        return charge

    def refund(self, charge: dict[str, Any], amount: int, moment: datetime) -> dict[str, Any]:
        """Refund part or all of `charge`; the refund leaves the balance as a negative txn."""
        self._refund_count += 1
        refund_id = f"re_{self._refund_count:06d}"
        refund: dict[str, Any] = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "created": unix(moment),
            "status": "succeeded",
        }
        charge["refunds"].append(refund)
        charge["amount_refunded"] += amount
        self._transaction(-amount, 0, "refund", refund_id, moment)
        self.recorder.emit("payments", moment, "charge.refunded", "charge", charge["id"], charge)
        return refund

    def dispute(
        self, charge: dict[str, Any], opened: datetime, closed: datetime, *, won: bool
    ) -> dict[str, Any]:
        """The cardholder disputes `charge`: the amount and the dispute fee leave the balance
        when it is opened; a dispute the merchant wins gives both back when it is closed."""
        self._dispute_count += 1
        dispute_id = f"dp_{self._dispute_count:06d}"
        amount = charge["amount"]
        dispute: dict[str, Any] = {
            "id": dispute_id,
            "amount": amount,
            "status": "needs_response",
            "created": unix(opened),
        }
        charge["disputed"] = True
        charge["disputes"].append(dispute)
        self._transaction(-amount, DISPUTE_FEE, "dispute", dispute_id, opened)
        self.recorder.emit(
            "payments", opened, "charge.dispute.created", "charge", charge["id"], charge
        )
        dispute["status"] = "won" if won else "lost"
        if won:
            self._transaction(amount, -DISPUTE_FEE, "dispute_reversal", dispute_id, closed)
        self.recorder.emit(
            "payments", closed, "charge.dispute.closed", "charge", charge["id"], charge
        )
        return dispute

    def add_account_activity(self, rng: random.Random, start: datetime, anchor: datetime) -> None:
        """Weekly screening fees and the odd manual adjustment, as a real account shows."""
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < anchor:
            if day.weekday() == 0:
                fee_at = day + timedelta(hours=4)
                if fee_at < anchor:
                    amount = -rng.randint(250, 1200)
                    self._transaction(amount, 0, "stripe_fee", None, fee_at)
            if rng.random() < 0.06:
                adjust_at = day + timedelta(hours=14, minutes=rng.randint(0, 59))
                if adjust_at < anchor:
                    amount = rng.choice((-850, -400, -120, 75, 230, 500))
                    self._transaction(amount, 0, "adjustment", None, adjust_at)
            day += _DAY

    def settle(self, anchor: datetime) -> None:
        """Sweep each day's transactions into a payout created at the next midnight (UTC).

        A day whose net is not positive is carried into the next payout; transactions whose
        payout would be created after `anchor` stay unpaid (the balance not yet swept).
        """
        by_day: dict[date, list[dict[str, Any]]] = {}
        for txn in self.transactions:
            created = datetime.fromtimestamp(txn["created"], UTC)
            by_day.setdefault(created.date(), []).append(txn)
        carried: list[dict[str, Any]] = []
        for day in sorted(by_day):
            carried.extend(by_day[day])
            created = datetime(day.year, day.month, day.day, tzinfo=UTC) + _DAY
            if created > anchor:
                break
            amount = sum(txn["net"] for txn in carried)
            if amount <= 0:
                continue
            self._payout(amount, created, anchor, carried)
            carried = []

    def emit_payout_events(self, anchor: datetime) -> None:
        """Feed events for payouts, emitted once their amounts are final."""
        for payout in self.payouts:
            created = datetime.fromtimestamp(payout["created"], UTC)
            arrival = datetime.fromtimestamp(payout["arrival_date"], UTC)
            opened = {
                **payout,
                "status": "pending" if payout["status"] == "pending" else "in_transit",
            }
            self.recorder.emit(
                "payments", created, "payout.created", "payout", payout["id"], opened
            )
            if payout["status"] == "paid" and arrival <= anchor:
                self.recorder.emit(
                    "payments", arrival, "payout.paid", "payout", payout["id"], payout
                )

    def transactions_of(self, payout_id: str) -> list[dict[str, Any]]:
        """The balance transactions a payout swept (its own payout transaction included)."""
        return [txn for txn in self.transactions if txn["payout"] == payout_id]

    def _payout(
        self,
        amount: int,
        created: datetime,
        anchor: datetime,
        swept: list[dict[str, Any]],
    ) -> None:
        payout_id = f"po_{len(self.payouts) + 1:06d}"
        arrival = created + 2 * _DAY
        if arrival <= anchor:
            status = "paid"
        elif created + _DAY <= anchor:
            status = "in_transit"
        else:
            status = "pending"
        self.payouts.append(
            {
                "id": payout_id,
                "object": "payout",
                "amount": amount,
                "currency": CURRENCY,
                "arrival_date": unix(arrival),
                "created": unix(created),
                "status": status,
                "method": "standard",
                "metadata": {},
            }
        )
        for txn in swept:
            txn["payout"] = payout_id
        own = self._transaction(-amount, 0, "payout", payout_id, created)
        own["payout"] = payout_id

    def _transaction(
        self,
        amount: int,
        fee: int,
        kind: str,
        source: str | None,
        moment: datetime,
        exchange_rate: float | None = None,
    ) -> dict[str, Any]:
        txn = {
            "id": f"txn_{len(self.transactions) + 1:06d}",
            "object": "balance_transaction",
            "amount": amount,
            "fee": fee,
            "net": amount - fee,
            "currency": CURRENCY,
            "exchange_rate": exchange_rate,
            "type": kind,
            "reporting_category": BALANCE_TYPES[kind],
            "source": source,
            "payout": None,
            "created": unix(moment),
        }
        self.transactions.append(txn)
        return txn
