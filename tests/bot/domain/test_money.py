from __future__ import annotations

import pytest

from bot.domain.money import format_money, to_decimal_str, to_minor


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (12900, "EUR", "€129.00"),
        (125000, "GBP", "£1,250.00"),
        (4850, "usd", "$48.50"),
        (500, "JPY", "¥500"),
        (12900, "SEK", "SEK 129.00"),
        (35000, "CHF", "CHF 350.00"),
        (1500, "BHD", "BHD 1.500"),
        (2500, "KWD", "KWD 2.500"),
    ],
)
def test_format(minor: int, currency: str, shown: str) -> None:
    assert format_money(minor, currency) == shown


def test_parse_without_floats() -> None:
    assert to_minor("129.00", "EUR") == 12900 and to_minor("0.1", "EUR") == 10 and to_minor(500, "JPY") == 500
    assert to_decimal_str(12900, "EUR") == "129.00"
    for bad in ("abc", "-1", "0", "1.005", "nan"):
        with pytest.raises(ValueError):
            to_minor(bad, "EUR")
    with pytest.raises(ValueError):
        to_minor("1.5", "JPY")
    assert to_minor("1.234", "BHD") == 1234 and to_minor("12.345", "KWD") == 12345  # three decimals
    with pytest.raises(ValueError, match="ISO 4217"):
        to_minor("1.00", "XYZ")
