"""The read model costs the same number of queries for one open balance as for twenty more of three
invoices each: everything a card shows is loaded with the alerts (no query per alert or invoice).
Counted with a statement counter on the engine."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.app import Settle, build
from bot.domain.workspace import Requester
from bot.read.balances import find_balances, open_balances
from bot.read.batches import batch_records
from bot.read.home import home_summary
from bot.settings import Settings
from storage.db import reading
from storage.models import SettlementBatch
from tests.conftest import account, load_accounts, write_accounts

ADMIN = "UGLOBAL"  # one of SETTLE_ADMINS: may settle every account


@pytest.fixture
def settle(env: dict[str, str]) -> Iterator[Settle]:
    built = build(Settings())
    yield built
    built.close()


def add_balances(settle: Settle, path: Path, prefix: str, accounts: int, invoices: int) -> None:
    rows = [account(f"{prefix}{n:02d}", "4000000000009995", invoices=invoices) for n in range(accounts)]
    load_accounts(settle, write_accounts(path, rows))
    settle.provider.bill()  # type: ignore[attr-defined]
    settle.poller.run_cycle()


def statements(settle: Settle, read: Callable[[], Any]) -> int:
    """Statements this thread sends while `read` runs (background work, such as App Home being
    published after the poll, is not counted)."""
    count, me = 0, threading.get_ident()

    def counted(*_: Any) -> None:
        nonlocal count
        if threading.get_ident() == me:
            count += 1

    event.listen(settle.engine, "before_cursor_execute", counted)
    try:
        read()
    finally:
        event.remove(settle.engine, "before_cursor_execute", counted)
    return count


def reads(settle: Settle) -> dict[str, Callable[[], Any]]:
    may = settle.access.may_settle(Requester(ADMIN))
    may({"warm": ()})  # the user groups' members are cached before counting (a Slack call, not a query)

    def confirmations() -> Any:
        with reading(settle.sessions) as s:
            return batch_records(s, list(s.query(SettlementBatch)))

    return {
        "/settle": lambda: open_balances(settle.sessions, None, may, limit=None),
        "/settle ACCOUNT": lambda: find_balances(settle.sessions, None, may, "acct"),
        "App Home": lambda: home_summary(settle.sessions, ADMIN, None, may, every_account=True),
        "confirmations": confirmations,
    }


def confirm_each(settle: Settle) -> None:
    """A confirmation chosen for every open balance (the settle service, called directly)."""
    who = Requester(ADMIN)
    for card in open_balances(settle.sessions, None, settle.access.may_settle(who), None).cards:
        if not card.invoices[0].invoice_id.startswith("in_acct"):
            continue
        settle.batches.choose(card.alert_id, who, f"pm_{card.account_id}_1", None)


def test_twenty_balances_of_three_invoices_cost_what_one_does(settle: Settle, tmp_path: Path) -> None:
    add_balances(settle, tmp_path / "one.yml", "acct", 1, 1)
    confirm_each(settle)
    one = {surface: statements(settle, read) for surface, read in reads(settle).items()}
    add_balances(settle, tmp_path / "more.yml", "acctmany", 20, 3)
    confirm_each(settle)
    listed = open_balances(settle.sessions, None, settle.access.may_settle(Requester(ADMIN)), None)
    assert listed.count == 21 and sum(len(c.invoices) for c in listed.cards) == 61
    many = {surface: statements(settle, read) for surface, read in reads(settle).items()}
    assert many == one, f"queries for 1 balance: {one}; for 21, 20 of them of 3 invoices: {many}"
