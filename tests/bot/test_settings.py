"""Settings an operator gets wrong are refused at start, in one line that says what is expected."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.settings import Settings


@pytest.mark.parametrize("url", ["settle.example.com", "ftp://settle.example.com", "https://", "https://x/?a=1"])
def test_a_public_url_that_slack_cannot_reach_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match=r"PUBLIC_URL|public_url"):
        Settings(PUBLIC_URL=url)


def test_a_public_url_is_kept_without_its_trailing_slash() -> None:
    assert Settings(PUBLIC_URL=" https://settle.example.com/ ").public_url == "https://settle.example.com"
    assert Settings(PUBLIC_URL="").public_url is None


@pytest.mark.parametrize("value", ["xml", "yes"])
def test_an_unknown_log_format_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="'text' or 'json'"):
        Settings(LOG_FORMAT=value)


def test_log_formats_are_read_loosely() -> None:
    assert Settings(LOG_FORMAT=" JSON ").log_format == "json"
    assert Settings(LOG_FORMAT="").log_format == "text"


def test_approval_thresholds_are_read_per_currency_in_minor_units() -> None:
    settings = Settings(SETTLE_APPROVAL_ABOVE="EUR 1000, usd 1000.50, JPY 50000", SETTLE_APPROVAL_EXPIRES="2h")
    assert settings.approval_above == {"EUR": 100000, "USD": 100050, "JPY": 50000}
    assert settings.approval_expires.total_seconds() == 7200
    assert Settings().approval_above == {}  # off by default


@pytest.mark.parametrize("value", ["1000", "EUR", "EUR lots", "EURO 10", "EUR -5", "E1 10"])
def test_a_threshold_that_is_not_an_amount_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="not an amount like 'EUR 1000'"):
        Settings(SETTLE_APPROVAL_ABOVE=value)
