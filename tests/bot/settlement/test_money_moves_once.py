"""The settlement service called directly (the unit tier): the sandbox provider, an in-memory Slack
(the demo's recording gateway), a database of its own. A confirmation charges each invoice once, a
declined card is the balance's last attempt, and a bank verification finishes when the bank answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import Settle, build
from bot.domain.errors import NotSettleable, Refused
from bot.domain.states import AlertState
from bot.domain.workspace import Requester
from bot.read.batches import BatchStatus
from bot.read.cards import card_of
from bot.settings import Settings
from bot.slack.recording import RecordingGateway
from storage.db import reading
from tests.conftest import account, load_accounts, write_accounts

ADMIN = Requester("U0ADMIN")
STRANGER = Requester("U0NOBODY")


@pytest.fixture
def settle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settle]:
    monkeypatch.chdir(tmp_path)
    for key in ("SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SETTLE_ADMINS"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings(
        DATABASE_URL=f"sqlite:///{tmp_path / 'unit.db'}",  # type: ignore[call-arg]
        SLACK_BOT_TOKEN="xoxb-unit",  # type: ignore[call-arg]
        SETTLE_ALERT_CHANNEL="CALERTS",  # type: ignore[call-arg]
    )
    built = build(settings, gateway=RecordingGateway())
    rows = [
        account("acme", "4000000000009995", extra_cards=["4242424242424242", "4000002760003184"], invoices=2),
    ]
    load_accounts(built, write_accounts(tmp_path / "a.yml", rows))
    built.provider.bill()  # type: ignore[attr-defined]
    built.poller.run_cycle()
    yield built
    built.close(wait=True)


def alert_id(settle: Settle) -> int:
    with reading(settle.sessions) as s:
        card = card_of(s, 1)
    assert card is not None
    return card.alert_id


def test_a_confirmation_charges_each_invoice_once_however_often_it_is_confirmed(settle: Settle) -> None:
    batch = settle.batches.choose(alert_id(settle), ADMIN, "pm_acme_2", None)
    assert [st.invoice_id for st in batch.settlements] == ["in_acme_1", "in_acme_2"]
    first = settle.batches.confirm(batch.id, ADMIN, False)
    again = settle.batches.confirm(batch.id, ADMIN, False)  # a double click, a retried request
    assert (first.outcome, again.outcome) == ("claimed", "duplicate")
    done = settle.charger.charge(batch.id)
    assert done.status == BatchStatus.SUCCEEDED
    assert settle.charger.charge(batch.id).status == BatchStatus.SUCCEEDED  # nothing left to charge
    attempts = settle.provider.status()["accounts"][0]["invoices"]  # type: ignore[attr-defined]
    assert [len([a for a in inv["attempts"] if a["outcome"] == "succeeded"]) for inv in attempts] == [1, 1]
    with reading(settle.sessions) as s:
        card = card_of(s, batch.alert_id)
    assert card is not None and card.state == AlertState.PAID and card.paid_by == ADMIN.user_id


def test_a_declined_card_is_the_balances_last_attempt(settle: Settle) -> None:
    batch = settle.batches.choose(alert_id(settle), ADMIN, "pm_acme_1", ["in_acme_1"])
    settle.batches.confirm(batch.id, ADMIN, False)
    assert settle.charger.charge(batch.id).status == BatchStatus.DECLINED
    with reading(settle.sessions) as s:
        card = card_of(s, batch.alert_id)
    assert card is not None and card.state == AlertState.OPEN
    attempt = card.last_attempt
    assert attempt is not None
    assert (attempt.kind, attempt.card, attempt.reason, attempt.by) == (
        "declined",
        "Visa ·· 9995",
        "insufficient_funds",
        "U0ADMIN",
    )


def test_a_bank_verification_finishes_when_the_bank_answers(settle: Settle) -> None:
    batch = settle.batches.choose(alert_id(settle), ADMIN, "pm_acme_3", ["in_acme_1"])
    settle.batches.confirm(batch.id, ADMIN, False)
    waiting = settle.charger.charge(batch.id)
    assert waiting.status == BatchStatus.REQUIRES_ACTION
    assert settle.recovery.check_verification(batch.id) is None  # the bank has not answered
    (st,) = waiting.settlements
    attempt = int(st.verification_url.split("/verify/")[1].split("?")[0])  # type: ignore[union-attr]
    settle.provider.complete_verification(attempt, approved=True)  # type: ignore[attr-defined]
    done = settle.recovery.check_verification(batch.id)
    assert done is not None and done.status == BatchStatus.SUCCEEDED


def test_rights_are_checked_at_every_step(settle: Settle) -> None:
    with pytest.raises(Refused):
        settle.batches.choose(alert_id(settle), STRANGER, "pm_acme_2", None)
    batch = settle.batches.choose(alert_id(settle), ADMIN, "pm_acme_2", None)
    with pytest.raises(Refused):
        settle.batches.confirm(batch.id, STRANGER, False)
    with pytest.raises(NotSettleable):
        settle.batches.confirm(99999, ADMIN, False)
