"""Money against ISO 4217's minor units, written out by hand (the reference), not computed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnigraph.core.money import (
    Money,
    UnknownCurrency,
    exponent,
    from_minor_units,
    minor_units,
    parse_amount,
    rounded,
)

# currency, an amount as a source states it, the same amount in minor units (ISO 4217)
TABLE = [
    ("JPY", "1234", 1234),
    ("KRW", "50000", 50000),
    ("GBP", "12.34", 1234),
    ("EUR", "0.05", 5),
    ("USD", "1000.00", 100000),
    ("KWD", "1.234", 1234),
    ("BHD", "0.500", 500),
    ("TND", "12.001", 12001),
    ("CLF", "1.2345", 12345),
]


@pytest.mark.parametrize(("currency", "amount", "minor"), TABLE)
def test_minor_units_follow_the_currency_exponent(currency: str, amount: str, minor: int) -> None:
    assert minor_units(Decimal(amount), currency) == minor
    assert from_minor_units(minor, currency) == Decimal(amount)
    assert str(from_minor_units(minor, currency)) == amount
    assert Money.of(Decimal(amount), currency.lower()) == Money.from_minor(minor, currency)


def test_exponents_and_unknown_codes() -> None:
    assert [exponent(c) for c in ("jpy", "GBP", "KWD", "CLF", "NZD")] == [0, 2, 3, 4, 2]
    for bad in ("", "12A", "GBPX", "£££"):
        with pytest.raises(UnknownCurrency):
            exponent(bad)


def test_rounding_is_half_away_from_zero_at_the_minor_unit() -> None:
    assert rounded(Decimal("10.005"), "USD") == Decimal("10.01")
    assert rounded(Decimal("-10.005"), "USD") == Decimal("-10.01")
    assert rounded(Decimal("1234.5"), "JPY") == Decimal("1235")
    assert rounded(Decimal("1.2345"), "KWD") == Decimal("1.235")


def test_amounts_in_different_currencies_are_never_equal() -> None:
    assert Money.of(Decimal("100"), "JPY") != Money.of(Decimal("100"), "USD")
    assert str(Money.from_minor(1234, "KWD")) == "1.234 KWD"


def test_parse_amount_refuses_what_is_not_a_number() -> None:
    assert parse_amount("19.999", "GBP") == Decimal("20.00")
    assert parse_amount(7, "JPY") == Decimal("7")
    for bad in ("abc", "NaN", "Infinity", None):
        with pytest.raises(ValueError, match="not an amount"):
            parse_amount(bad, "GBP")
