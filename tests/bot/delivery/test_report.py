"""The recovered-revenue report: built from Settle's own records for a month, printed by `settle
report`, drawn as a chart, and posted once a month to the alert channel with files_upload_v2."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from bot.read.report import build_report, previous_month
from storage.db import reading
from tests.conftest import run_cli
from tests.handlers.test_settle_flow import ADMIN, local
from tests.harness import Harness, eventually
from tests.slack_requests import post

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def h(acme_any_db: Harness) -> Harness:
    return acme_any_db


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def test_a_month_of_declines_recoveries_and_open_balances(h: Harness, tmp_path: Path) -> None:
    # Acme: declined, then recovered with a saved card
    h.settle_with(ADMIN, "pm_acme_2", "Paid.")
    with reading(h.services.sessions) as s:
        report = build_report(s, this_month())
    (eur,) = report.currencies
    assert (eur.currency, eur.declined_count, eur.declined_minor) == ("EUR", 1, 12900)
    assert (eur.recovered_count, eur.recovered_minor) == (1, 12900)
    assert eur.recovered_by == {"saved card": 12900, "new card": 0, "after bank verification": 0}
    assert (eur.open_count, eur.elsewhere_count) == (0, 0)
    assert eur.median_hours_to_settle is not None and eur.median_hours_to_settle < 1

    with reading(h.services.sessions) as s:
        last_month = build_report(s, previous_month(datetime.now(UTC)))
    assert last_month.empty


def test_recovered_after_the_bank_and_with_a_new_card_are_told_apart(
    h: Harness, env: dict[str, str], tmp_path: Path
) -> None:
    from tests.conftest import account, load_accounts, write_accounts

    accounts = [
        account(
            "acme",
            "4000000000009995",
            channel="C0ACME",
            admins=[ADMIN],
            extra_cards=["4242424242424242", "4000002760003184"],
        ),
        account("globex", "4000000000000002", channel="C0GLOBEX", admins=[ADMIN], currency="CHF", amount="50.00"),
    ]
    load_accounts(h.services, write_accounts(tmp_path / "more.yml", accounts))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    # Acme after 3-D Secure
    view_id = h.settle_with(ADMIN, "pm_acme_3", "Verify with your bank")
    post(local(h, h.button_url(view_id, "verify_with_bank") or ""), "decision=approve", FORM)
    eventually(lambda: "Paid." in h.view_text(view_id))
    # Globex with a card added through Settle's page
    view_id = h.open_modal(ADMIN, invoice_id="in_globex_1")
    url = h.button_url(view_id, "add_method") or ""
    post(local(h, url), "number=4242424242424242&exp=12%2F30", FORM)
    eventually(lambda: len(h.options(view_id)) == 2)
    new_card = next(o["value"] for o in h.options(view_id) if o["value"] != "pm_globex_1")
    h.choose(view_id, ADMIN, new_card)
    h.confirm(view_id, ADMIN)
    eventually(lambda: "Paid." in h.view_text(view_id))

    out = run_cli(env, "report", "--json")
    data = {c["currency"]: c for c in json.loads(out.stdout)["currencies"]}
    assert data["EUR"]["recovered_by"]["after bank verification"] == 12900
    assert data["CHF"]["recovered_by"]["new card"] == 5000 and data["CHF"]["recovered_count"] == 1
    text = run_cli(env, "report").stdout
    assert "recovered by Settle" in text and "CHF 50.00" in text and "€129.00" in text


def test_the_chart_is_a_png(h: Harness, env: dict[str, str], tmp_path: Path) -> None:
    h.settle_with(ADMIN, "pm_acme_2", "Paid.")
    chart = tmp_path / "report.png"
    run_cli(env, "report", "--chart", str(chart))
    data = chart.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_bad_months_are_one_line(env: dict[str, str]) -> None:
    bad = run_cli(env, "report", "--month", "2026-13", check=False)
    assert bad.returncode != 0 and "--month: not a month like 2026-11" in bad.stderr and "Traceback" not in bad.stderr


def test_the_monthly_post_goes_out_once_with_its_chart(h: Harness) -> None:
    h.settle_with(ADMIN, "pm_acme_2", "Paid.")
    next_month = (datetime.now(UTC).replace(day=28) + timedelta(days=5)).replace(day=1, hour=6)
    with time_machine.travel(next_month, tick=True):
        first = h.services.poller.run_cycle()
        second = h.services.poller.run_cycle()
    assert first.monthly_reports == [this_month()] and second.monthly_reports == []
    (shared,) = h.fake.files
    assert shared["channel"] == "CALERTS" and shared["bytes"][:4] == b"\x89PNG"
    assert f"Recovered revenue, {this_month()}" in shared["comment"] and "€129.00" in shared["comment"]
