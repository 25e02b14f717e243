"""Dutch and English: each person reads Settle in their Slack language (modals, ephemerals, /settle,
App Home), a channel reads an account's alerts in the account's language, amounts as that language
writes them; every text in the code has a translation in every catalogue."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.i18n import _, use
from tests.conftest import ROOT, account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.handlers.test_settle_flow import ADMIN, STRANGER, setup
from tests.harness import Harness, eventually, running_server


@pytest.fixture
def h(sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Harness]:
    with running_server() as (base, services):
        harness = Harness(base, fake_slack, services)
        setup(harness, tmp_path)
        yield harness


def test_a_dutch_admin_settles_in_dutch(h: Harness) -> None:
    h.fake.locales[ADMIN] = "nl-NL"
    view_id = h.open_modal(ADMIN)
    view = h.view(view_id)
    text = h.view_text(view_id)
    assert view["title"]["text"] == "Saldo voldoen" and view["submit"]["text"] == "Doorgaan"
    assert "*Acme Corp* heeft *€\xa0129,00* openstaan" in text and "Betalen met" in text
    assert "Verloopt 12/" in text and "Nieuwe kaart toevoegen" in text
    assert "Het saldo op de kaart is onvoldoende." in text  # the decline's reason, in Dutch

    h.choose(view_id, ADMIN, "pm_acme_2")
    assert h.view(view_id)["title"]["text"] == "Betaling bevestigen"
    assert "*€\xa0129,00* betalen met *Visa ·· 4242*" in h.view_text(view_id)
    h.confirm(view_id, ADMIN)
    paid = "✅ *Betaald.* €\xa0129,00 is in rekening gebracht op Visa ·· 4242"
    eventually(lambda: paid in h.view_text(view_id), message=h.view_text(view_id))
    # the channel's alert stays in the account's language (English here)
    assert h.alert()["text"].startswith("Settled by <@U0ADMIN>: Acme Corp paid €129.00")


def test_refusals_and_slash_commands_follow_the_reader(h: Harness) -> None:
    h.fake.locales[STRANGER] = "nl-BE"
    h.click(STRANGER)
    eventually(lambda: h.fake.calls_to("chat.postEphemeral"))
    assert (
        h.fake.calls_to("chat.postEphemeral")[-1]
        .params["text"]
        .startswith("Je kunt het saldo van Acme Corp niet voldoen")
    )
    resp, _trigger = h.command(STRANGER, "help")
    assert resp.json()["text"] == "Zo gebruik je /settle"
    h.fake.locales[ADMIN] = "nl-NL"
    resp, _trigger = h.command(ADMIN)
    listed = json.dumps(resp.json(), ensure_ascii=False)
    assert "1 open saldo dat je mag voldoen." in listed and "€\xa0129,00 openstaand" in listed


def test_app_home_in_dutch(h: Harness) -> None:
    h.fake.locales[ADMIN] = "nl-NL"
    home = json.dumps(h.open_home(ADMIN)["blocks"], ensure_ascii=False)
    assert "Settle: geweigerde betalingen" in home and "Open saldi die je mag voldoen: 1*" in home
    assert "Saldo voldoen" in home


def test_an_account_in_dutch_gets_its_alerts_in_dutch(h: Harness, tmp_path: Path) -> None:
    acc = account("bakkerij", "4000000000009995", channel="C0NL", admins=[ADMIN])
    acc["name"], acc["language"] = "Bakkerij de Vries", "nl"
    load_accounts(h.services, write_accounts(tmp_path / "nl.yml", [acc]))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    (msg,) = [m for m in h.fake.messages("C0NL")]
    assert msg["text"].startswith("Betaling met Visa ·· 9995 geweigerd: Bakkerij de Vries heeft €\xa0129,00 openstaan.")
    blocks = json.dumps(msg["blocks"], ensure_ascii=False)
    assert "⚠️ Betaling geweigerd: Bakkerij de Vries" in blocks and "Saldo voldoen" in blocks
    assert "1 dag sluimeren" in blocks and "Toewijzen aan…" in blocks


def test_unknown_languages_fall_back_to_english(h: Harness) -> None:
    h.fake.locales[ADMIN] = "ja-JP"
    view_id = h.open_modal(ADMIN)
    assert h.view(view_id)["title"]["text"] == "Settle balance"


def test_every_text_has_every_translation_with_the_same_placeholders() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    from catalogue import catalogues, problems, texts

    assert [p.parent.parent.name for p in catalogues()] == ["nl"]
    assert [p for path in catalogues() for p in problems(path)] == []
    placeholder = re.compile(r"\{[a-z_]+\}")
    with use("nl"):
        for msgid in texts():
            source = msgid[0] if isinstance(msgid, tuple) else msgid
            translated = _(source)
            assert sorted(placeholder.findall(translated)) == sorted(placeholder.findall(source)), source
