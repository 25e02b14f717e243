"""Who may settle: the account's admins and SETTLE_ADMINS, users or user groups; errors fail closed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import Settle, build
from bot.domain.errors import Decision
from bot.domain.workspace import Requester
from bot.settings import Settings
from tests.conftest import account, write_accounts
from tests.fake_slack import FakeSlack


@pytest.fixture
def settle(sqlite_env: dict[str, str], tmp_path: Path) -> Iterator[Settle]:
    from tests.conftest import load_accounts

    s = build(Settings())
    load_accounts(s, write_accounts(tmp_path / "a.yml", [account("acme", "4000000000000002", admins=["U0OWN"])]))
    s.provider.bill()  # type: ignore[attr-defined]
    s.poller.run_cycle()
    yield s
    s.close()


def test_account_admins_global_admins_and_groups(settle: Settle, fake_slack: FakeSlack) -> None:
    fake_slack.usergroups["SADMINS"] = ["UINGROUP"]
    found = settle.access.for_alert(1, None)
    assert found is not None
    account_id, name, admins = found
    assert (account_id, name) == ("acme", "Acme Corp")
    assert admins == ("U0OWN", "UGLOBAL", "SADMINS")

    def decide(user: str | None, name: str, admins: tuple[str, ...]) -> Decision:
        return settle.access.decide(Requester(user), name, admins)

    assert decide("U0OWN", name, admins).allowed
    assert decide("UGLOBAL", name, admins).allowed
    assert decide("UINGROUP", name, admins).allowed
    assert not decide("USTRANGER", name, admins).allowed
    assert not decide(None, name, admins).allowed
    assert settle.access.for_alert(999, None) is None


def test_a_failing_group_lookup_refuses(settle: Settle, fake_slack: FakeSlack) -> None:
    fake_slack.errors["usergroups.users.list"] = "missing_scope"
    found = settle.access.for_alert(1, None)
    assert found is not None
    assert not settle.access.decide(Requester("UINGROUP"), found[1], found[2]).allowed
