"""Money: an exact amount in a currency, and the one place minor units are converted.

A currency's minor unit is its ISO 4217 exponent: JPY and KRW have none (1 yen is 1 minor unit),
GBP, EUR and USD have two (cents), KWD, BHD, JOD, OMR, TND and LYD three (fils), CLF and UYW four.
Sources state amounts either as decimals in major units (the contract's records) or as integers
in minor units (the payments provider's balance transactions, Stripe); both meet here.

    >>> minor_units(Decimal("1234"), "JPY"), minor_units(Decimal("12.34"), "GBP")
    (1234, 1234)
    >>> from_minor_units(1234, "KWD")
    Decimal('1.234')
    >>> rounded(Decimal("10.005"), "USD")
    Decimal('10.01')
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "Money",
    "UnknownCurrency",
    "exponent",
    "from_minor_units",
    "minor_units",
    "parse_amount",
    "rounded",
]

# ISO 4217 currencies whose minor unit is not two decimal places. Every other three-letter code
# has two, as ISO 4217 gives for all but these (and the funds codes without a minor unit, which
# no retailer settles in).
_EXPONENTS: dict[str, int] = {
    # none
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    # three
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    # four
    "CLF": 4,
    "UYW": 4,
}


class UnknownCurrency(ValueError):
    """Not a three-letter currency code: an amount in it cannot be converted or compared."""


# the minor unit of each exponent, as a quantum: 0.01 for two places
_QUANTA = {places: Decimal(1).scaleb(-places) for places in {2, *_EXPONENTS.values()}}


# Amounts are converted by the hundred thousand in a reconciliation, in a handful of
# currencies: each code is checked once, not at every conversion. A code that is not one raises,
# and is never kept.
@functools.lru_cache(maxsize=256)
def exponent(currency: str) -> int:
    """How many decimal places ``currency``'s minor unit has (ISO 4217)."""
    code = currency.strip().upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise UnknownCurrency(f"{currency!r} is not an ISO 4217 currency code")
    return _EXPONENTS.get(code, 2)


def rounded(amount: Decimal, currency: str) -> Decimal:
    """``amount`` to its currency's minor unit, half away from zero."""
    return amount.quantize(_QUANTA[exponent(currency)], rounding=ROUND_HALF_UP)


def minor_units(amount: Decimal, currency: str) -> int:
    """``amount`` (major units) as an integer count of minor units."""
    return int(rounded(amount, currency).scaleb(exponent(currency)))


def from_minor_units(minor: int, currency: str) -> Decimal:
    """An integer count of minor units as a decimal amount in major units."""
    places = exponent(currency)
    return Decimal(minor).scaleb(-places).quantize(_QUANTA[places])


def parse_amount(value: object, currency: str) -> Decimal:
    """A source's decimal amount (a JSON number or string), exact, to its minor unit."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not an amount")
    return rounded(amount, currency)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount and its currency; amounts in different currencies never compare equal."""

    amount: Decimal
    currency: str

    @classmethod
    def of(cls, amount: Decimal, currency: str) -> Money:
        return cls(rounded(amount, currency), currency.strip().upper())

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        return cls(from_minor_units(minor, currency), currency.strip().upper())

    @property
    def minor(self) -> int:
        return minor_units(self.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
