"""Issue 20's table, row by row: what kind each decline code is, and whether it bars the card."""

from __future__ import annotations

import pytest

from bot.domain.decline_reasons import KINDS, bars_the_card, catalogue_texts, explain, kind_of

ROWS = [
    ("authentication_required", "authenticate", False),
    ("authentication_failed", "authenticate", False),
    ("insufficient_funds", "funds", False),
    ("card_velocity_exceeded", "funds", False),
    ("withdrawal_count_limit_exceeded", "funds", False),
    ("try_again_later", "funds", False),
    ("lost_card", "hard", True),
    ("stolen_card", "hard", True),
    ("pickup_card", "hard", True),
    ("restricted_card", "hard", True),
    ("fraudulent", "hard", True),
    ("merchant_blacklist", "hard", True),
    ("card_not_supported", "hard", True),
    ("invalid_account", "hard", True),
    ("expired_card", "expired", True),
    ("generic_decline", "other", False),
    ("do_not_honor", "other", False),
    ("something_new", "other", False),
    (None, "other", False),
]


@pytest.mark.parametrize(("code", "kind", "bars"), ROWS)
def test_each_code_is_its_kind(code: str | None, kind: str, bars: bool) -> None:
    assert kind_of(code) == kind and bars_the_card(code) is bars


def test_every_row_of_the_table_is_walked_and_explained() -> None:
    assert set(KINDS) <= {code for code, _kind, _bars in ROWS}
    for code in KINDS:  # each has words of its own in the catalogue, not the fallback
        assert explain(code).why in catalogue_texts()
