"""No dead ends in the settle flow: leave a bank step for another card, learn the bank has not
answered yet, see every open modal move on, find a card just added chosen, one option per card."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest

from tests.handlers.test_settle_flow import ADMIN, OTHER_ADMIN, local
from tests.harness import Harness, eventually
from tests.slack_requests import get, post

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def h(acme: Harness) -> Harness:
    return acme


def batch_ref(h: Harness, view_id: str) -> str:
    return str(h.view(view_id)["private_metadata"])


def test_use_another_card_abandons_the_bank_step_safely(h: Harness) -> None:
    view_id = h.settle_with(ADMIN, "pm_acme_4", "Verify with your bank")  # ·· 3184 always asks the bank
    bank_url = local(h, h.button_url(view_id, "verify_with_bank") or "")

    h.modal_action(view_id, ADMIN, "use_another_card", batch_ref(h, view_id))

    eventually(lambda: h.view(view_id).get("callback_id") == "settle_pick", message=h.view_text(view_id))
    # the bank's page can no longer approve the abandoned payment
    _status, page = post(bank_url, "decision=approve", FORM)
    assert "Payment declined" in page and "Payment approved" not in page
    inv = h.sandbox.get_invoice("in_acme_1")
    assert inv is not None and inv.status == "open"
    assert "verification_abandoned" in h.audit()
    assert "Bank verification pending" not in json.dumps(h.alert()["blocks"])
    # and the admin goes on with another card in the same modal
    h.choose(view_id, ADMIN, "pm_acme_2")
    h.confirm(view_id, ADMIN)
    eventually(lambda: "Paid." in h.view_text(view_id))
    assert [a.outcome for a in h.attempts()] == ["declined", "succeeded"]


def test_finished_verifying_before_the_bank_answered_says_so(h: Harness) -> None:
    view_id = h.settle_with(ADMIN, "pm_acme_4", "Verify with your bank")
    h.modal_action(view_id, ADMIN, "check_verification", batch_ref(h, view_id))
    eventually(lambda: "The bank has not confirmed yet" in h.view_text(view_id), message=h.view_text(view_id))


def test_every_modal_on_one_confirmation_moves_on(h: Harness) -> None:
    first = h.settle_with(ADMIN, "pm_acme_4", "Verify with your bank")
    second = h.open_modal(ADMIN, callback_id="settle_status")  # Settle balance again: the same bank step
    eventually(lambda: "Verify with your bank" in h.view_text(second))
    third = h.open_modal(OTHER_ADMIN, callback_id="settle_status")  # another admin meanwhile
    eventually(lambda: "is already settling this balance" in h.view_text(third))

    url = h.button_url(first, "verify_with_bank") or ""
    post(local(h, url), "decision=approve", FORM)

    for view_id in (first, second, third):
        eventually(lambda v=view_id: "Paid." in h.view_text(v), message=f"{view_id}: {h.view_text(view_id)}")


def test_a_card_added_on_the_hosted_page_is_chosen_and_one_card_is_one_option(h: Harness) -> None:
    view_id = h.open_modal(ADMIN)
    before = len(h.options(view_id))
    url = local(h, h.button_url(view_id, "add_method") or "")
    status, page = post(url, "number=4012+8888+8888+1881&exp=12%2F30", FORM)
    assert status == 422  # not one of Stripe's test cards: refused, and the link is not spent
    assert "The sandbox only accepts Stripe&#39;s test card numbers" in page  # written as it should read
    status, _ = post(url, "number=4242+4242+4242+4242&exp=11%2F31", FORM)
    assert status == 200

    def chosen() -> str | None:
        block = next((b for b in h.view(view_id)["blocks"] if b.get("block_id") == "method"), None)
        return (block or {}).get("element", {}).get("initial_option", {}).get("value")

    eventually(lambda: chosen() == "pm_acme_2", message=h.view_text(view_id))
    options = h.options(view_id)
    assert len(options) == before  # 4242 was already saved: the same card, not a second option
    assert "Expires 11/2031" in next(o for o in options if o["value"] == "pm_acme_2")["description"]["text"]
    assert "payment_method_added" in h.audit()


def test_a_card_declined_as_expired_is_not_offered_again_and_another_is_chosen(h: Harness, tmp_path: Path) -> None:
    from tests.conftest import account, load_accounts, write_accounts

    acc = account("expired", "4000000000000069", channel="C0EXP", admins=[ADMIN], extra_cards=["4242424242424242"])
    load_accounts(h.services, write_accounts(tmp_path / "b.yml", [acc]))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    view_id = h.open_modal(ADMIN, "in_expired_1")
    # declined as expired: not offered again, and the form says which card and why
    assert [o["value"] for o in h.options(view_id)] == ["pm_expired_2"]
    assert "Not offered: Visa ·· 0069, declined for good for this balance." in h.view_text(view_id)
    chosen = next(b for b in h.view(view_id)["blocks"] if b.get("block_id") == "method")["element"]["initial_option"]
    assert chosen["value"] == "pm_expired_2"


def test_refreshing_cards_is_not_another_opening(h: Harness) -> None:
    view_id = h.open_modal(ADMIN)
    ref = json.dumps({"k": "alert", "id": h.alert_row().id})
    for _ in range(3):
        h.modal_action(view_id, ADMIN, "refresh_methods", ref)
    eventually(lambda: len([c for c in h.fake.calls_to("views.update") if c.params.get("hash")]) == 3)
    assert h.audit().count("settle_form_opened") == 1


def test_the_bank_page_answer_is_the_banks_in_the_audit(h: Harness) -> None:
    view_id = h.settle_with(ADMIN, "pm_acme_4", "Verify with your bank")
    url = h.button_url(view_id, "verify_with_bank") or ""
    post(local(h, url), "decision=approve", FORM)
    eventually(lambda: "Paid." in h.view_text(view_id))
    from sqlalchemy import select

    from storage.db import transaction
    from storage.models import AuditEvent

    with transaction(h.services.sessions) as s:
        approved = s.scalars(select(AuditEvent).where(AuditEvent.action == "verification_approved")).one()
        assert approved.actor == "bank" and approved.detail["settlement_id"]
    assert urllib.parse.urlsplit(url).path.startswith("/sandbox/verify/")
    assert get(local(h, url))[0] == 200
