"""Stripe's test card numbers and what each does in the sandbox."""

from __future__ import annotations

import hashlib

from bot.i18n import N_

# Behaviour codes are stored with the saved card; the number itself never is.
TEST_CARDS: dict[str, str] = {
    "4242424242424242": "succeeds",
    "4000000000000002": "generic_decline",
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
    "4000002500003155": "auth_off_session",  # renewals need bank verification; succeeds after it
    "4000002760003184": "auth_always",  # always needs bank verification
    "4000000000009987": "lost_card",
    "4000000000009979": "stolen_card",
    "4000000000000127": "incorrect_cvc",
    "4000000000000119": "processing_error",
    "5555555555554444": "succeeds",  # Mastercard
    "378282246310005": "succeeds",  # Amex
    "6011111111111117": "succeeds",  # Discover
    "3056930009020004": "succeeds",  # Diners
    "3566002020360505": "succeeds",  # JCB
    "6200000000000005": "succeeds",  # UnionPay
    "4000056655665556": "succeeds",  # Visa (debit)
    "2223003122003222": "succeeds",  # Mastercard (2-series)
    "5200828282828210": "succeeds",  # Mastercard (debit)
    "5105105105105100": "succeeds",  # Mastercard (prepaid)
    "371449635398431": "succeeds",  # Amex
    "6011000990139424": "succeeds",  # Discover
    "6011981111111113": "succeeds",  # Discover (debit)
    "36227206271667": "succeeds",  # Diners (14 digits)
    "6200000000000047": "succeeds",  # UnionPay (debit)
    "6205500000000000004": "succeeds",  # UnionPay (19 digits)
}


def fingerprint(number: str) -> str:
    """The same card number gives the same fingerprint, as Stripe's does: one card is one option.
    (The sandbox only ever sees Stripe's public test numbers.)"""
    return hashlib.sha256(f"settle-sandbox-card:{normalise(number)}".encode()).hexdigest()[:32]


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "Visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(number[:4] or 0) <= 2720:
        return "Mastercard"
    if number[:2] in {"34", "37"}:
        return "Amex"
    if number.startswith("6011") or number.startswith("65"):
        return "Discover"
    if number[:2] in {"30", "36", "38"}:
        return "Diners"
    if number.startswith("35"):
        return "JCB"
    if number.startswith("62"):
        return "UnionPay"
    return "Card"


def normalise(number: str) -> str:
    return "".join(ch for ch in str(number) if not ch.isspace() and ch != "-")


def classify(number: str) -> tuple[str, str, str]:
    """Return (brand, last4, behaviour) for a test card number, or raise ValueError."""
    digits = normalise(number)
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_ok(digits):
        raise ValueError(N_("Not a valid card number."))
    behaviour = TEST_CARDS.get(digits)
    if behaviour is None:
        raise ValueError(N_("The sandbox only accepts Stripe's test card numbers (e.g. 4242 4242 4242 4242)."))
    return brand_of(digits), digits[-4:], behaviour


def parse_expiry(text: str) -> tuple[int, int]:
    """ "12/29" or "12/2029" -> (12, 2029); ValueError for anything else."""
    month_s, sep, year_s = str(text).strip().partition("/")
    if not sep or not month_s.strip().isdigit() or not year_s.strip().isdigit():
        raise ValueError("expiry must look like MM/YY")
    month, year = int(month_s), int(year_s)
    year = year + 2000 if year < 100 else year
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise ValueError("expiry must look like MM/YY")
    return month, year
