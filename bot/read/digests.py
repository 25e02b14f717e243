"""A storm's digest as its message shows it: how many renewals declined in the channel, what they owe
per currency, why (how many need the bank's authentication), the largest still open, and how many
are settled or closed since."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.states import ALERT_DONE, AlertState
from bot.domain.workspace import Scope, sees
from bot.read.cards import AlertCard, cards
from storage.db import reading
from storage.models import Alert, Digest

LARGEST = 5  # balances shown on the digest itself, each with its Settle button
PAGE = 10  # balances per page of its list


@dataclass(frozen=True)
class DigestCard:
    digest_id: int
    channel: str
    opened_at: datetime
    count: int  # renewals (balances) told in it
    open_count: int
    settled_count: int  # paid since
    closed_count: int  # voided or written off since
    owed: tuple[tuple[str, int], ...]  # (currency, minor units) still open
    reasons: tuple[tuple[str, int], ...]  # (decline reason, balances), most first
    largest: tuple[AlertCard, ...]  # the largest still open
    language: str = "en"  # the first account's; a channel reads one language

    @property
    def need_authentication(self) -> int:
        return dict(self.reasons).get("authentication_required", 0)


def _largest_first(card: AlertCard) -> tuple[int, int]:
    return (-sum(i.amount_minor for i in card.open_invoices), card.alert_id)


def digest_card(s: Session, digest_id: int) -> DigestCard | None:
    digest = s.get(Digest, digest_id)
    if digest is None:
        return None
    ids = list(s.scalars(select(Alert.id).where(Alert.digest_id == digest_id).order_by(Alert.id)))
    members = cards(s, ids)
    open_ones = [c for c in members if c.state not in ALERT_DONE]
    owed: Counter[str] = Counter()
    for c in open_ones:
        for i in c.open_invoices:
            owed[i.currency] += i.amount_minor
    reasons = Counter(c.reason for c in members)
    return DigestCard(
        digest_id=digest_id,
        channel=digest.channel,
        opened_at=digest.opened_at,
        count=len(members),
        open_count=len(open_ones),
        settled_count=sum(c.state == AlertState.PAID for c in members),
        closed_count=sum(c.state == AlertState.CLOSED for c in members),
        owed=tuple(sorted(owed.items())),
        reasons=tuple(reasons.most_common()),
        largest=tuple(sorted(open_ones, key=_largest_first)[:LARGEST]),
        language=members[0].language if members else "en",
    )


def digest_page(s: Session, digest_id: int, page: int) -> tuple[list[AlertCard], int]:
    """One page of every balance the digest tells of, largest open first, then the rest; and how many
    pages there are."""
    ids = list(s.scalars(select(Alert.id).where(Alert.digest_id == digest_id)))
    members = sorted(cards(s, ids), key=lambda c: (c.state in ALERT_DONE, *_largest_first(c)))
    pages = max(1, -(-len(members) // PAGE))
    page = min(max(page, 0), pages - 1)
    return members[page * PAGE : (page + 1) * PAGE], pages


@dataclass(frozen=True)
class DigestList:
    digest: DigestCard
    page: list[AlertCard]
    number: int
    pages: int


def digest_list(sessions: sessionmaker[Session], digest_id: int, scope: Scope | None, page: int) -> DigestList | None:
    """A page of the digest's balances, for a request that may see its workspace; None otherwise."""
    with reading(sessions) as s:
        digest = s.get(Digest, digest_id)
        if digest is None or not sees(scope, digest.team_key or None):
            return None
        card = digest_card(s, digest_id)
        members, pages = digest_page(s, digest_id, page)
    assert card is not None
    return DigestList(card, members, min(max(page, 0), pages - 1), pages)
