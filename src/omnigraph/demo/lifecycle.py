"""One order's life told across the four systems: capture, release, picking, shipping, returns.

`OrderBook.record` plays a draft (see drafts.py) forward in time, writing each system's record
and a feed event per change, bends the story where the world plan plants a disagreement, lets
the warehouse meet the incidents the plan chose (see incidents.py), queuing their reports, and
writes a trade order's ship date, compliance hold and advance ship notice (see wholesale.py).
Money leaves a trail in every system: the storefront keeps a capture or refund transaction per
processor charge or refund, the ERP a credit memo per refund (naming the return it is for), and
the WMS a return receipt per return it takes in (money.py plants where the trail breaks).
What the floor does to stock goes into a `FloorLog`, which stock_history.py writes the WMS's
inventory movements around.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from omnigraph.demo.catalogue import CURRENCY
from omnigraph.demo.drafts import VAT_FRACTION, fulfilment_line
from omnigraph.demo.formats import NumberSeries, iso, minor_units, money
from omnigraph.demo.incidents import (
    PICKUP_HOLD,
    PendingReport,
    floor_report,
    missed_pickup_report,
)
from omnigraph.demo.stock_history import FloorLog

if TYPE_CHECKING:
    import random
    from collections.abc import Iterable

    from omnigraph.demo.drafts import ChargeFault, DraftOrder
    from omnigraph.demo.ledger import Ledger
    from omnigraph.demo.recorder import FeedRecorder

__all__ = ["OrderBook", "Planted"]

_FULFILMENT_METHOD = {
    "web": "ship",
    "marketplace": "ship",
    "store-pickup": "pickup",
    "wholesale": "wholesale",
}


def _regrade(dispositions: dict[tuple[str, str], str], fulfilment: dict[str, Any]) -> None:
    for receipt in fulfilment["returnReceipts"]:
        for line in receipt["lines"]:
            line["disposition"] = dispositions[receipt["id"], line["sku"]]


@dataclass(frozen=True)
class Planted:
    """A disagreement the book planted; the world turns these into `PlantedDisagreement`s."""

    kind: str
    order_ref: str | None
    record_ref: str
    field: str
    detail: str


def _tracking_number(rng: random.Random, carrier: str) -> str | None:
    if carrier == "DPD":
        return "".join(rng.choices("0123456789", k=14))
    if carrier == "Royal Mail":
        return f"RM{rng.randint(100_000_000, 999_999_999)}GB"
    if carrier == "Evri":
        return "H" + "".join(rng.choices("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", k=15))
    if carrier == "Palletways":
        return f"PW{rng.randint(1_000_000_000, 9_999_999_999)}"
    return None  # a store collection has no parcel to track


@dataclass
class OrderBook:
    """Writes every system's records for a sequence of drafted orders, oldest first."""

    rng: random.Random
    recorder: FeedRecorder
    ledger: Ledger
    storefront_orders: list[dict[str, Any]] = field(default_factory=list)
    erp_sales_orders: list[dict[str, Any]] = field(default_factory=list)
    wms_fulfilment_orders: list[dict[str, Any]] = field(default_factory=list)
    planted: list[Planted] = field(default_factory=list)
    reports: list[PendingReport] = field(default_factory=list)
    floor: FloorLog = field(default_factory=FloorLog)
    _shipment_count: int = 0
    _memos: NumberSeries = field(default_factory=lambda: NumberSeries("CM-"))
    _returns: NumberSeries = field(default_factory=lambda: NumberSeries("RMA-"))
    _receipts: NumberSeries = field(default_factory=lambda: NumberSeries("RR-"))
    _transactions: NumberSeries = field(default_factory=lambda: NumberSeries("TX-"))
    # Each return receipt line with its inventory movement, graded with the stock history.
    _graded: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def record(self, draft: DraftOrder) -> None:
        """Play `draft` forward, writing storefront, ERP, WMS and payment records and events."""
        number = len(self.storefront_orders) + 1
        order = self._storefront_order(draft, number)
        charge = None
        if draft.plan.channel != "wholesale" and draft.cancel_mode != "uncaptured":
            charge = self._capture(draft, order)
        sales_order = None
        if draft.plan.planted != "missing_in_erp":
            sales_order = self._sales_order(draft, order)
        fulfilment = None
        if draft.reached("release"):
            if sales_order is not None:
                sales_order["status"] = "released"
                self.erp_changed(sales_order, draft.at("release"), "sales_order.released")
            fulfilment = self._fulfilment_order(draft, order)
        if draft.reached("cancel"):
            self._cancel(draft, order, sales_order, fulfilment, charge)
        if fulfilment is None:
            return
        self._pick_and_pack(draft, fulfilment)
        self._trade_paperwork(draft, fulfilment)
        if draft.plan.channel == "store-pickup":
            self._collection(draft, order, sales_order, fulfilment)
        else:
            self._delivery(draft, order, sales_order, fulfilment)
            if draft.reached("returned"):
                self._return(draft, order, sales_order, fulfilment, charge)

    # -- creation -------------------------------------------------------------------------------

    def _storefront_order(self, draft: DraftOrder, number: int) -> dict[str, Any]:
        order_id = f"SF-{100000 + number}"
        pickup = draft.plan.channel == "store-pickup"
        if draft.plan.channel == "wholesale":
            financial = "invoiced"
        elif draft.cancel_mode == "uncaptured":
            financial = "authorized"
        else:
            financial = "paid"
        order: dict[str, Any] = {
            "id": order_id,
            "name": f"#{100000 + number}",
            "channel": draft.plan.channel,
            "customer": draft.customer.as_record(),
            "fulfilmentMethod": _FULFILMENT_METHOD[draft.plan.channel],
            "pickupLocationId": draft.location_id if pickup else None,
            "currency": CURRENCY,
            "status": "open",
            "fulfilmentStatus": "unfulfilled",
            "financialStatus": financial,
            "cancelRequestedAt": None,
            "cancelledAt": None,
            "cancelReason": None,
            "placedAt": iso(draft.placed_at),
            "updatedAt": iso(draft.placed_at),
            "notifications": [],
            "returns": [],
            "transactions": [],
            "lines": [
                {
                    "id": f"{order_id}-{index}",
                    "sku": line.item.sku,
                    "title": line.item.name,
                    "quantity": line.quantity,
                    "unitPrice": money(line.unit_price),
                }
                for index, line in enumerate(draft.lines, start=1)
            ],
            "totals": draft.totals(),
        }
        self.storefront_orders.append(order)
        self.storefront_changed(order, draft.placed_at, "order.created")
        return order

    def _capture(self, draft: DraftOrder, order: dict[str, Any]) -> dict[str, Any]:
        """The processor charges the card; the storefront records the capture with its id."""
        moment = draft.at("charge")
        amount = minor_units(draft.total)
        fault = draft.charge_fault
        if fault is None:
            charge = self.ledger.charge(order["id"], amount, moment)
        elif fault.kind == "capture_amount_mismatch":
            charge = self.ledger.charge(order["id"], amount + fault.difference, moment)
        else:
            assert fault.exchange_rate is not None
            presented = int(
                (Decimal(amount) / Decimal(str(fault.exchange_rate))).quantize(
                    Decimal(1), rounding=ROUND_HALF_UP
                )
            )
            charge = self.ledger.charge(
                order["id"], presented, moment, currency="eur", exchange_rate=fault.exchange_rate
            )
        self.record_money(order, "capture", draft.total, charge["id"], moment)
        self.storefront_changed(order, moment, "order.updated")
        if fault is not None:
            self.planted.append(self._charge_fault_planted(fault, order, charge))
        return charge

    def _charge_fault_planted(
        self, fault: ChargeFault, order: dict[str, Any], charge: dict[str, Any]
    ) -> Planted:
        captured = order["transactions"][-1]
        txn = charge["balance_transaction"]
        if fault.kind == "capture_amount_mismatch":
            field_name = "amount"
            detail = (
                f"processor charge {charge['id']} ({txn}) took {charge['amount']} minor units; "
                f"storefront order {order['id']} captured {captured['amount']} "
                f"{captured['currency']} ({captured['id']})"
            )
        else:
            field_name = "exchange_rate"
            detail = (
                f"processor charge {charge['id']} ({txn}) was presented as {charge['amount']} "
                f"{charge['currency']} at {fault.exchange_rate} gbp per eur; storefront order "
                f"{order['id']} captured {captured['amount']} {captured['currency']}"
            )
        return Planted(fault.kind, order["id"], txn, field_name, detail)

    def _sales_order(self, draft: DraftOrder, order: dict[str, Any]) -> dict[str, Any]:
        sales_order_id = f"SO-{500001 + len(self.erp_sales_orders)}"
        discounts = draft.line_discounts()
        lines = [
            {
                "lineNo": index,
                "sku": line.item.sku,
                "quantity": line.quantity,
                "unitPrice": money(line.unit_price),
                "discount": money(discount),
                "tax": money((line.gross - discount) / VAT_FRACTION),
                "priceConfirmedAt": None,
            }
            for index, (line, discount) in enumerate(zip(draft.lines, discounts, strict=True), 1)
        ]
        totals = draft.totals()
        if draft.plan.planted == "total_mismatch":
            totals = self._plant_total_mismatch(draft, order, sales_order_id)
        if draft.plan.planted == "price_mismatch":
            self._plant_price_mismatch(draft, order, sales_order_id, lines)
        sales_order: dict[str, Any] = {
            "id": sales_order_id,
            "orderRef": order["id"],
            "accountId": draft.account_id,
            "currency": CURRENCY,
            "terms": "NET30" if draft.plan.channel == "wholesale" else "prepaid",
            "requestedShipDate": (
                None if draft.requested_ship_date is None else draft.requested_ship_date.isoformat()
            ),
            "status": "open",
            "financialStatus": order["financialStatus"],
            "lines": lines,
            "totals": totals,
            "creditMemos": [],
            "updatedAt": iso(draft.at("erp")),
        }
        self.erp_sales_orders.append(sales_order)
        self.erp_changed(sales_order, draft.at("erp"), "sales_order.created")
        return sales_order

    def _fulfilment_order(self, draft: DraftOrder, order: dict[str, Any]) -> dict[str, Any]:
        released = draft.at("release", 5)
        fulfilment: dict[str, Any] = {
            "id": f"WO-{700001 + len(self.wms_fulfilment_orders)}",
            "orderRef": order["id"],
            "locationId": draft.location_id,
            "status": "released",
            "lines": [fulfilment_line(line.item.sku, line.quantity) for line in draft.lines],
            "shipments": [],
            "returnReceipts": [],
            "pickupHoldUntil": None,
            "complianceHold": None,
            "asnSentAt": None,
            "releasedAt": iso(released),
            "updatedAt": iso(released),
        }
        self.wms_fulfilment_orders.append(fulfilment)
        self.wms_changed(fulfilment, released)
        self.floor.allocate(fulfilment, released)
        if draft.plan.planted == "missing_in_erp":
            self._plant(
                "missing_in_erp",
                order,
                record_ref=order["id"],
                field_name="salesOrder",
                detail=(
                    f"storefront order {order['id']} was released to the warehouse as "
                    f"{fulfilment['id']} but the ERP has no sales order for it"
                ),
            )
        return fulfilment

    # -- the warehouse floor ----------------------------------------------------------------------

    def _pick_and_pack(self, draft: DraftOrder, fulfilment: dict[str, Any]) -> None:
        if draft.reached("picking"):
            fulfilment["status"] = "picking"
            if draft.plan.stage == "picking":
                # Caught mid-pick: some units in the tote, at least one line not finished.
                for line in fulfilment["lines"]:
                    line["picked"] = self.rng.randint(0, line["quantity"])
                last = fulfilment["lines"][-1]
                last["picked"] = min(last["picked"], last["quantity"] - 1)
                self.floor.pick(fulfilment, draft.at("picking"))
            self.wms_changed(fulfilment, draft.at("picking"))
        if draft.reached("picked"):
            fulfilment["status"] = "picked"
            for line in fulfilment["lines"]:
                line["picked"] = line["quantity"]
            # A shelf comes up short at picking; damage shows at picking if packing is not
            # reached, else at the packing bench.
            incident = draft.incident.kind if draft.incident else None
            if incident == "SHORT_PICK" or (incident == "DAMAGE" and draft.plan.stage == "picked"):
                self._floor_incident(draft, fulfilment, draft.at("picked"), "picking")
            self.floor.pick(fulfilment, draft.at("picked"))
            self.wms_changed(fulfilment, draft.at("picked"))
        if draft.reached("packed"):
            fulfilment["status"] = "packed"
            if draft.incident and draft.incident.kind == "DAMAGE" and draft.plan.stage != "picked":
                self._floor_incident(draft, fulfilment, draft.at("packed"), "packing")
            for line in fulfilment["lines"]:
                line["packed"] = line["picked"]
            self.wms_changed(fulfilment, draft.at("packed"))

    def _trade_paperwork(self, draft: DraftOrder, fulfilment: dict[str, Any]) -> None:
        """A trade order is held where the retailer's requirements are not met, else its
        advance ship notice goes out once it is packed, before anything ships."""
        hold = draft.compliance_hold
        if hold is not None:
            since = draft.at(hold.step, hold.delay)
            fulfilment["complianceHold"] = {"reason": hold.reason, "since": iso(since)}
            self.wms_changed(fulfilment, since, "fulfilment_order.compliance_hold")
        elif draft.asn_delay is not None:
            sent = draft.at("packed", draft.asn_delay)
            fulfilment["asnSentAt"] = iso(sent)
            self.wms_changed(fulfilment, sent, "fulfilment_order.asn_sent")

    def _floor_incident(
        self, draft: DraftOrder, fulfilment: dict[str, Any], moment: datetime, activity: str
    ) -> None:
        """Units missing from the shelf or found broken leave the tote: `picked` counts good
        units, and the line's `short` or `damaged` says what is wrong with the rest."""
        incident = draft.incident
        assert incident is not None
        index, units = incident.line_and_units()
        line = fulfilment["lines"][index]
        line["picked"] -= units
        line["short" if incident.kind == "SHORT_PICK" else "damaged"] = units
        if incident.kind == "DAMAGE":
            self.floor.damage(fulfilment, line["sku"], units, moment)
        self.reports.append(floor_report(draft, fulfilment, moment, activity))

    def _collection(
        self,
        draft: DraftOrder,
        order: dict[str, Any],
        sales_order: dict[str, Any] | None,
        fulfilment: dict[str, Any],
    ) -> None:
        if draft.reached("ready"):
            fulfilment["status"] = "ready_for_pickup"
            fulfilment["pickupHoldUntil"] = iso(draft.at("ready") + PICKUP_HOLD)
            self.wms_changed(fulfilment, draft.at("ready"))
            order["fulfilmentStatus"] = "ready_for_pickup"
            self.storefront_changed(order, draft.lagged("ready"), "order.updated")
            if draft.incident and draft.incident.kind == "MISSED_PICKUP":
                self.reports.append(missed_pickup_report(fulfilment, draft.at("ready")))
                # The collection slip printed for it is never used: its number stays a gap, as
                # voided slips do in a real WMS, and later shipments keep their numbers.
                self._shipment_count += 1
        if draft.reached("collected"):
            collected = draft.at("collected")
            shipment = self._ship(draft, fulfilment, fulfilment["lines"], collected)
            shipment["deliveredAt"] = iso(collected)
            fulfilment["status"] = "picked_up"
            self.wms_changed(fulfilment, collected)
            order["fulfilmentStatus"] = "picked_up"
            self._close(draft, order, sales_order, "collected")

    def _delivery(
        self,
        draft: DraftOrder,
        order: dict[str, Any],
        sales_order: dict[str, Any] | None,
        fulfilment: dict[str, Any],
    ) -> None:
        # The storefront only hears about shipping while the order is live and the sync works.
        storefront_follows = draft.plan.planted not in {"late_sync", "cancelled_but_shipped"}
        lines = fulfilment["lines"]
        split = (len(lines) + 1) // 2 if draft.shipments == 2 else len(lines)
        for step, batch in (("ship1", lines[:split]), ("ship2", lines[split:])):
            if not draft.reached(step) or not batch:
                continue
            moment = draft.at(step)
            self._ship(draft, fulfilment, batch, moment)
            complete = all(line["shipped"] == line["quantity"] for line in lines)
            fulfilment["status"] = "shipped" if complete else "partially_shipped"
            self.wms_changed(fulfilment, moment)
            if storefront_follows:
                order["fulfilmentStatus"] = "fulfilled" if complete else "partial"
                self.storefront_changed(order, draft.lagged(step), "order.updated")
        if draft.plan.planted == "late_sync":
            shipment = fulfilment["shipments"][0]
            self._plant(
                "late_sync",
                order,
                record_ref=order["id"],
                field_name="fulfilmentStatus",
                detail=(
                    f"WMS shipped {fulfilment['id']} ({shipment['id']}) at "
                    f"{shipment['shippedAt']}; the storefront still says unfulfilled, last "
                    f"updated {order['updatedAt']}"
                ),
            )
        if draft.plan.planted == "cancelled_but_shipped":
            self._plant(
                "cancelled_but_shipped",
                order,
                record_ref=fulfilment["id"],
                field_name="status",
                detail=(
                    f"storefront cancelled {order['id']} at {order['cancelledAt']}; the "
                    f"cancellation never reached the WMS, which shipped "
                    f"{fulfilment['shipments'][0]['id']} at "
                    f"{fulfilment['shipments'][0]['shippedAt']}"
                ),
            )
        if draft.reached("delivered"):
            delivered = draft.at("delivered")
            for shipment in fulfilment["shipments"]:
                shipment["deliveredAt"] = iso(delivered)
            fulfilment["status"] = "delivered"
            self.wms_changed(fulfilment, delivered)
            self._close(draft, order, sales_order, "delivered")

    def _close(
        self,
        draft: DraftOrder,
        order: dict[str, Any],
        sales_order: dict[str, Any] | None,
        step: str,
    ) -> None:
        """The customer has the goods (`step`): the storefront and the ERP close the order as
        each hears of it."""
        order["status"] = "closed"
        self.storefront_changed(order, draft.lagged(step), "order.closed")
        if sales_order is not None:
            sales_order["status"] = "closed"
            self.erp_changed(sales_order, draft.lagged(step), "sales_order.closed")

    def _ship(
        self,
        draft: DraftOrder,
        fulfilment: dict[str, Any],
        lines: list[dict[str, Any]],
        moment: datetime,
    ) -> dict[str, Any]:
        """``lines`` of ``fulfilment`` leave the building whole in one shipment (a parcel, or a
        store collection): on the fulfilment order, in the stock history; the shipment."""
        self._shipment_count += 1
        shipment = {
            "id": f"SH-{800000 + self._shipment_count}",
            "carrier": draft.carrier,
            "trackingNumber": _tracking_number(self.rng, draft.carrier),
            "shippedAt": iso(moment),
            "deliveredAt": None,
            "lines": [{"sku": line["sku"], "quantity": line["quantity"]} for line in lines],
        }
        fulfilment["shipments"].append(shipment)
        self.floor.ship(fulfilment, shipment, moment)
        for line in lines:
            line["shipped"] = line["quantity"]
        return shipment

    # -- money going back -------------------------------------------------------------------------

    def _cancel(
        self,
        draft: DraftOrder,
        order: dict[str, Any],
        sales_order: dict[str, Any] | None,
        fulfilment: dict[str, Any] | None,
        charge: dict[str, Any] | None,
    ) -> None:
        cancelled = draft.at("cancel")
        requested = max(draft.at("erp"), cancelled - timedelta(seconds=self.rng.randint(30, 600)))
        refunded = charge is not None
        if draft.cancel_mode == "uncaptured":
            reason = "fraud"
        elif draft.plan.channel == "wholesale":
            reason = "customer"
        else:
            reason = self.rng.choice(("customer", "customer", "inventory", "other"))
        order.update(
            status="cancelled",
            financialStatus="refunded" if refunded else "voided",
            cancelRequestedAt=iso(requested),
            cancelledAt=iso(cancelled),
            cancelReason=reason,
        )
        self.storefront_changed(order, cancelled, "order.cancelled")
        if sales_order is not None:
            sales_order["status"] = "cancelled"
            sales_order["financialStatus"] = order["financialStatus"]
            if refunded:
                self.credit_memo(sales_order, draft.total, "cancellation", cancelled)
            self.erp_changed(
                sales_order, cancelled + timedelta(seconds=30), "sales_order.cancelled"
            )
        if charge is not None:
            refunded_at = cancelled + timedelta(seconds=60)
            self.refund(order, charge, draft.total, refunded_at, return_id=None)
            self.storefront_changed(order, refunded_at, "order.updated")
        if fulfilment is not None and draft.plan.planted != "cancelled_but_shipped":
            fulfilment["status"] = "cancelled"
            self.wms_changed(fulfilment, cancelled + timedelta(seconds=120))
            self.floor.deallocate(fulfilment, cancelled + timedelta(seconds=120))

    def _return(
        self,
        draft: DraftOrder,
        order: dict[str, Any],
        sales_order: dict[str, Any] | None,
        fulfilment: dict[str, Any],
        charge: dict[str, Any] | None,
    ) -> None:
        received = draft.at("returned")
        full = draft.plan.stage == "returned"
        returned_lines = range(len(draft.lines)) if full else range(1)
        rma = self.open_return(
            order, fulfilment, returned_lines, received - timedelta(days=2), "received"
        )
        self.receive_return(fulfilment, rma["id"], returned_lines, received)
        amount = draft.total if full else draft.line_net(0)
        financial = "refunded" if full else "partially_refunded"
        refunded_at = draft.lagged("returned")
        if sales_order is not None:
            sales_order["financialStatus"] = financial
            self.credit_memo(sales_order, amount, "return", refunded_at, return_ref=rma["id"])
            self.erp_changed(sales_order, refunded_at, "credit_memo.issued")
        if charge is not None:
            self.refund(order, charge, amount, refunded_at + timedelta(seconds=30), rma["id"])
        order["financialStatus"] = financial
        self.storefront_changed(order, refunded_at + timedelta(seconds=60), "order.updated")

    # Each writes one system's record of money or goods going back, for the story above and
    # for the plants in money.py; the caller emits the storefront and ERP changes.

    def open_return(
        self,
        order: dict[str, Any],
        fulfilment: dict[str, Any],
        indexes: Iterable[int],
        opened: datetime,
        status: str,
    ) -> dict[str, Any]:
        """The storefront's return of the lines at `indexes`, every unit of each."""
        rma: dict[str, Any] = {
            "id": self._returns.next(),
            "status": status,
            "reason": "customer return",
            "openedAt": iso(opened),
            "lines": [
                {
                    "sku": fulfilment["lines"][i]["sku"],
                    "quantity": fulfilment["lines"][i]["quantity"],
                }
                for i in indexes
            ],
        }
        order["returns"].append(rma)
        return rma

    def receive_return(
        self, fulfilment: dict[str, Any], rma_ref: str, indexes: Iterable[int], received: datetime
    ) -> dict[str, Any]:
        """The WMS takes the lines at `indexes` back in against return `rma_ref`. Each line is
        graded as its inventory movement is (the stock history decides how; see
        `grade_returns`)."""
        receipt: dict[str, Any] = {
            "id": self._receipts.next(),
            "rmaRef": rma_ref,
            "receivedAt": iso(received),
            "lines": [],
        }
        for index in indexes:
            line = fulfilment["lines"][index]
            line["returned"] = line["quantity"]
            movement = self.floor.receive_return(fulfilment, line, received)
            entry = {
                "sku": line["sku"],
                "quantity": line["returned"],
                "disposition": movement["disposition"],
            }
            receipt["lines"].append(entry)
            self._graded.append((fulfilment["id"], receipt["id"], entry, movement))
        fulfilment["returnReceipts"].append(receipt)
        returned = all(line["returned"] == line["quantity"] for line in fulfilment["lines"])
        fulfilment["status"] = "returned" if returned else "partially_returned"
        self.wms_changed(fulfilment, received)
        return receipt

    def refund(
        self,
        order: dict[str, Any],
        charge: dict[str, Any],
        amount: Decimal,
        moment: datetime,
        return_id: str | None,
    ) -> dict[str, Any]:
        """The processor refunds `amount` of the charge; the storefront records the refund."""
        refund = self.ledger.refund(charge, minor_units(amount), moment)
        self.record_money(order, "refund", amount, refund["id"], moment, return_id)
        return refund

    def record_money(
        self,
        order: dict[str, Any],
        kind: str,
        amount: Decimal,
        gateway_ref: str,
        moment: datetime,
        return_id: str | None = None,
    ) -> None:
        """A storefront order transaction: money the processor moved for the order."""
        order["transactions"].append(
            {
                "id": self._transactions.next(),
                "kind": kind,
                "amount": money(amount),
                "currency": order["currency"],
                "gatewayRef": gateway_ref,
                "processedAt": iso(moment),
                "returnId": return_id,
            }
        )

    def credit_memo(
        self,
        sales_order: dict[str, Any],
        amount: Decimal,
        reason: str,
        moment: datetime,
        return_ref: str | None = None,
    ) -> None:
        """The ERP credits the customer `amount`, for return `return_ref` if it names one."""
        sales_order["creditMemos"].append(
            {
                "id": self._memos.next(),
                "amount": money(amount),
                "reason": reason,
                "issuedAt": iso(moment),
                "returnRef": return_ref,
            }
        )

    def grade_returns(self) -> None:
        """Give each return receipt line the disposition its inventory movement ended with.

        The stock history grades returns after the story is told, but the WMS graded them on
        receipt, so every snapshot of the fulfilment order on its feed says so too.
        """
        graded: dict[str, dict[tuple[str, str], str]] = {}
        for fulfilment_id, receipt_id, entry, movement in self._graded:
            entry["disposition"] = movement["disposition"]
            graded.setdefault(fulfilment_id, {})[receipt_id, entry["sku"]] = entry["disposition"]
        for fulfilment_id, dispositions in graded.items():
            self.recorder.amend("wms", fulfilment_id, functools.partial(_regrade, dispositions))

    # -- planted commercial disagreements ---------------------------------------------------------

    def _plant_total_mismatch(
        self, draft: DraftOrder, order: dict[str, Any], sales_order_id: str
    ) -> dict[str, str]:
        if draft.total_variant == "discount":
            totals = draft.totals(discount=Decimal(0))
            why = "the ERP never applied the storefront's promotion code"
        elif draft.total_variant == "rounding":
            totals = draft.totals(discount=draft.discount - Decimal("0.01"))
            why = "the ERP rounded the promotion discount line by line"
        else:
            totals = draft.totals(shipping=draft.shipping + Decimal("1.00"))
            why = "the ERP charged shipping from an out-of-date rate card"
        self._plant(
            "total_mismatch",
            order,
            record_ref=sales_order_id,
            field_name="totals.total",
            detail=(
                f"ERP {sales_order_id} total {totals['total']} vs storefront "
                f"{order['totals']['total']}: {why}"
            ),
        )
        return totals

    def _plant_price_mismatch(
        self,
        draft: DraftOrder,
        order: dict[str, Any],
        sales_order_id: str,
        lines: list[dict[str, Any]],
    ) -> None:
        index = draft.price_line
        line = draft.lines[index]
        erp_price = line.unit_price + self.rng.choice(
            (Decimal("2.00"), Decimal("5.00"), Decimal("10.00"))
        )
        lines[index]["unitPrice"] = money(erp_price)
        self._plant(
            "price_mismatch",
            order,
            record_ref=sales_order_id,
            field_name=f"lines[{index}].unitPrice",
            detail=(
                f"ERP {sales_order_id} line {index + 1} ({line.item.sku}) unitPrice "
                f"{money(erp_price)} vs storefront {money(line.unit_price)}: the ERP "
                "price list missed the storefront's price change"
            ),
        )

    def _plant(
        self, kind: str, order: dict[str, Any], *, record_ref: str, field_name: str, detail: str
    ) -> None:
        """Note a disagreement planted on storefront order `order`."""
        self.planted.append(Planted(kind, order["id"], record_ref, field_name, detail))

    # -- feed plumbing ----------------------------------------------------------------------------

    def storefront_changed(self, order: dict[str, Any], moment: datetime, event_type: str) -> None:
        order["updatedAt"] = iso(moment)
        self.recorder.emit("storefront", moment, event_type, "order", order["id"], order)

    def erp_changed(self, sales_order: dict[str, Any], moment: datetime, event_type: str) -> None:
        sales_order["updatedAt"] = iso(moment)
        self.recorder.emit("erp", moment, event_type, "sales_order", sales_order["id"], sales_order)

    def wms_changed(
        self, fulfilment: dict[str, Any], moment: datetime, event_type: str | None = None
    ) -> None:
        """Emit the order's new shape: `fulfilment_order.<status>` unless named otherwise."""
        fulfilment["updatedAt"] = iso(moment)
        self.recorder.emit(
            "wms",
            moment,
            event_type or f"fulfilment_order.{fulfilment['status']}",
            "fulfilment_order",
            fulfilment["id"],
            fulfilment,
        )
