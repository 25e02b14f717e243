"""Bank decline codes in plain words, with what to do next."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.i18n import N_, _

_CODE = re.compile(r"[a-z0-9_]{1,64}")

# What kind of decline a code is: the kind decides the next step Settle offers (issue 20's table).
# "hard": the card must never be tried again for the balance (lost, stolen, fraud, blocked, not
# supported); "expired": the same, said as such; "funds": the card may work later; "authenticate":
# the cardholder must verify; anything else keeps the usual choice.
Kind = Literal["authenticate", "funds", "hard", "expired", "other"]
KINDS: dict[str, Kind] = {
    "authentication_required": "authenticate",
    "authentication_failed": "authenticate",
    "insufficient_funds": "funds",
    "card_velocity_exceeded": "funds",
    "withdrawal_count_limit_exceeded": "funds",
    "try_again_later": "funds",
    "lost_card": "hard",
    "stolen_card": "hard",
    "pickup_card": "hard",
    "restricted_card": "hard",
    "fraudulent": "hard",
    "merchant_blacklist": "hard",
    "card_not_supported": "hard",
    "invalid_account": "hard",
    "expired_card": "expired",
}


def kind_of(code: str | None) -> Kind:
    return KINDS.get(code or "", "other")


def bars_the_card(code: str | None) -> bool:
    """A card declined for this reason is never offered or charged again for the balance."""
    return kind_of(code) in ("hard", "expired")


@dataclass(frozen=True)
class Explanation:
    why: str
    next_step: str


_SHORT = {
    "authentication_required": N_("needs bank verification"),
    "insufficient_funds": N_("insufficient funds"),
    "expired_card": N_("expired"),
    "generic_decline": N_("declined by the bank"),
    "card_declined": N_("declined by the bank"),
    "do_not_honor": N_("declined by the bank"),
    "authentication_failed": N_("bank verification failed"),
    "incorrect_cvc": N_("wrong security code"),
    "processing_error": N_("bank processing error"),
    "lost_card": N_("reported lost"),
    "stolen_card": N_("reported stolen"),
    "card_velocity_exceeded": N_("over its limit"),
    "withdrawal_count_limit_exceeded": N_("over its limit"),
    "transaction_not_allowed": N_("not allowed by the bank"),
    "card_not_supported": N_("not supported"),
    "currency_not_supported": N_("currency not supported"),
    "try_again_later": N_("bank asked to retry later"),
    "incorrect_number": N_("wrong card number"),
    "invalid_expiry_year": N_("wrong expiry date"),
    "invalid_expiry_month": N_("wrong expiry date"),
    "call_issuer": N_("call the bank"),
    "pickup_card": N_("blocked by the bank"),
    "restricted_card": N_("blocked by the bank"),
    "fraudulent": N_("declined by the bank"),
    "merchant_blacklist": N_("declined by the bank"),
    "invalid_account": N_("account closed"),
}


def short(code: str | None) -> str:
    """A few words for a card's label in a list: "insufficient funds"."""
    return _(_SHORT.get(code or "", N_("declined")))


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
    "merchant_blacklist": Explanation(
        "The bank declined the card without giving a reason.",
        "Pay with another card, or ask the cardholder to contact their bank.",
    ),
    "invalid_account": Explanation("The card's account is closed or not valid.", "Pay with another card."),
    "restricted_card": Explanation("The bank has blocked the card.", "Pay with another card."),
}


def explain(code: str | None) -> Explanation:
    """In the reader's language (the texts above are the catalogue's message ids)."""
    if code and code in _REASONS:
        known = _REASONS[code]
        return Explanation(_(known.why), _(known.next_step))
    # a code Settle does not know is shown as the provider sent it, if it looks like one (outside text:
    # anything else, markup included, is not repeated)
    shown = code if code and _CODE.fullmatch(code) else None
    why = (
        _("The bank declined the payment ({code}).").format(code=shown)
        if shown
        else _("The bank declined the payment.")
    )
    return Explanation(why, _("Pay with another card, or ask the cardholder to contact their bank."))


def catalogue_texts() -> list[str]:
    """Every text above, for the test that each language has them all."""
    return [*_SHORT.values(), "declined", *(t for e in _REASONS.values() for t in (e.why, e.next_step))]
