"""The sandbox provider behaves like Stripe's test mode."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine

from bot.app import open_database
from bot.billing.sandbox.cards import TEST_CARDS, classify
from bot.billing.sandbox.loader import LoadError, load_file, parse
from bot.billing.sandbox.provider import LINK_TTLS, SandboxProvider
from bot.domain.errors import BillingError
from tests.conftest import account, write_accounts

OFF_SESSION = {
    "4242424242424242": ("succeeded", None),
    "4000000000000002": ("declined", "generic_decline"),
    "4000000000009995": ("declined", "insufficient_funds"),
    "4000000000000069": ("declined", "expired_card"),
    "4000002500003155": ("declined", "authentication_required"),
    "4000002760003184": ("requires_action", "authentication_required"),
    "4000000000009987": ("declined", "lost_card"),
    "4000000000009979": ("declined", "stolen_card"),
    "4000000000000127": ("declined", "incorrect_cvc"),
    "4000000000000119": ("declined", "processing_error"),
    "5555555555554444": ("succeeded", None),
    "378282246310005": ("succeeded", None),
    "6011111111111117": ("succeeded", None),
    "3056930009020004": ("succeeded", None),
    "3566002020360505": ("succeeded", None),
    "6200000000000005": ("succeeded", None),
    "4000056655665556": ("succeeded", None),
    "2223003122003222": ("succeeded", None),
    "5200828282828210": ("succeeded", None),
    "5105105105105100": ("succeeded", None),
    "371449635398431": ("succeeded", None),
    "6011000990139424": ("succeeded", None),
    "6011981111111113": ("succeeded", None),
    "36227206271667": ("succeeded", None),
    "6200000000000047": ("succeeded", None),
    "6205500000000000004": ("succeeded", None),
}
ON_SESSION = {
    "4242424242424242": "succeeded",
    "4000000000000002": "declined",
    "4000000000009995": "declined",
    "4000000000000069": "declined",
    "4000002500003155": "requires_action",
    "4000002760003184": "requires_action",
}


@pytest.fixture
def provider(db_url: str) -> Iterator[SandboxProvider]:
    engine, sessions = open_database(db_url)
    yield SandboxProvider(sessions, "http://settle.test", secret="s3cret-for-the-tests")
    engine.dispose()


def load(p: SandboxProvider, tmp_path: Path, *accs: dict) -> None:
    load_file(p._sessions, write_accounts(tmp_path / "a.yml", list(accs)))


def test_every_test_card_is_known() -> None:
    assert set(TEST_CARDS) == set(OFF_SESSION)
    assert classify("4242 4242 4242 4242") == ("Visa", "4242", "succeeds")
    with pytest.raises(ValueError, match="test card"):
        classify("4012888888881881")
    with pytest.raises(ValueError, match="Not a valid"):
        classify("4242424242424241")


@pytest.mark.parametrize("card", sorted(OFF_SESSION))
def test_renewal_outcome_per_card(provider: SandboxProvider, tmp_path: Path, card: str) -> None:
    load(provider, tmp_path, account("acme", card))
    (attempt,) = provider.bill()
    assert (attempt.outcome, attempt.reason) == OFF_SESSION[card]
    inv = provider.get_invoice("in_acme_1")
    pays = OFF_SESSION[card][0] == "succeeded"
    assert inv is not None and inv.status == ("paid" if pays else "open")
    failures = provider.changes(None).failures
    assert len(failures) == (0 if pays else 1)


@pytest.mark.parametrize("card", sorted(ON_SESSION))
def test_pay_with_cardholder_present_per_card(provider: SandboxProvider, tmp_path: Path, card: str) -> None:
    load(provider, tmp_path, account("acme", card))
    result = provider.pay_invoice("in_acme_1", "pm_acme_1", idempotency_key="k1")
    assert result.outcome == ON_SESSION[card]
    assert (result.verification_url is not None) == (result.outcome == "requires_action")
    assert provider.changes(None).failures == []  # admin-made attempts are not renewal declines


def test_idempotency_key_replays_instead_of_charging_again(provider: SandboxProvider, tmp_path: Path) -> None:
    load(provider, tmp_path, account("acme", "4242424242424242"))
    first = provider.pay_invoice("in_acme_1", "pm_acme_1", idempotency_key="same")
    again = provider.pay_invoice("in_acme_1", "pm_acme_1", idempotency_key="same")
    assert first == again and first.outcome == "succeeded"
    attempts = provider.status()["accounts"][0]["invoices"][0]["attempts"]
    assert len(attempts) == 1
    with pytest.raises(BillingError, match="invoice_already_paid"):
        provider.pay_invoice("in_acme_1", "pm_acme_1", idempotency_key="other")


def test_foreign_card_is_refused(provider: SandboxProvider, tmp_path: Path) -> None:
    load(provider, tmp_path, account("a", "4242424242424242"), account("b", "4242424242424242"))
    with pytest.raises(BillingError, match="does not belong"):
        provider.pay_invoice("in_a_1", "pm_b_1", idempotency_key="x")


def test_loading_twice_updates_and_never_duplicates(provider: SandboxProvider, tmp_path: Path) -> None:
    load(provider, tmp_path, account("acme", "4000000000009995", amount="10.00"))
    load(provider, tmp_path, account("acme", "4000000000009995", amount="12.50"))
    (acc,) = provider.status()["accounts"]
    (inv,) = acc["invoices"]
    assert inv["amount"] == "12.50"
    assert len(provider.list_payment_methods("acme")) == 1


def test_verification_round_trip(provider: SandboxProvider, tmp_path: Path) -> None:
    load(provider, tmp_path, account("acme", "4000002760003184"))
    result = provider.pay_invoice("in_acme_1", "pm_acme_1", idempotency_key="v")
    attempt_id = int(result.payment_id.rsplit("_", 1)[1])
    token = result.verification_url.split("token=")[1] if result.verification_url else ""
    assert provider.check_token("verify", str(attempt_id), token)
    assert not provider.check_token("verify", str(attempt_id + 1), token)
    assert not provider.check_token("invoice", str(attempt_id), token)  # a token opens its own page only
    assert not provider.check_token("verify", str(attempt_id), token[:-2] + "xx")
    for hostile in ("", "é" * 10, "x" * 5000, "\x00.\x00"):
        assert not provider.check_token("verify", str(attempt_id), hostile)
    with time_machine.travel(time.time() + LINK_TTLS["verify"] + 5):  # a quarter of an hour on: expired
        assert not provider.check_token("verify", str(attempt_id), token)
    provider.complete_verification(attempt_id, approved=True)
    inv = provider.get_invoice("in_acme_1")
    assert inv is not None and inv.status == "paid"


def test_only_brand_and_last4_are_stored(provider: SandboxProvider, tmp_path: Path, db_url: str) -> None:
    load(provider, tmp_path, account("acme", "4000000000009995"))
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.connect() as conn:
        for table in ("sandbox_payment_methods", "sandbox_attempts", "declines", "accounts"):
            rows = conn.execute(text(f"SELECT * FROM {table}")).all()
            assert "4000000000009995" not in str(rows)
    engine.dispose()


def test_load_errors_name_the_line(provider: SandboxProvider) -> None:
    from bot.billing.sandbox.loader import load

    with pytest.raises(LoadError, match="line 1"):
        parse("- just a list\n")
    with pytest.raises(LoadError, match="line 4: missing 'name'"):
        load(provider._sessions, parse("accounts:\n  - id: x\n    name: X\n  - id: y\n"))
    with pytest.raises(LoadError, match="line 4: too many decimals"):
        load(provider._sessions, parse("accounts:\n  - id: x\n    name: X\n    invoices: [{amount: '1.001'}]\n"))


def test_link_key_is_random_stored_and_never_the_slack_secret(
    sqlite_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.app import build
    from bot.settings import Settings

    first = build(Settings())
    second = build(Settings())  # another process, or a restart: the same stored key
    try:
        assert isinstance(first.provider, SandboxProvider) and isinstance(second.provider, SandboxProvider)
        key = first.provider._secret
        assert key == second.provider._secret and len(key) >= 32
        assert key not in (b"settle-sandbox", b"sandbox", sqlite_env["SLACK_SIGNING_SECRET"].encode())
    finally:
        first.close()
        second.close()
    monkeypatch.setenv("SETTLE_LINK_SECRET", "an-operator-chosen-link-secret")
    third = build(Settings())
    try:
        assert isinstance(third.provider, SandboxProvider)
        assert third.provider._secret == b"an-operator-chosen-link-secret"
    finally:
        third.close()


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4000 0566 5566 5556", "Visa"),
        ("2223 0031 2200 3222", "Mastercard"),
        ("5200 8282 8282 8210", "Mastercard"),
        ("3714 496353 98431", "Amex"),
        ("6011 9811 1111 1113", "Discover"),
        ("3622 720627 1667", "Diners"),
        ("3566 0020 2036 0505", "JCB"),
        ("6205 5000 0000 0000 004", "UnionPay"),
    ],
)
def test_every_brand_a_user_may_type_is_known_with_its_brand(number: str, brand: str) -> None:
    assert classify(number)[0] == brand


def test_the_readmes_renewal_example_loads_as_written(provider: SandboxProvider, tmp_path: Path) -> None:
    """The README writes `renewal: {on: …}`; YAML 1.1 reads a bare `on` as true, and it must still load."""
    import re
    from datetime import date

    from sqlalchemy import select

    from bot.billing.sandbox.models import SandboxCustomer
    from storage.db import reading

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    example = re.search(r"`(renewal: \{[^`]+\})`", readme)
    assert example is not None, "the README no longer shows a renewal"
    cards = "[{card: '4242424242424242'}]"
    text = f"accounts:\n  - id: acme\n    name: Acme\n    payment_methods: {cards}\n    {example[1]}\n"
    (tmp_path / "readme.yml").write_text(text)
    load_file(provider._sessions, tmp_path / "readme.yml")
    with reading(provider._sessions) as s:
        acme = s.scalars(select(SandboxCustomer).where(SandboxCustomer.id == "acme")).one()
        assert isinstance(acme.renews_on, date) and acme.renewal_amount_minor and acme.renewal_amount_minor > 0


def test_an_escaped_emoji_loads_and_half_of_one_is_one_line(provider: SandboxProvider, tmp_path: Path) -> None:
    from sqlalchemy import select

    from bot.billing.sandbox.models import SandboxCustomer
    from storage.db import reading

    whole = 'accounts:\n  - id: acme\n    name: "Acme \\ud83d\\ude42"\n'
    (tmp_path / "emoji.yml").write_text(whole)
    load_file(provider._sessions, tmp_path / "emoji.yml")
    with reading(provider._sessions) as s:
        assert s.scalars(select(SandboxCustomer.name).where(SandboxCustomer.id == "acme")).one() == "Acme 🙂"
    (tmp_path / "half.yml").write_text(whole.replace("\\ude42", ""))
    with pytest.raises(LoadError, match="half a character"):
        load_file(provider._sessions, tmp_path / "half.yml")
