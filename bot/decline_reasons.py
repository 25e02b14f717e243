"""Bank decline codes in plain words, with what to do next."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Explanation:
    why: str
    next_step: str


_SHORT = {
    "authentication_required": "needs bank verification",
    "insufficient_funds": "insufficient funds",
    "expired_card": "expired",
    "generic_decline": "declined by the bank",
    "card_declined": "declined by the bank",
    "do_not_honor": "declined by the bank",
    "authentication_failed": "bank verification failed",
    "incorrect_cvc": "wrong security code",
    "processing_error": "bank processing error",
    "lost_card": "reported lost",
    "stolen_card": "reported stolen",
    "card_velocity_exceeded": "over its limit",
    "withdrawal_count_limit_exceeded": "over its limit",
    "transaction_not_allowed": "not allowed by the bank",
    "card_not_supported": "not supported",
    "currency_not_supported": "currency not supported",
    "try_again_later": "bank asked to retry later",
    "incorrect_number": "wrong card number",
    "invalid_expiry_year": "wrong expiry date",
    "invalid_expiry_month": "wrong expiry date",
    "call_issuer": "call the bank",
    "pickup_card": "blocked by the bank",
    "restricted_card": "blocked by the bank",
    "fraudulent": "declined by the bank",
    "merchant_blacklist": "declined by the bank",
}


def short(code: str | None) -> str:
    """A few words for a card's label in a list: "insufficient funds"."""
    return _SHORT.get(code or "", "declined")


_REASONS: dict[str, Explanation] = {
    "authentication_required": Explanation(
        "The bank requires the cardholder to verify this payment (Strong Customer Authentication), "
        "so the automatic renewal could not go through.",
        "Settle the balance and complete the bank's verification, or pay with another card.",
    ),
    "insufficient_funds": Explanation(
        "The card has insufficient funds.",
        "Pay with another card, or retry once the account has funds.",
    ),
    "expired_card": Explanation(
        "The card has expired.",
        "Add a new card or pay with another saved card.",
    ),
    "generic_decline": Explanation(
        "The bank declined the card without giving a reason.",
        "Pay with another card, or ask the cardholder to contact their bank.",
    ),
    "card_declined": Explanation(
        "The bank declined the card.",
        "Pay with another card, or ask the cardholder to contact their bank.",
    ),
    "authentication_failed": Explanation(
        "The bank verification was declined or not completed.",
        "Try again and approve the verification, or pay with another card.",
    ),
    "incorrect_cvc": Explanation("The card's security code was wrong.", "Re-enter the card or use another."),
    "processing_error": Explanation(
        "The bank had a processing error.", "Try again in a few minutes, or use another card."
    ),
    "lost_card": Explanation("The card was reported lost.", "Pay with another card."),
    "stolen_card": Explanation("The card was reported stolen.", "Pay with another card."),
    "do_not_honor": Explanation(
        "The bank declined the card without giving a reason.",
        "Pay with another card, or ask the cardholder to contact their bank.",
    ),
    "card_velocity_exceeded": Explanation(
        "The card is over its balance, credit limit or transaction limit.",
        "Pay with another card, or ask the cardholder to contact their bank.",
    ),
    "withdrawal_count_limit_exceeded": Explanation(
        "The card is over its balance or credit limit.", "Pay with another card."
    ),
    "transaction_not_allowed": Explanation(
        "The bank does not allow this kind of payment on the card.",
        "Pay with another card, or ask the cardholder to contact their bank.",
    ),
    "card_not_supported": Explanation("The card does not support this kind of payment.", "Pay with another card."),
    "currency_not_supported": Explanation(
        "The card does not support the invoice's currency.", "Pay with another card."
    ),
    "try_again_later": Explanation(
        "The bank declined for now and asked to try again later.", "Try again in a little while, or use another card."
    ),
    "incorrect_number": Explanation("The card number is wrong.", "Add the card again, or use another."),
    "invalid_expiry_year": Explanation("The card's expiry date is wrong.", "Add the card again, or use another."),
    "invalid_expiry_month": Explanation("The card's expiry date is wrong.", "Add the card again, or use another."),
    "call_issuer": Explanation(
        "The bank declined for a reason it did not give.", "Ask the cardholder to call their bank, or use another card."
    ),
    # Stripe asks not to tell a customer that a decline was for suspected fraud: said as a plain decline
    "fraudulent": Explanation(
        "The bank declined the card without giving a reason.",
        "Pay with another card, or ask the cardholder to contact their bank.",
    ),
    "pickup_card": Explanation("The bank has blocked the card.", "Pay with another card."),
    "restricted_card": Explanation("The bank has blocked the card.", "Pay with another card."),
}


def explain(code: str | None) -> Explanation:
    if code and code in _REASONS:
        return _REASONS[code]
    shown = f" ({code})" if code else ""
    return Explanation(
        f"The bank declined the payment{shown}.",
        "Pay with another card, or ask the cardholder to contact their bank.",
    )
