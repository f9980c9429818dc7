"""How the demo sources spell time, money and document numbers on the wire.

Storefront, ERP and WMS speak ISO 8601 and decimal strings; payments speaks integer minor units
and Unix seconds, as the card processors do. Every conversion goes through here so the four
systems never disagree by accident (only where a disagreement is planted on purpose).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["PENNY", "NumberSeries", "iso", "minor_units", "money", "round_money", "unix"]

PENNY = Decimal("0.01")


def round_money(amount: Decimal) -> Decimal:
    """Round to whole pence the way a till does (half up), never banker's rounding."""
    return amount.quantize(PENNY, rounding=ROUND_HALF_UP)


def money(amount: Decimal) -> str:
    """A 2dp decimal string: `money(Decimal("12.5")) == "12.50"`."""
    return f"{round_money(amount):.2f}"


def minor_units(amount: Decimal) -> int:
    """Pence as an integer: `minor_units(Decimal("29.95")) == 2995`."""
    return int(round_money(amount) * 100)


def iso(moment: datetime) -> str:
    """ISO 8601 with an explicit UTC offset and whole seconds."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def unix(moment: datetime) -> int:
    """Whole Unix seconds."""
    return int(moment.timestamp())


class NumberSeries:
    """A system's numbering of one kind of document (`CM-000001`, `RMA-000001`): the next number
    follows the highest of `taken`, the numbers the system already holds."""

    def __init__(self, prefix: str, taken: Iterable[str] = ()) -> None:
        self._prefix = prefix
        self._last = max((int(number.removeprefix(prefix)) for number in taken), default=0)

    def next(self) -> str:
        """Take the next number of the series."""
        self._last += 1
        return f"{self._prefix}{self._last:06d}"
