"""Settling a balance from Slack, end to end: signed requests to the real endpoint, the fake Slack,
the sandbox provider and a real database."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.harness import Harness, eventually, running_server
from tests.slack_requests import get, post

ADMIN = "U0ADMIN"
OTHER_ADMIN = "UGLOBAL"  # in SETTLE_ADMINS
STRANGER = "U0STRANGER"


def setup(h: Harness, tmp_path: Path, default: str = "4000000000009995", extra: list[str] | None = None) -> None:
    """Acme's renewal is declined on its default card, then the poller posts the alert."""
    cards = ["4242424242424242", "4000000000000002", "4000002760003184"] if extra is None else extra
    acc = account("acme", default, channel="C0ACME", admins=[ADMIN], extra_cards=cards)
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [acc]))
    h.sandbox.bill()
    h.services.poller.run_cycle()


@pytest.fixture
def h(env: dict[str, str], fake_slack: FakeSlack) -> Iterator[Harness]:
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


@pytest.fixture
def h1(sqlite_env: dict[str, str], fake_slack: FakeSlack) -> Iterator[Harness]:
    """The same on SQLite only, for behaviour that does not depend on the database."""
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


def local(h: Harness, url: str) -> str:
    return url.replace("http://settle.test", h.base)


def test_admin_settles_with_visa_4242(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = h.open_modal(ADMIN)

    # the modal: account, invoice, amount, declined card and why, every saved card
    text = h.view_text(view_id)
    assert "Acme Corp" in text and "€129.00" in text and "The renewal was declined on Visa ·· 9995" in text
    options = {o["value"]: o for o in h.options(view_id)}
    assert set(options) == {"pm_acme_1", "pm_acme_2", "pm_acme_3", "pm_acme_4"}
    assert "default" in options["pm_acme_1"]["description"]["text"]
    assert "declined" in options["pm_acme_1"]["description"]["text"]
    assert "Expires 12/" in options["pm_acme_2"]["description"]["text"]
    initial = next(b for b in h.view(view_id)["blocks"] if b.get("block_id") == "method")["element"]
    assert initial.get("initial_option", {}).get("value") == "pm_acme_2"  # never the declined card

    resp = h.choose(view_id, ADMIN, "pm_acme_2")
    assert resp.status == 200 and resp.json()["response_action"] == "push"  # on top of the choice
    confirm = h.view(view_id)
    assert confirm["callback_id"] == "settle_confirm" and confirm["close"]["text"] == "Back"
    assert "Charge *€129.00* to *Visa ·· 4242* for *Acme Corp*" in h.view_text(view_id)
    h.back(view_id)  # Back: the choice again, as it was
    assert h.view(view_id)["callback_id"] == "settle_pick" and h.view(view_id)["id"] == view_id
    h.choose(view_id, ADMIN, "pm_acme_2")

    resp = h.confirm(view_id, ADMIN, make_default=True)
    assert resp.status == 200 and "Charging" in resp.body
    eventually(lambda: "Paid." in h.view_text(view_id), message="modal never said paid")

    inv = h.sandbox.get_invoice("in_acme_1")
    assert inv is not None and inv.status == "paid"
    assert [a.outcome for a in h.attempts()] == ["succeeded"]
    assert next(m for m in h.sandbox.list_payment_methods("acme") if m.is_default).id == "pm_acme_2"

    alert = h.alert()
    assert alert["text"].startswith("Settled by <@U0ADMIN>: Acme Corp paid €129.00")
    blocks = json.dumps(alert["blocks"], ensure_ascii=False)
    assert "Settle balance" not in blocks and "*Acme Corp* paid €129.00 by <@U0ADMIN> with Visa ·· 4242" in blocks
    replies = [m for m in h.fake.messages("C0ACME") if m.get("thread_ts") == alert["ts"]]
    assert len(replies) == 1 and "Settled by <@U0ADMIN>" in replies[0]["text"]

    actions = h.audit()
    for step in (
        "settle_form_opened",
        "method_chosen",
        "charge_confirmed",
        "charge_attempted",
        "charge_succeeded",
        "default_method_changed",
    ):
        assert step in actions, step


def test_bank_verification_round_trip_ends_paid(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = h.settle_with(ADMIN, "pm_acme_4", "Verify with your bank")  # ·· 3184: always asks the bank
    assert h.alert()["text"] == "Acme Corp owes €129.00; a payment is waiting for bank verification."

    url = h.button_url(view_id, "verify_with_bank")
    status, page = get(local(h, url))
    assert status == 200 and "Approve" in page and "€129.00" in page
    path = urllib.parse.urlsplit(url)
    status, done = post(local(h, url), "decision=approve", {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and "Payment approved" in done, path

    eventually(lambda: "Paid." in h.view_text(view_id), message="modal did not update after the bank step")
    inv = h.sandbox.get_invoice("in_acme_1")
    assert inv is not None and inv.status == "paid"
    assert "Settle balance" not in json.dumps(h.alert()["blocks"])
    assert "verification_required" in h.audit() and "verification_approved" in h.audit()
    assert get(local(h, url))[1].count("Payment approved") == 1  # the page stays answered


def test_verification_finished_elsewhere_is_picked_up_by_the_next_poll(h1: Harness, tmp_path: Path) -> None:
    h = h1
    setup(h, tmp_path)
    view_id = h.settle_with(ADMIN, "pm_acme_4", "Verify with your bank")
    attempt = h.attempts()[0]
    h.sandbox.complete_verification(attempt.id, approved=True)  # no callback: the bank answered elsewhere

    report = h.services.poller.run_cycle()

    assert report.settlements == 1
    assert h.alert()["text"].startswith("Settled by <@U0ADMIN>: Acme Corp paid €129.00")
    assert "Paid." in h.view_text(view_id)


def test_declined_verification_shows_as_a_decline(h1: Harness, tmp_path: Path) -> None:
    h = h1
    setup(h, tmp_path)
    view_id = h.settle_with(ADMIN, "pm_acme_4", "Verify with your bank")
    url = h.button_url(view_id, "verify_with_bank")
    post(local(h, url), "decision=decline", {"Content-Type": "application/x-www-form-urlencoded"})

    eventually(lambda: "was declined" in h.view_text(view_id))
    assert "verification was declined" in h.view_text(view_id)
    assert h.view(view_id)["callback_id"] == "settle_pick"  # pick another method
    inv = h.sandbox.get_invoice("in_acme_1")
    assert inv is not None and inv.status == "open"
    blocks = json.dumps(h.alert()["blocks"])
    assert "Settle balance" in blocks and "Last attempt" in blocks


def test_declined_card_explains_and_invoice_stays_open(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_3")  # ·· 0002
    h.confirm(view_id, ADMIN)

    eventually(lambda: "Visa ·· 0002 was declined" in h.view_text(view_id))
    alert_text = json.dumps(h.alert()["blocks"], ensure_ascii=False)
    assert alert_text.count("The bank declined the card without giving a reason") <= 1  # no sentence twice
    last = "*Last attempt:* <@U0ADMIN>'s payment with Visa ·· 0002 did not go through: declined by the bank."
    assert last in alert_text
    declined = [a for a in h.attempts(on_session=False) + h.attempts() if a.outcome == "declined"]
    assert f"{len(declined)} declines so far" in alert_text  # the renewal's and the admin's
    assert h.view(view_id)["callback_id"] == "settle_pick"
    assert "declined the card without giving a reason" in h.view_text(view_id)
    inv = h.sandbox.get_invoice("in_acme_1")
    assert inv is not None and inv.status == "open"
    assert "Settle balance" in json.dumps(h.alert()["blocks"])  # still settleable

    # and the admin can go on with another card in the same modal
    h.choose(view_id, ADMIN, "pm_acme_2")
    h.confirm(view_id, ADMIN)
    eventually(lambda: "Paid." in h.view_text(view_id))
    assert [a.outcome for a in h.attempts()] == ["declined", "succeeded"]


@pytest.mark.parametrize(
    ("card", "outcome"),
    [
        ("4000000000009995", "insufficient funds"),
        ("4000000000000069", "has expired"),
        ("4000002500003155", "Verify with your bank"),
    ],
)
def test_each_card_outcome_in_the_modal(h1: Harness, tmp_path: Path, card: str, outcome: str) -> None:
    h = h1
    setup(h, tmp_path, default="4000000000000002", extra=[card])
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_2")
    h.confirm(view_id, ADMIN)
    eventually(lambda: outcome in h.view_text(view_id), message=h.view_text(view_id))


def test_stranger_gets_an_ephemeral_and_no_modal(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    resp, trigger = h.click(STRANGER)
    assert resp.status == 200
    eph = eventually(lambda: h.fake.calls_to("chat.postEphemeral"))
    text = eph[0].params["text"]
    assert eph[0].params["user"] == STRANGER and "only its billing admins" in text and "<@U0ADMIN>" in text
    assert h.fake.calls_to("views.open") == [] and trigger not in h.fake.view_by_trigger
    assert "settle_refused" in h.audit()


def test_user_group_admin_may_settle_and_membership_is_cached(h1: Harness, tmp_path: Path) -> None:
    h = h1
    h.fake.usergroups["SADMINS"] = ["UGROUPIE"]
    setup(h, tmp_path)
    h.open_modal("UGROUPIE")
    h.open_modal("UGROUPIE")
    assert len(h.fake.calls_to("usergroups.users.list")) == 1


def test_forged_submissions_change_nothing(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_2")
    confirm = h.view(view_id)

    # a non-admin replays the admin's confirmation view: Slack is answered at once, and the view says why
    resp = h.confirm(view_id, STRANGER)
    assert resp.status == 200
    eventually(lambda: "only its billing admins" in h.view_text(view_id), message=h.view_text(view_id))
    # another admin replays it too: it is not theirs to confirm
    with h.fake.lock:
        h.fake.views[h.fake.top_of(view_id)] = confirm
    h.confirm(view_id, OTHER_ADMIN)
    eventually(lambda: "belongs to another admin" in h.view_text(view_id), message=h.view_text(view_id))
    # a stranger forging a pick for the admin's alert
    with h.fake.lock:
        h.fake.views[h.fake.top_of(view_id)] = {
            **confirm,
            "callback_id": "settle_pick",
            "private_metadata": json.dumps({"k": "alert", "id": h.alert_row().id}),
        }
    h.choose(view_id, STRANGER, "pm_acme_2")
    eventually(lambda: "only its billing admins" in h.view_text(view_id), message=h.view_text(view_id))

    assert h.attempts() == []
    inv = h.sandbox.get_invoice("in_acme_1")
    assert inv is not None and inv.status == "open"


def test_ten_concurrent_confirmations_charge_once(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_2")
    confirm = h.view(view_id)

    def submit(_: int) -> int:
        return h.submit(
            view_id, ADMIN, {"make_default": {"make_default": {"selected_options": []}}}, view_override=confirm
        ).status

    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(submit, range(10)))
    assert statuses == [200] * 10
    eventually(lambda: h.sandbox.get_invoice("in_acme_1").status == "paid")  # type: ignore[union-attr]
    assert len(h.attempts()) == 1
    assert h.audit().count("charge_attempted") == 1


def test_a_burst_of_submissions_is_acked_while_each_ones_authorisation_waits_on_slack(
    h: Harness, tmp_path: Path
) -> None:
    """A group admin's 120 Charge submissions at once, with the group's membership not cached and
    Slack slow to list it: the check of each submission runs after its ack, and no ack waits for
    the checks of the submissions before it (they held the listener threads, and 4 of 120 missed
    Slack's 3 seconds). One charge."""
    setup(h, tmp_path)
    h.fake.usergroups["SADMINS"] = ["UGROUPIE"]
    view_id = h.open_modal("UGROUPIE")
    h.choose(view_id, "UGROUPIE", "pm_acme_2")
    confirm = h.view(view_id)
    h.services.access._groups.clear()  # the membership read a minute ago has expired
    h.fake.delay.update({"usergroups.users.list": 4.0})  # longer than Slack waits for an ack

    def submit(_: int) -> tuple[int, object]:
        resp = h.submit(
            view_id, "UGROUPIE", {"make_default": {"make_default": {"selected_options": []}}}, view_override=confirm
        )
        return resp.status, (resp.json() or {}).get("response_action") if resp.status == 200 else resp.body

    with ThreadPoolExecutor(120) as pool:
        answers = list(pool.map(submit, range(120)))
    assert [a for a in answers if a != (200, "update")] == []
    h.fake.delay.clear()
    eventually(lambda: h.sandbox.get_invoice("in_acme_1").status == "paid", timeout=30)  # type: ignore[union-attr]
    assert len(h.attempts()) == 1


def test_two_admins_at_once_charge_once(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    first, second = h.open_modal(ADMIN), h.open_modal(OTHER_ADMIN)
    h.choose(first, ADMIN, "pm_acme_2")
    h.choose(second, OTHER_ADMIN, "pm_acme_2")
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda args: h.confirm(*args), [(first, ADMIN), (second, OTHER_ADMIN)])
    assert {a.status, b.status} == {200}
    eventually(lambda: h.sandbox.get_invoice("in_acme_1").status == "paid")  # type: ignore[union-attr]
    assert len(h.attempts()) == 1
    # both were answered at once; then one modal shows the payment, the other who is settling it
    shown = eventually(
        lambda: (
            sorted(h.view_text(v) for v in (first, second))
            if all(
                "Paid." in h.view_text(v) or "is already settling this balance" in h.view_text(v)
                for v in (first, second)
            )
            else None
        )
    )
    assert sum("Paid." in text for text in shown) == 1
    assert sum("is already settling this balance" in text for text in shown) == 1


def test_settled_invoice_cannot_be_charged_again(h1: Harness, tmp_path: Path) -> None:
    h = h1
    setup(h, tmp_path)
    stale = h.open_modal(ADMIN)
    h.choose(stale, ADMIN, "pm_acme_2")
    view_id = h.open_modal(OTHER_ADMIN)
    h.choose(view_id, OTHER_ADMIN, "pm_acme_2")
    h.confirm(view_id, OTHER_ADMIN)
    eventually(lambda: "Paid." in h.view_text(view_id))

    resp = h.confirm(stale, ADMIN)  # a view left open from before
    assert resp.status == 200
    eventually(lambda: "already" in h.view_text(stale), message=h.view_text(stale))
    assert len(h.attempts()) == 1
    resp, _ = h.click(ADMIN, value=str(h.alert_row().id))  # an old copy of the button
    assert resp.status == 200
    eventually(
        lambda: any("This balance is already paid by <@UGLOBAL>" in json.dumps(v) for v in h.fake.views.values())
    )


def test_add_a_card_on_the_hosted_page_and_it_appears(h1: Harness, tmp_path: Path) -> None:
    h = h1
    setup(h, tmp_path, extra=[])
    view_id = h.open_modal(ADMIN)
    url = h.button_url(view_id, "add_method")
    status, form = get(local(h, url))
    assert status == 200 and "Card number" in form

    form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert post(local(h, url), "number=4242+4242+4242+4241&exp=12%2F30", form_headers)[0] == 422
    assert post(local(h, url), "number=4242424242424242&exp=12%2F99999999999", form_headers)[0] == 422
    assert (
        post(local(h, url.replace("token=", "token=9")), "number=4242424242424242&exp=12%2F30", form_headers)[0] == 403
    )
    status, page = post(local(h, url), "number=4242+4242+4242+4242&exp=12%2F30&default=on", form_headers)
    assert status == 200 and "Visa ·· 4242" in page and "4242424242424242" not in page

    eventually(lambda: len(h.options(view_id)) == 2, message="the new card never showed in the modal")
    assert next(m for m in h.sandbox.list_payment_methods("acme") if m.is_default).card.last4 == "4242"

    # the link is spent: it cannot add (or make default) another card
    again = post(local(h, url), "number=4000+0000+0000+0002&exp=12%2F30&default=on", form_headers)
    assert again[0] == 410 and "already used" in again[1]
    assert get(local(h, url))[0] == 410
    assert len(h.sandbox.list_payment_methods("acme")) == 2


def test_refresh_button_reloads_cards(h1: Harness, tmp_path: Path) -> None:
    h = h1
    setup(h, tmp_path, extra=[])
    view_id = h.open_modal(ADMIN)
    assert len(h.options(view_id)) == 1
    h.sandbox.add_card("acme", "4242424242424242", 12, 2030, make_default=False)
    resp = h.modal_action(view_id, ADMIN, "refresh_methods", json.dumps({"k": "alert", "id": h.alert_row().id}))
    assert resp.status == 200
    eventually(lambda: len(h.options(view_id)) == 2)


def test_closed_modal_still_learns_the_outcome(h1: Harness, tmp_path: Path) -> None:
    h = h1
    setup(h, tmp_path)
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_2")
    h.fake.failing["views.update"] = "not_found"  # the admin closed the modal meanwhile
    h.confirm(view_id, ADMIN)
    eph = eventually(lambda: [c for c in h.fake.calls_to("chat.postEphemeral") if "Paid" in c.params["text"]])
    assert eph[0].params["user"] == ADMIN
    assert h.alert()["text"].startswith("Settled by <@U0ADMIN>:")


def _age(h: Harness, status: str, minutes: float) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from storage.db import transaction
    from storage.models import Settlement

    with transaction(h.services.sessions) as s:
        s.execute(
            update(Settlement)
            .where(Settlement.status == status)
            .values(updated_at=datetime.now(UTC) - timedelta(minutes=minutes))
        )


def test_abandoned_verification_frees_the_invoice(h1: Harness, tmp_path: Path) -> None:
    h = h1
    setup(h, tmp_path)
    h.settle_with(ADMIN, "pm_acme_4", "Verify with your bank")
    _age(h, "requires_action", 31)

    h.services.poller.run_cycle()

    assert "was never verified with the bank" in json.dumps(h.alert()["blocks"])
    assert "verification_expired" in h.audit()
    again = h.open_modal(OTHER_ADMIN)  # someone else can settle it now
    h.choose(again, OTHER_ADMIN, "pm_acme_2")
    h.confirm(again, OTHER_ADMIN)
    eventually(lambda: "Paid." in h.view_text(again))


def test_charge_interrupted_by_a_crash_is_finished_with_the_same_key(h1: Harness, tmp_path: Path) -> None:
    """A settlement left 'charging' (the process died around the provider call) is retried by the
    poller with its idempotency key: the provider replays, so the card is charged once."""
    from storage.db import transaction
    from storage.models import ModalView, Settlement

    h = h1
    setup(h, tmp_path)
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_2")
    with transaction(h.services.sessions) as s:
        st = s.query(Settlement).one()
        st.status = "charging"  # confirmed (the outcome goes to the confirmation on top)...
        key = st.idempotency_key
        s.add(ModalView(role="owner", user_id=ADMIN, batch_id=st.batch_id, view_id=h.fake.top_of(view_id)))
    h.sandbox.pay_invoice("in_acme_1", "pm_acme_2", idempotency_key=key)  # ...charged, then the crash
    _age(h, "charging", 2)

    report = h.services.poller.run_cycle()

    assert report.settlements == 1
    assert len(h.attempts()) == 1
    assert h.alert()["text"].startswith("Settled by <@U0ADMIN>: Acme Corp paid €129.00")
    # the poller that finished the charge also told the admin's modal, which said "Charging…"
    assert "Paid." in h.view_text(view_id)


def test_a_card_declined_for_good_is_never_offered_or_charged_again(h: Harness, tmp_path: Path) -> None:
    """A lost card at renewal, a stolen one tried by an admin: neither is offered again for this
    balance, and a choice of one (a forged or stale form) charges nothing."""
    setup(h, tmp_path, default="4000000000009987", extra=["4000000000009979", "4242424242424242"])
    view_id = h.open_modal(ADMIN)
    offered = [o["value"] for o in h.options(view_id)]
    assert "pm_acme_1" not in offered and {"pm_acme_2", "pm_acme_3"} <= set(offered)
    assert "Not offered: Visa ·· 9987, declined for good for this balance." in h.view_text(view_id)
    h.choose(view_id, ADMIN, "pm_acme_2")  # the stolen card: declined
    h.confirm(view_id, ADMIN)
    eventually(lambda: "was declined" in h.view_text(view_id), message=h.view_text(view_id))
    again = h.open_modal(ADMIN)
    assert [o["value"] for o in h.options(again)] == ["pm_acme_3"]
    before = len(h.attempts())
    resp = h.choose(again, ADMIN, "pm_acme_1")  # a stale form's lost card
    assert resp.status == 200
    eventually(lambda: "no longer on the account" in h.view_text(again) or "pick another" in h.view_text(again).lower())
    assert len(h.attempts()) == before and h.sandbox.get_invoice("in_acme_1").status == "open"  # type: ignore[union-attr]
