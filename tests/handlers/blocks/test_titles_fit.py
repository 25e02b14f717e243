"""Every modal's title, close and submit label fits Slack's 24 characters in every language the
catalogue speaks: chosen to fit, never clipped (a Dutch title of 25 made "Snooze until a date…" fail
for every Dutch user). The labels are read from the builders' source, so a new modal is covered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.i18n import _, available, use
from handlers.blocks.mrkdwn import TITLE

HANDLERS = Path(__file__).resolve().parents[3] / "handlers"
# title=_("…"), close=clip(_("…"), TITLE), submit=… and the N_("…") constants a title names
LABEL = re.compile(r"""\b(?:title|close|submit)=(?:PlainTextObject\(text=)?(?:clip\()?_\(\s*"([^"]+)"\s*\)""")
CONSTANT = re.compile(r"""^([A-Z_]*TITLE[A-Z_]*) = N_\("([^"]+)"\)""", re.MULTILINE)


def labels() -> set[str]:
    found: set[str] = set()
    for path in HANDLERS.rglob("*.py"):
        source = path.read_text()
        found.update(LABEL.findall(source))
        found.update(msgid for _name, msgid in CONSTANT.findall(source))
    return found


def test_the_builders_are_read() -> None:
    assert {"Snooze this balance", "Confirm payment", "Settle balance"} <= labels()


@pytest.mark.parametrize("lang", available())
def test_every_modal_label_fits_slack_in_every_language(lang: str) -> None:
    with use(lang):
        too_long = {msgid: _(msgid) for msgid in labels() if len(_(msgid)) > TITLE}
    assert too_long == {}, f"longer than Slack's {TITLE} characters in {lang}: {too_long}"


@pytest.mark.parametrize("lang", available())
def test_the_charge_button_names_the_amount_or_only_the_verb(lang: str) -> None:
    from handlers.blocks.settle_modal import charge_label

    with use(lang):
        short, huge = charge_label("€1.00"), charge_label("US$ 123,456,789.00")
        assert len(short) <= TITLE and "1" in short
        assert huge == _("Charge") and len(huge) <= TITLE  # the verb whole, not "…afschrijv…"
