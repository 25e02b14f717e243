"""What Settle offers for a declined balance, chosen by the kind of decline (issue 20's table). The
alert, the settle form, /settle and App Home all read `steps_for`; a test walks every row."""

from __future__ import annotations

from typing import Literal

from bot.domain.decline_reasons import Kind, kind_of
from bot.i18n import N_

# settle: pay it now with a card (every kind); send_page: the customer pays on the provider's own
# page (the bank wants the cardholder, who is not the admin); retry_on: charge the card again on a
# date (it may have funds then); new_card: ask the customer for another card (this one is done)
Step = Literal["settle", "send_page", "retry_on", "new_card"]
STEPS: dict[Kind, tuple[Step, ...]] = {
    "authenticate": ("settle", "send_page"),
    "funds": ("settle", "retry_on"),
    "hard": ("settle", "new_card"),
    "expired": ("settle", "new_card"),
    "other": ("settle",),
}
# the button that takes each step, and the hint a list shows for it
LABELS: dict[Step, str] = {
    "settle": N_("Settle balance"),
    "send_page": N_("Send payment page"),
    "retry_on": N_("Retry on a date"),
    "new_card": N_("Ask for a new card"),
}
HINTS: dict[Step, str] = {
    "settle": N_("settle it"),
    "send_page": N_("send the customer the payment page"),
    "retry_on": N_("retry on a date"),
    "new_card": N_("ask the customer for a new card"),
}


def steps_for(code: str | None) -> tuple[Step, ...]:
    return STEPS[kind_of(code)]


def extra_step(code: str | None) -> Step | None:
    """The step the reason adds beside settling, if any."""
    steps = steps_for(code)
    return steps[1] if len(steps) > 1 else None
