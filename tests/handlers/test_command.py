"""/settle end to end: signed slash commands to the real endpoint, answered within Slack's 3 s with
the list, the help, a clear refusal, or the same settle form as the alert's button."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.handlers.test_settle_flow import ADMIN, OTHER_ADMIN, STRANGER
from tests.harness import Harness, eventually, running_server


@pytest.fixture
def h(sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Harness]:
    with running_server() as (base, services):
        harness = Harness(base, fake_slack, services)
        accounts = [
            account("acme", "4000000000009995", channel="C0ACME", admins=[ADMIN], extra_cards=["4242424242424242"]),
            account("acmeparts", "4000000000000002", channel="C0ACME", admins=[ADMIN]),
            account("globex", "4000000000000002", channel="C0GLOBEX", admins=["U0GLOBEX"]),
            account("initech", "4242424242424242", channel="C0INITECH", admins=[ADMIN]),  # pays: nothing open
        ]
        accounts[0]["name"] = "Acme Corp <!channel>"
        accounts[1]["name"] = "Acme Parts"
        load_accounts(services, write_accounts(tmp_path / "accounts.yml", accounts))
        harness.sandbox.bill()
        services.poller.run_cycle()
        yield harness


def answer(h: Harness, user: str, text: str = "") -> dict[str, Any]:
    resp, _ = h.command(user, text)
    assert resp.status == 200, resp
    if resp.body and not resp.body.startswith("{"):
        return {"text": resp.body}  # Bolt answers a text-only ack as plain text, which Slack shows as is
    return resp.json() or {}


def texts(message: dict[str, Any]) -> str:
    return message.get("text", "") + json.dumps(message.get("blocks", []), ensure_ascii=False)


def test_settle_alone_lists_what_the_caller_may_settle(h: Harness) -> None:
    mine = answer(h, ADMIN)
    assert mine["text"] == "2 open balances you may settle."
    body = texts(mine)
    assert "Acme Corp &lt;!channel&gt;" in body and "Acme Parts" in body and "€129.00 owed" in body
    assert "Globex" not in body and "Initech" not in body
    buttons = [b["accessory"] for b in mine["blocks"] if b.get("accessory")]
    assert [b["action_id"] for b in buttons] == ["settle_open", "settle_open"]

    everything = answer(h, OTHER_ADMIN)  # in SETTLE_ADMINS: every account
    assert everything["text"] == "3 open balances you may settle."
    assert answer(h, STRANGER)["text"] == "Nothing to settle: no open balance you may settle."


def test_a_listed_button_opens_the_same_settle_form(h: Harness) -> None:
    listed = answer(h, ADMIN)
    alert_id = next(b["accessory"]["value"] for b in listed["blocks"] if "Acme Parts" in json.dumps(b))
    resp, trigger = h.click(ADMIN, value=alert_id, invoice_id="in_acmeparts_1")
    assert resp.status == 200
    view_id = eventually(lambda: h.fake.view_by_trigger.get(trigger))
    eventually(lambda: h.view(view_id).get("callback_id") == "settle_pick", message=h.view_text(view_id))
    assert "Acme Parts" in h.view_text(view_id)


def test_settle_account_opens_its_form_directly(h: Harness) -> None:
    for typed in ("globex", "GLOBEX corp", "glob"):
        resp, trigger = h.command(OTHER_ADMIN, typed)
        assert resp.status == 200 and not resp.body, typed  # acked empty: the modal is the answer
        view_id = eventually(lambda trigger=trigger: h.fake.view_by_trigger.get(trigger), message=typed)
        eventually(lambda view_id=view_id: h.view(view_id).get("callback_id") == "settle_pick")
        assert "Globex Corp" in h.view_text(view_id)


def test_an_exact_match_wins_over_partial_ones(h: Harness) -> None:
    resp, trigger = h.command(ADMIN, "acme")  # the id of Acme Corp; also part of Acme Parts
    assert resp.status == 200
    view_id = eventually(lambda: h.fake.view_by_trigger.get(trigger))
    eventually(lambda: h.view(view_id).get("callback_id") == "settle_pick")
    assert "Acme Corp" in h.view_text(view_id)


def test_an_ambiguous_name_asks_which(h: Harness) -> None:
    reply = answer(h, ADMIN, "ac")
    assert reply["text"] == "Several accounts match ac."
    assert "Acme Corp" in texts(reply) and "Acme Parts" in texts(reply)
    assert not h.fake.calls_to("views.open")


def test_unknown_accounts_and_strangers_get_a_clear_answer(h: Harness) -> None:
    assert answer(h, ADMIN, "umbrella")["text"].startswith("No account matches `umbrella`.")
    assert answer(h, ADMIN, "initech")["text"] == "Initech Corp has no open balance: nothing to settle."
    refused = answer(h, STRANGER, "globex")["text"]
    assert refused.startswith("You can't settle Globex Corp's balance: only its billing admins can")
    assert "<@U0GLOBEX>" in refused
    assert not h.fake.calls_to("views.open")


def test_help(h: Harness) -> None:
    for word in ("help", "HELP", "?"):
        reply = answer(h, STRANGER, word)
        assert "`/settle ACCOUNT`" in texts(reply) and reply["text"] == "How to use /settle"


def test_markup_typed_after_settle_is_shown_as_text(h: Harness) -> None:
    reply = answer(h, ADMIN, "<!channel> `x`")
    assert "<!channel>" not in texts(reply) and "&lt;!channel&gt;" in texts(reply)


def test_a_long_list_shows_the_oldest_and_counts_the_rest(h: Harness, tmp_path: Path) -> None:
    many = [account(f"acct{i:02d}", "4000000000000002", channel="C0MANY", admins=[ADMIN]) for i in range(18)]
    load_accounts(h.services, write_accounts(tmp_path / "many.yml", many))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    reply = answer(h, ADMIN)
    assert reply["text"] == "20 open balances you may settle."
    assert len([b for b in reply["blocks"] if b.get("accessory")]) == 15
    assert "…and 5 more" in texts(reply)
    home = json.dumps(h.open_home(ADMIN)["blocks"], ensure_ascii=False)
    assert "Open balances you may settle: 20*" in home and "…and 5 more" in home
