"""The open balances someone may settle (`/settle`, App Home): light rows for all, totals in SQL, cards
only for the ones shown. Who may settle is decided between the reads, outside any transaction (a user
group's members may cost a Slack call)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.states import ALERT_DONE, InvoiceState
from bot.domain.workspace import Scope
from bot.read.cards import AlertCard, cards
from bot.read.scope import visible
from storage.db import reading
from storage.models import Account, AccountAdmin, Alert, AlertInvoice

# Given each account's own admins, the accounts this person may settle.
MaySettle = Callable[[dict[str, tuple[str, ...]]], set[str]]


@dataclass(frozen=True)
class Balances:
    """The open balances someone may settle: the first few as cards, and all of them counted."""

    cards: list[AlertCard]
    count: int  # how many this person may settle
    open_total: int  # how many are open in all
    totals: tuple[tuple[str, int], ...]  # (currency, minor units) they owe, all of them


@dataclass(frozen=True)
class BalanceFinding:
    """What `/settle ACCOUNT` found: the open balances the caller may settle among the best matches,
    those they may not, and the name of a matching account when none of them has an open balance."""

    allowed: tuple[AlertCard, ...]
    refused: tuple[AlertCard, ...]
    known_account: str | None


def matches(query: str, account_id: str, name: str) -> int:
    """How well a typed account matches: 2 exactly (id or name, any case), 1 in part, 0 not at all."""
    q = " ".join(query.casefold().split())
    if not q:
        return 0
    if q in (account_id.casefold(), " ".join(name.casefold().split())):
        return 2
    return 1 if q in account_id.casefold() or q in name.casefold() else 0


def admins_of(s: Session, account_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Each account's own admins (users and groups), in one query."""
    own: dict[str, list[str]] = {a: [] for a in account_ids}
    if own:
        for account_id, slack_id in s.execute(
            select(AccountAdmin.account_id, AccountAdmin.slack_id).where(AccountAdmin.account_id.in_(list(own)))
        ):
            own[account_id].append(slack_id)
    return {a: tuple(ids) for a, ids in own.items()}


def open_balances(sessions: sessionmaker[Session], scope: Scope | None, may: MaySettle, limit: int | None) -> Balances:
    """Oldest first. Five queries, however many balances are open."""
    is_open = Alert.state.not_in(ALERT_DONE)
    with reading(sessions) as s:
        rows = s.execute(
            select(Alert.id, Alert.account_id).where(is_open, visible(scope, Alert.team_id)).order_by(Alert.id)
        ).all()
        admins = admins_of(s, {account_id for _, account_id in rows})
    mine = may(admins)
    allowed = [alert_id for alert_id, account_id in rows if account_id in mine]
    shown = allowed if limit is None else allowed[:limit]
    totals: dict[str, int] = {}
    with reading(sessions) as s:
        if allowed:
            owed = s.execute(
                select(Alert.account_id, AlertInvoice.currency, func.sum(AlertInvoice.amount_minor))
                .join(Alert, Alert.id == AlertInvoice.alert_id)
                .where(is_open, visible(scope, Alert.team_id), AlertInvoice.state == InvoiceState.OPEN)
                .group_by(Alert.account_id, AlertInvoice.currency)
            )
            for account_id, currency, minor in owed:
                if account_id in mine:
                    totals[currency] = totals.get(currency, 0) + int(minor or 0)
        shown_cards = cards(s, shown)
    return Balances(cards=shown_cards, count=len(allowed), open_total=len(rows), totals=tuple(sorted(totals.items())))


def find_balances(sessions: sessionmaker[Session], scope: Scope | None, may: MaySettle, query: str) -> BalanceFinding:
    """`/settle ACCOUNT`: the open balances whose account id or name matches best (exact over partial,
    any case), split into those the user may settle and those they may not."""
    with reading(sessions) as s:
        # names of every open balance (one light query); cards only for the best matches
        rows = s.execute(
            select(Alert.id, Alert.account_id, func.coalesce(Account.name, Alert.account_id))
            .outerjoin(Account, Account.id == Alert.account_id)
            .where(Alert.state.not_in(ALERT_DONE), visible(scope, Alert.team_id))
            .order_by(Alert.id)
        ).all()
        scored = [(matches(query, account_id, name), alert_id) for alert_id, account_id, name in rows]
        best = max((score for score, _ in scored), default=0)
        found = cards(s, [alert_id for score, alert_id in scored if score and score == best])
        known = None
        if not found:
            for acc_id, name in s.execute(select(Account.id, Account.name).where(visible(scope, Account.team))):
                if matches(query, acc_id, name):
                    known = name
                    break
        admins = admins_of(s, {c.account_id for c in found})
    mine = may(admins)
    allowed = tuple(c for c in found if c.account_id in mine)
    refused = tuple(c for c in found if c.account_id not in mine)
    return BalanceFinding(allowed=allowed, refused=refused, known_account=known)


def open_alerts(session: Session, account_id: str | None = None) -> list[AlertCard]:
    """Balances still unpaid, oldest first (every workspace's)."""
    query = select(Alert.id).where(Alert.state.not_in(ALERT_DONE)).order_by(Alert.id)
    if account_id is not None:
        query = query.where(Alert.account_id == account_id)
    return cards(session, list(session.scalars(query)))
