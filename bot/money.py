"""Money as integer minor units plus a currency; parsing and display without floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹", "CHF": "CHF ", "CAD": "CA$", "AUD": "A$"}
_ZERO_DECIMAL = {"JPY", "KRW", "VND", "CLP", "ISK", "HUF_LEGACY"}


def exponent(currency: str) -> int:
    return 0 if currency.upper() in _ZERO_DECIMAL else 2


def to_minor(amount: str | int | Decimal, currency: str) -> int:
    """Parse "129.00" into 12900 (for EUR); refuses fractions the currency cannot hold."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {amount!r}") from exc
    if not value.is_finite() or value <= 0:
        raise ValueError(f"amount must be positive: {amount!r}")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"too many decimals for {currency}: {amount!r}")
    return int(scaled)


def format_money(minor: int, currency: str) -> str:
    """12900, "EUR" -> "€129.00"; unknown currencies read "129.00 SEK"."""
    code = currency.upper()
    value = Decimal(minor).scaleb(-exponent(code))
    number = f"{value:,.{exponent(code)}f}"
    symbol = _SYMBOLS.get(code)
    return f"{symbol}{number}" if symbol else f"{number} {code}"


def to_decimal_str(minor: int, currency: str) -> str:
    """12900, "EUR" -> "129.00" (plain, for machine-readable output)."""
    return str(Decimal(minor).scaleb(-exponent(currency)))
