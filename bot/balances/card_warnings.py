"""Before the decline: warn an account's channel when the card its next renewal will be charged to
expires before that renewal, or was declined before, with an **Update card** button (the
provider's hosted add-card page). Once per account, card and renewal; the warning says so and goes
quiet once the account has another default card.

A scan a few times a day (one replica claims it) asks the provider for renewals in the next two
weeks; the poll only checks whether the scan is due (one query)."""

from __future__ import annotations

import calendar
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.access import Authorizer
from bot.balances.routing import default_channel
from bot.billing.base import BillingProvider
from bot.domain.chat import SlackGateway, Workspaces
from bot.domain.errors import BillingError, Refused
from bot.domain.records import PaymentMethod, Renewal
from bot.domain.states import ALERT_DONE
from bot.domain.workspace import Requester
from bot.read.balances import admins_of
from bot.read.warnings import WarningCard
from storage import audit
from storage.changes import bump_messages
from storage.db import reading, transaction
from storage.models import Account, Alert, CardWarning, Decline, Message, ScanClaim
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)

SCAN = "card_warnings"
WARNING_REF = "warning:"  # the ref of an add-card link a warning's Update card button opens
EVERY = timedelta(hours=6)
HORIZON = timedelta(days=14)


class WarningRenderer(Protocol):
    """A card warning's message, in its account's language (handlers/blocks fills this)."""

    def text(self, warning: WarningCard) -> str: ...

    def blocks(self, warning: WarningCard) -> list[Any]: ...


def expires_before(method: PaymentMethod, when: datetime) -> bool:
    """A card works to the end of its expiry month."""
    last_day = calendar.monthrange(method.exp_year, method.exp_month)[1]
    return date(method.exp_year, method.exp_month, last_day) < when.date()


class CardWarnings:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        provider: BillingProvider,
        gateway: SlackGateway,
        workspaces: Workspaces,
        access: Authorizer,
        renderer: WarningRenderer,
        fallback_channel: str | None,
        *,
        every: timedelta = EVERY,
        horizon: timedelta = HORIZON,
    ) -> None:
        self.sessions = sessions
        self.provider = provider
        self.gateway = gateway
        self.renderer = renderer
        self.fallback_channel = fallback_channel
        self.workspaces = workspaces
        self.access = access
        self.every = every
        self.horizon = horizon
        self.wake: Callable[[], None] | None = None  # the courier: warnings written, to be posted

    def run(self, now: datetime | None = None) -> int:
        """Scan if the scan is due (this replica claimed it); warnings written (the courier posts them)."""
        now = now or datetime.now(UTC)
        if not self._claim(now):
            return 0
        renewals = self.provider.upcoming_renewals(now + self.horizon)
        written = 0
        for renewal in renewals:
            reason = self._reason(renewal)
            if reason is not None and renewal.method is not None:
                written += self._warn(renewal, renewal.method, reason)
        self._resolve(renewals)
        if self.wake is not None:
            self.wake()
        return written

    def _claim(self, now: datetime) -> bool:
        with reading(self.sessions) as s:  # most polls: not due, and nothing written
            claim = s.get(ScanClaim, SCAN)
            if claim is not None and claim.next_at > now:
                return False
        with transaction(self.sessions) as s:
            if insert_ignore(s, ScanClaim, {"name": SCAN, "next_at": now + self.every}, ["name"]) is not None:
                return True  # the first scan ever
            won = cast(
                CursorResult[Any],
                s.execute(
                    update(ScanClaim)
                    .where(ScanClaim.name == SCAN, ScanClaim.next_at <= now)
                    .values(next_at=now + self.every)
                    .execution_options(synchronize_session=False)
                ),
            ).rowcount
            return won == 1

    def _reason(self, renewal: Renewal) -> str | None:
        method = renewal.method
        if method is None:
            return None
        with reading(self.sessions) as s:
            open_on_it = s.scalar(
                select(Alert.id)
                .join(Decline, Alert.latest_decline_id == Decline.id)
                .where(
                    Alert.account_id == renewal.account_id,
                    Alert.state.not_in(ALERT_DONE),
                    Decline.payment_method_id == method.id,
                )
                .limit(1)
            )
        if open_on_it is not None:
            return None  # the account's balance on this card has its alert already: a warning only repeats it
        if expires_before(method, renewal.renews_at):
            return "expires"
        with reading(self.sessions) as s:
            declined = s.scalar(
                select(Decline.id)
                .where(Decline.account_id == renewal.account_id, Decline.payment_method_id == method.id)
                .limit(1)
            )
        return "declined_before" if declined is not None else None

    def _warn(self, renewal: Renewal, method: PaymentMethod, reason: str) -> int:
        """The warning and its message, in one transaction: the courier posts it once."""
        with transaction(self.sessions) as s:
            new_id = insert_ignore(
                s,
                CardWarning,
                {
                    "account_id": renewal.account_id,
                    "payment_method_id": method.id,
                    "renews_on": renewal.renews_at.date(),
                    "reason": reason,
                    "card_label": method.card.label,
                    "amount_minor": renewal.amount_minor,
                    "currency": renewal.currency,
                    "created_at": datetime.now(UTC),
                },
                ["account_id", "payment_method_id", "renews_on"],
            )
            if new_id is None:
                return 0  # warned before about this card and renewal
            account = s.get(Account, renewal.account_id)
            team = self.workspaces.resolve(account.team if account else None)
            target = (account.channel if account else None) or default_channel(s, team, self.fallback_channel)
            if not target:
                log.warning("card warning %s: no channel (set SETTLE_ALERT_CHANNEL)", new_id)
                return 0
            s.add(Message(kind="card_warning", warning_id=int(new_id), team_id=team, channel=target))
            audit.record(
                s,
                "card_warning",
                account_id=renewal.account_id,
                payment_method=method.card.label,
                provider_ref=method.id,
                reason=reason,
                renews_on=renewal.renews_at.date().isoformat(),
            )
        return 1

    def _resolve(self, renewals: list[Renewal]) -> None:
        """A warning whose account now renews on another card is over: its message says so."""
        current = {r.account_id: (r.method.id if r.method else None) for r in renewals}
        with transaction(self.sessions) as s:
            for warning in s.scalars(
                select(CardWarning).where(CardWarning.resolved_at.is_(None), CardWarning.account_id.in_(list(current)))
            ):
                if current.get(warning.account_id) != warning.payment_method_id:
                    resolve(s, warning)

    def update_link(self, warning_id: int, who: Requester) -> str | None:
        """A card warning's Update card: a fresh add-card link, for the account's admins only."""
        with reading(self.sessions) as s:
            warning = s.get(CardWarning, warning_id)
            if warning is None or warning.resolved_at is not None:
                return None
            account_id = warning.account_id
            account = s.get(Account, account_id)
            scope = self.access.scope(who.team_id)
            if scope is not None and not scope.sees(account.team if account else None):
                return None  # another workspace's account (with OAuth): nothing to show here
            admins = self.access.with_global(admins_of(s, [account_id])[account_id])
        decision = self.access.decide(who, account.name if account else account_id, admins)
        if not decision.allowed:
            raise Refused(decision, action="update_card")
        with transaction(self.sessions) as s:
            audit.record(
                s, "card_update_link", actor=who.user_id or "unknown", account_id=account_id, warning_id=warning_id
            )
        return self.provider.add_method_url(account_id, f"{WARNING_REF}{warning_id}")

    def card_added(self, account_id: str, ref: str, method_id: str | None) -> bool:
        """A card added through a warning's Update card link (`ref`): it is the card renewals are
        charged to from now on (what "update" means), and the warning is over. False for another ref."""
        if not ref.startswith(WARNING_REF) or not ref[len(WARNING_REF) :].isdigit() or not method_id:
            return False
        with reading(self.sessions) as s:
            warning = s.get(CardWarning, int(ref[len(WARNING_REF) :]))
            if warning is None or warning.account_id != account_id:  # the card went to that account only
                return False
        try:
            self.provider.set_default_payment_method(account_id, method_id)
        except BillingError as exc:
            log.warning("card warning %s: the new card was not made the default: %s", ref, exc)
            return False
        with transaction(self.sessions) as s:
            audit.record(
                s, "default_method_changed", actor="hosted page", account_id=account_id, provider_ref=method_id, via=ref
            )
            card_replaced(s, account_id, frozenset({method_id}))  # the provider moved every renewal to it
        if self.wake is not None:
            self.wake()
        return True


def card_replaced(s: Session, account_id: str, renewal_methods: frozenset[str]) -> int:
    """The account renews on these cards now: its open warnings about any other card are over at
    once, not at the next scan. How many were."""
    return cards_replaced(s, {account_id: renewal_methods})


def cards_replaced(s: Session, renewing: dict[str, frozenset[str]]) -> int:
    """`card_replaced` for a page of accounts in one query."""
    if not renewing:
        return 0
    over = [
        w
        for w in s.scalars(
            select(CardWarning).where(CardWarning.account_id.in_(sorted(renewing)), CardWarning.resolved_at.is_(None))
        )
        if w.payment_method_id not in renewing[w.account_id]
    ]
    for warning in over:
        resolve(s, warning)
    return len(over)


def cards_declined(s: Session, declined: dict[tuple[str, str], date]) -> int:
    """Renewals declined on cards Settle had warned about ((account, card) and the day declined, a
    page's worth in one query): each decline's alert says it all now, so the warning for that
    renewal is over, and one not posted yet is never posted (the two would arrive together). A
    warning about a later renewal on the same card stays."""
    if not declined:
        return 0
    accounts = sorted({account for account, _card in declined})
    over = [
        w
        for w in s.scalars(
            select(CardWarning).where(CardWarning.account_id.in_(accounts), CardWarning.resolved_at.is_(None))
        )
        if (w.account_id, w.payment_method_id) in declined
        and w.renews_on <= declined[(w.account_id, w.payment_method_id)] + timedelta(days=1)
    ]
    for warning in over:
        resolve(s, warning, how="declined")
    return len(over)


def resolve(s: Session, warning: CardWarning, how: str = "replaced") -> None:
    """The warning is over (its account has another default card, or the renewal was declined on it):
    its message is edited to say so."""
    warning.resolved_at, warning.resolved_how = datetime.now(UTC), how
    bump_messages(s, Message.kind == "card_warning", Message.warning_id == warning.id)
    audit.record(
        s, "card_warning_resolved", account_id=warning.account_id, provider_ref=warning.payment_method_id, how=how
    )
