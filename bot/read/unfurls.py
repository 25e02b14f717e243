"""What a pasted link unfurls into: the balance the link names, read with its alert's card.

An unfurl is one message part that everyone in the channel sees alike (Slack has no unfurl per
viewer), so what it shows depends on the channel, not on who pasted the link: in a channel where the
account's alerts go, its members see the amounts already, and the unfurl shows them too; anywhere
else it says only that the invoice exists and what state it is in. The Settle balance button opens
for the account's billing admins only (checked on the server at the click)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.links import LinkRef, parse_link
from bot.domain.states import ALERT_DONE
from bot.domain.workspace import Scope, sees
from bot.read.cards import AlertCard, card_of
from storage.db import reading
from storage.models import Account, Alert, AlertInvoice


@dataclass(frozen=True)
class Unfurl:
    card: AlertCard
    invoice_id: str | None  # the invoice the link named; None for a customer link
    full: bool  # the channel is where the account's alerts go: amounts and name are shown


def _alert_of(s: Session, ref: LinkRef) -> tuple[int, str | None] | None:
    if ref.kind == "invoice":
        row = s.execute(
            select(AlertInvoice.alert_id, AlertInvoice.invoice_id).where(AlertInvoice.invoice_id == ref.ref)
        ).first()
        return (row[0], row[1]) if row else None
    if ref.kind == "hosted":  # Stripe's hosted page: the address Stripe gave for the invoice
        candidates = [ref.ref, f"{ref.ref}?s=ap", f"{ref.ref}?s=em"]
        row = s.execute(
            select(AlertInvoice.alert_id, AlertInvoice.invoice_id).where(AlertInvoice.url.in_(candidates)).limit(1)
        ).first()
        return (row[0], row[1]) if row else None
    alert_id = s.scalar(  # a customer: its open balance, else its latest
        select(Alert.id)
        .where(Alert.account_id == ref.ref)
        .order_by(case((Alert.state.in_(ALERT_DONE), 1), else_=0), Alert.id.desc())
        .limit(1)
    )
    return (alert_id, None) if alert_id is not None else None


def unfurl_of(s: Session, ref: LinkRef, scope: Scope | None, channel: str | None) -> Unfurl | None:
    """None for a link Settle knows nothing of, or one of another workspace's accounts."""
    if channel is not None and s.scalar(select(Account.id).where(Account.customer_channel == channel).limit(1)):
        return None  # a channel shared with a customer: nothing internal is shown there, not even a state
    found = _alert_of(s, ref)
    if found is None:
        return None
    card = card_of(s, found[0])
    if card is None or not sees(scope, card.team_id):
        return None
    account = s.get(Account, card.account_id)
    full = channel is not None and channel in {card.channel, account.channel if account else None}
    return Unfurl(card, found[1], full)


class Unfurls:
    """The links a listener is given: it parses and reads, nothing else."""

    def __init__(self, sessions: sessionmaker[Session], own_host: str | None) -> None:
        self.sessions = sessions
        self.own_host = own_host  # Settle's public host: its own invoice pages

    def find(self, url: str, scope: Scope | None, channel: str | None) -> Unfurl | None:
        ref = parse_link(url, self.own_host)
        if ref is None:
            return None
        with reading(self.sessions) as s:
            return unfurl_of(s, ref, scope, channel)
