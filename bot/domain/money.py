"""Money as integer minor units plus an ISO 4217 currency; parsing and display without floats.

Minor units and symbols come from Babel's copy of CLDR/ISO 4217 (BHD has 3 decimals, JPY none),
not from a table of our own."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision, is_currency

from bot.i18n import number_locale

LOCALE = "en_US"
_CODE_THEN_DIGIT = re.compile(r"^([A-Z]{2,3})(\d)")


def known(currency: str) -> bool:
    return len(currency) == 3 and currency.isascii() and is_currency(currency.upper())


def exponent(currency: str) -> int:
    return int(get_currency_precision(currency.upper()))


def to_minor(amount: str | int | Decimal, currency: str) -> int:
    """Parse "129.00" into 12900 (for EUR); refuses fractions the currency cannot hold."""
    if not known(currency):
        raise ValueError(f"not an ISO 4217 currency: {currency!r}")
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {amount!r}") from exc
    if not value.is_finite() or value <= 0:
        raise ValueError(f"amount must be positive: {amount!r}")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"too many decimals for {currency.upper()}: {amount!r}")
    return int(scaled)


def format_money(minor: int, currency: str) -> str:
    """12900, "EUR" -> "€129.00"; 35000, "CHF" -> "CHF 350.00"; 1500, "BHD" -> "BHD 1.500"."""
    code = currency.upper()
    if not known(code):
        return f"{minor} {code}"  # never raise while showing something
    value = Decimal(minor).scaleb(-exponent(code))
    shown = str(format_currency(value, code, locale=number_locale(), currency_digits=True))
    return _CODE_THEN_DIGIT.sub(r"\1 \2", shown)


def to_decimal_str(minor: int, currency: str) -> str:
    """12900, "EUR" -> "129.00" (plain, for machine-readable output)."""
    return str(Decimal(minor).scaleb(-exponent(currency)))
