"""The commands each source kind accepts on ``POST /commands`` (docs/sources/README.md).

The catalogue is checked against this list at start-up, so a typo in a data file fails loudly
before an agent's resolution is routed to a system that would reject it.
"""

from __future__ import annotations

from omnigraph.core.sources import SourceKind

__all__ = ["COMMANDS"]

COMMANDS: dict[SourceKind, frozenset[str]] = {
    SourceKind.STOREFRONT: frozenset(
        {
            "order.cancel",
            "customer.notify",
            "order.reinstate",
            "return.open",
            "order.sync_fulfilment",
            "record.resync",
        }
    ),
    SourceKind.ERP: frozenset(
        {"credit_memo.issue", "price.confirm", "price.adjust", "record.resync"}
    ),
    SourceKind.WMS: frozenset(
        {
            "fulfilment.ship_partial",
            "fulfilment.backorder",
            "fulfilment.substitute",
            "fulfilment.cancel_line",
            "fulfilment.replace",
            "fulfilment.ship_remainder",
            "fulfilment.cancel_remainder",
            "pickup.extend_hold",
            "pickup.cancel",
            "pickup.convert_to_ship",
            "inventory.cycle_count",
            "record.resync",
        }
    ),
    SourceKind.PAYMENTS: frozenset(
        {"refund.create", "payout.investigate", "payout.accept_variance", "record.resync"}
    ),
}
