"""Recording what the provider's feed brings: declined renewals open or grow an account's alert,
paid, voided and written-off invoices leave it, customers' names and routing are kept up to date.

Ingesting is idempotent (declines are unique per provider failure id), so two pollers at once, or
a poller killed mid-page, at worst read a page twice and record it once. Recording posts nothing:
the deliverer brings Slack up to date from what was recorded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.card_warnings import cards_declined, cards_replaced
from bot.balances.lifecycle import add_reply, clear_attempt, close_invoice, mark_invoice_paid, sync_state
from bot.balances.routing import apply_accounts
from bot.billing.base import BillingProvider, ProviderHooks
from bot.domain.records import AccountInfo, ChangePage, Invoice, InvoiceClosed, PaymentFailure
from bot.domain.states import ALERT_DONE, PAID_ANOTHER_WAY, AlertState, InvoiceState, SettlementStatus
from storage import audit
from storage.db import reading, transaction
from storage.events import record_applied
from storage.models import ALERT_IS_OPEN_SQL, Account, Alert, AlertInvoice, Decline, Message, PollCursor, Settlement
from storage.upsert import insert_ignore, insert_ignore_many

log = logging.getLogger(__name__)

PAGE = 100


@dataclass
class IngestReport:
    new_declines: int = 0
    new_alerts: int = 0
    paid: int = 0
    closed: int = 0  # voided or written off outside Settle


class Ingest:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        provider: BillingProvider,
        hooks: ProviderHooks | None = None,
        *,
        remind_after: timedelta | None = None,
        escalate_after: timedelta | None = None,
    ) -> None:
        self.sessions = sessions
        self.provider = provider
        self.hooks = hooks  # a card added, a payment the bank answered: the settlement service's
        self.remind_after = remind_after  # a new alert's first reminder and escalation are due then
        self.escalate_after = escalate_after
        self.recorded: Callable[[], None] | None = None  # told after each page: the courier posts it
        self._pushed: list[ChangePage] = []  # webhooks' pages waiting to be recorded (see `push`)
        self._push_lock = threading.Lock()
        self._pushing = threading.Lock()

    def read_feed(self, report: IngestReport) -> None:
        """Every change since the stored cursor, a page at a time."""
        while True:
            with reading(self.sessions) as s:
                row = s.get(PollCursor, self.provider.name)
                before = row.cursor if row else None
            page = self.provider.changes(before, limit=PAGE)
            self.apply(page, report, move_cursor_from=before)
            if page.cursor is None or page.cursor == before:
                return

    def apply(
        self, page: ChangePage, report: IngestReport, *, move_cursor_from: str | None = None, pushed: bool = False
    ) -> None:
        """Record one page of changes in one transaction, then tell the open modals about new cards.

        Every change is idempotent: a webhook and the poll bringing the same event record it once.
        The cursor moves (compare-and-set from `move_cursor_from`) only for pages the poll read, never
        for an event `pushed` by a webhook."""
        self._settlements_first(page)
        invoices = self._new_invoices(page.failures)
        accounts = self._new_accounts(page)
        with transaction(self.sessions) as s:
            apply_accounts(s, [*accounts, *page.accounts])
            # a card replaced: its warning is over now, not at the next scan (one query for the page)
            cards_replaced(s, {i.id: i.renewal_methods for i in page.accounts if i.renewal_methods is not None})
            self._record_all(s, page.failures, invoices, report)
            for closed in page.closed:
                self._closed(s, closed, report)
            record_applied(s, self.provider.name, page.event_ids)
            if not pushed and page.cursor is not None and page.cursor != move_cursor_from:
                self._advance(s, move_cursor_from, page.cursor)
        if self.recorded is not None and (page.failures or page.closed or page.accounts):
            self.recorded()
        if self.hooks is not None:
            for added in page.methods_added:
                self.hooks.method_added(added.account_id, added.ref, added.method_id)

    def push(self, page: ChangePage, report: IngestReport) -> None:
        """A webhook's changes, recorded together with those of the webhooks that arrived beside it:
        on renewal day a thousand events come at once, and one set-wise page of many costs far less
        than many pages of one. The webhook was answered already, so nobody waits here: whoever
        finds nobody recording records every waiting page (the counts go to its report) until none
        is left; the others go back to reading. If a batch fails, each page is recorded on its own,
        so one bad event never loses another's (and the poll reads them all again anyway)."""
        with self._push_lock:
            self._pushed.append(page)
        while self._pushing.acquire(blocking=False):
            try:
                while True:
                    with self._push_lock:
                        batch, self._pushed = self._pushed, []
                    if not batch:
                        break
                    self._record_pushed(batch, report)
            finally:
                self._pushing.release()
            with self._push_lock:
                if not self._pushed:  # nothing came in between the last look and the release
                    return

    def _record_pushed(self, batch: list[ChangePage], report: IngestReport) -> None:
        try:
            self.apply(merged(batch), report, pushed=True)
            return
        except Exception:
            if len(batch) == 1:
                log.exception("a pushed page could not be recorded; the poll reads it again")
                return
            log.exception("%d pushed pages failed together; recording each on its own", len(batch))
        for one in batch:
            try:
                self.apply(one, report, pushed=True)
            except Exception:
                log.exception("a pushed page could not be recorded; the poll reads it again")

    def refresh_accounts(self, account_ids: list[str]) -> None:
        """Read these customers from the provider now (after `settle sandbox load`, say)."""
        found = [info for info in (self.provider.get_account(a) for a in account_ids) if info is not None]
        with transaction(self.sessions) as s:
            apply_accounts(s, found)

    def _settlements_first(self, page: ChangePage) -> None:
        """An invoice paid while one of Settle's payments waited for the bank: that payment is
        recorded first (as the admin's, and its modal moves on), then the feed's "paid" finds it so."""
        paid = [c.invoice_id for c in page.closed if c.state == "paid"]
        if not paid or self.hooks is None:
            return
        with reading(self.sessions) as s:
            waiting = list(
                s.scalars(
                    select(Settlement.payment_id).where(
                        Settlement.invoice_id.in_(paid),
                        Settlement.status == SettlementStatus.REQUIRES_ACTION,
                        Settlement.payment_id.is_not(None),
                    )
                )
            )
        for payment_id in waiting:
            if payment_id:
                self.hooks.payment_updated(payment_id)

    def _new_accounts(self, page: ChangePage) -> list[AccountInfo]:
        """The provider's name and routing for accounts not yet read from it (once each; an account
        mapped by hand before its first decline is read too)."""
        wanted = {f.account_id for f in page.failures} - {a.id for a in page.accounts}
        if not wanted:
            return []
        with reading(self.sessions) as s:
            known = set(
                s.scalars(select(Account.id).where(Account.id.in_(wanted), Account.provider_synced_at.is_not(None)))
            )
        found = [self.provider.get_account(account_id) for account_id in sorted(wanted - known)]
        return [info for info in found if info is not None]

    def _new_invoices(self, failures: list[PaymentFailure]) -> dict[str, Invoice | None]:
        """Invoice details for failures that will open a new alert; a repeat decline needs none.

        Read before the write transaction, never inside it (SQLite has one writer)."""
        wanted = {f.invoice_id for f in failures if f.invoice is None}
        if not wanted:
            return {}
        with reading(self.sessions) as s:
            known = set(s.scalars(select(AlertInvoice.invoice_id).where(AlertInvoice.invoice_id.in_(wanted))))
        return {invoice_id: self.provider.get_invoice(invoice_id) for invoice_id in sorted(wanted - known)}

    def _advance(self, s: Session, before: str | None, after: str) -> None:
        if before is None:
            if (
                insert_ignore(
                    s,
                    PollCursor,
                    {"provider": self.provider.name, "cursor": after, "updated_at": datetime.now(UTC)},
                    ["provider"],
                )
                is None
            ):
                s.execute(update(PollCursor).where(PollCursor.provider == self.provider.name).values(cursor=after))
        else:
            # compare-and-set: a concurrent poller that got further is not moved back
            s.execute(
                update(PollCursor)
                .where(PollCursor.provider == self.provider.name, PollCursor.cursor == before)
                .values(cursor=after, updated_at=datetime.now(UTC))
            )

    def _record_all(
        self, s: Session, failures: list[PaymentFailure], invoices: dict[str, Invoice | None], report: IngestReport
    ) -> None:
        """A page's declines, set-wise: one statement per table, not one per decline.

        Rows are inserted and locked in a fixed order (failure id, account id, row id), so two
        pollers on the same page (or a webhook beside the poll) queue behind each other instead of
        deadlocking, and the second finds every decline already there."""
        unique = list({f.id: f for f in failures}.values())
        if not unique:
            return
        inserted = insert_ignore_many(
            s,
            Decline,
            [self._decline_row(f) for f in sorted(unique, key=lambda f: f.id)],
            ["provider_failure_id"],
            returning=(Decline.id, Decline.provider_failure_id),
        )
        ids: dict[str, int] = {failure_id: decline_id for decline_id, failure_id in inserted}
        new = [f for f in unique if f.id in ids]  # in the feed's order; the rest were seen before
        if not new:
            return
        report.new_declines += len(new)
        cards_declined(s, {(f.account_id, f.payment_method_id): f.at.date() for f in new if f.payment_method_id})
        accounts = sorted({f.account_id for f in new})
        known_accounts = set(s.scalars(select(Account.id).where(Account.id.in_(accounts))))
        for f in new:
            if f.account_id not in known_accounts:
                # never drop a decline for an account Settle was not told about: alert the default channel
                s.add(Account(id=f.account_id, name=f.account_id, currency=f.currency))
                known_accounts.add(f.account_id)
            audit.record(
                s,
                "decline_recorded",
                account_id=f.account_id,
                invoice_id=f.invoice_id,
                amount_minor=f.amount_minor,
                currency=f.currency,
                payment_method=f.card.label if f.card else None,
                provider_ref=f.id,
                reason=f.reason,
                outcome=f.outcome,
            )
        s.flush()
        known = {
            ai.invoice_id: ai
            for ai in s.scalars(
                select(AlertInvoice)
                .where(AlertInvoice.invoice_id.in_({f.invoice_id for f in new}))
                .order_by(AlertInvoice.id)
                .with_for_update()
            )
        }
        created = self._open_alerts(s, [f for f in new if f.invoice_id not in known], ids)
        report.new_alerts += len(created)
        alerts = self._locked_alerts(s, accounts, {ai.alert_id for ai in known.values()})
        open_alerts = {a.account_id: a for a in alerts.values() if a.state not in ALERT_DONE}
        touched: dict[int, Alert] = {}
        now = datetime.now(UTC)
        for f in new:
            decline_id = ids[f.id]
            ai = known.get(f.invoice_id)
            if ai is not None:  # declined again (the provider's retry, or twice in this page)
                if ai.state != InvoiceState.OPEN:
                    continue
                alert = alerts[ai.alert_id]
                ai.latest_decline_id, ai.decline_count = decline_id, ai.decline_count + 1
                self._declined_again(alert, decline_id, touched)
                if alert.ts is not None:
                    add_reply(s, alert.id, "declined_again", invoice_id=f.invoice_id, decline_id=decline_id)
                continue
            alert = open_alerts[f.account_id]
            invoice = invoices.get(f.invoice_id) or f.invoice
            ai = AlertInvoice(
                alert_id=alert.id,
                invoice_id=f.invoice_id,
                amount_minor=invoice.amount_minor if invoice else f.amount_minor,
                currency=invoice.currency if invoice else f.currency,
                description=invoice.description if invoice else "",
                url=invoice.url if invoice else None,
                latest_decline_id=decline_id,
                decline_count=1,
                state=InvoiceState.OPEN,
                created_at=now,
            )
            s.add(ai)
            known[f.invoice_id] = ai
            if created.get(alert.id) == decline_id:
                continue  # the decline that opened it
            self._declined_again(alert, decline_id, touched)
            if alert.ts is not None:  # already in the channel: say it grew, where everyone sees it
                add_reply(s, alert.id, "balance_grew", broadcast=True, invoice_id=f.invoice_id, decline_id=decline_id)
        self._tell_customers(s, created, accounts)
        s.flush()
        for alert in touched.values():
            s.expire(alert, ["latest_decline", "invoices"])
            sync_state(s, alert)

    def _tell_customers(self, s: Session, created: dict[int, int], accounts: list[str]) -> None:
        """A new balance of an account with a channel shared with the customer: a notice there, in the
        customer's words (bot/read/notices.py), posted by the courier like any message."""
        if not created:
            return
        shared = {
            a.id: a
            for a in s.scalars(select(Account).where(Account.id.in_(accounts), Account.customer_channel.is_not(None)))
        }
        if not shared:
            return
        now = datetime.now(UTC)
        for alert in s.scalars(select(Alert).where(Alert.id.in_(list(created)), Alert.account_id.in_(list(shared)))):
            account = shared[alert.account_id]
            s.add(
                Message(
                    kind="customer_notice",
                    alert_id=alert.id,
                    team_id=account.team,
                    channel=account.customer_channel,
                    detail={},
                    created_at=now,
                )
            )
            audit.record(s, "customer_notice_written", account_id=alert.account_id, alert_id=alert.id,
                         channel=account.customer_channel)  # fmt: skip

    def _open_alerts(self, s: Session, opening: list[PaymentFailure], ids: dict[str, int]) -> dict[int, int]:
        """A new alert for each account among `opening` without an open one (one per account: a
        concurrent poller's wins); {alert id: the decline that opened it} of those made here."""
        first: dict[str, PaymentFailure] = {}
        for f in opening:
            first.setdefault(f.account_id, f)
        if not first:
            return {}
        now = datetime.now(UTC)
        rows = [
            {
                "account_id": account_id,
                "latest_decline_id": ids[first[account_id].id],
                "decline_count": 1,
                "state": AlertState.OPEN,
                "version": 1,
                "synced_version": 0,
                "post_attempts": 0,
                "created_at": now,
                "updated_at": now,
                "remind_at": now + self.remind_after if self.remind_after else None,
                "escalate_at": now + self.escalate_after if self.escalate_after else None,
            }
            for account_id in sorted(first)
        ]
        made = insert_ignore_many(
            s, Alert, rows, ["account_id"], returning=(Alert.id, Alert.latest_decline_id), where=text(ALERT_IS_OPEN_SQL)
        )
        return {alert_id: decline_id for alert_id, decline_id in made}

    @staticmethod
    def _locked_alerts(s: Session, accounts: list[str], alert_ids: set[int]) -> dict[int, Alert]:
        """The accounts' open alerts and those holding the page's known invoices, locked, by id."""
        found = s.scalars(
            select(Alert)
            .where(or_(and_(Alert.account_id.in_(accounts), Alert.state.not_in(ALERT_DONE)), Alert.id.in_(alert_ids)))
            .order_by(Alert.id)
            .with_for_update()
        )
        return {a.id: a for a in found}

    @staticmethod
    def _decline_row(f: PaymentFailure) -> dict[str, object]:
        return {
            "provider_failure_id": f.id,
            "account_id": f.account_id,
            "invoice_id": f.invoice_id,
            "amount_minor": f.amount_minor,
            "currency": f.currency,
            "outcome": f.outcome,
            "reason": f.reason,
            "payment_method_id": f.payment_method_id,
            "card_brand": f.card.brand if f.card else None,
            "card_last4": f.card.last4 if f.card else None,
            "failed_at": f.at,
            "seen_at": datetime.now(UTC),
            "attempt": f.attempt,
            "next_attempt_at": f.next_attempt_at,
            "test_mode": f.test_mode,
            "message": f.message[:500] if f.message else None,
        }

    @staticmethod
    def _declined_again(alert: Alert, decline_id: int, touched: dict[int, Alert]) -> None:
        alert.latest_decline_id, alert.decline_count = decline_id, alert.decline_count + 1
        clear_attempt(alert)  # the renewal is now the latest attempt
        touched[alert.id] = alert

    @staticmethod
    def _closed(s: Session, closed: InvoiceClosed, report: IngestReport) -> None:
        """An invoice was paid, voided or written off at the provider (outside Settle, or after a bank
        step): its alert says so."""
        ai = s.scalar(select(AlertInvoice).where(AlertInvoice.invoice_id == closed.invoice_id).with_for_update())
        if ai is None:
            return
        if ai.ending_how == closed.state:  # an ending from Slack, its event here first: the admin's
            card = PAID_ANOTHER_WAY if closed.state == "paid" else None
            if close_invoice(
                s, ai, InvoiceState(closed.state), source=f"settle:{closed.state}", by=ai.ending_by, card=card
            ):
                report.closed += 1
            return
        if closed.state == "paid":
            if mark_invoice_paid(s, ai, source="poll"):
                report.paid += 1
        elif close_invoice(s, ai, InvoiceState(closed.state), source="poll"):
            report.closed += 1


def merged(pages: list[ChangePage]) -> ChangePage:
    """Pushed pages as one (none has a cursor: webhooks never move the poll's)."""
    if len(pages) == 1:
        return pages[0]
    failures: dict[str, PaymentFailure] = {}
    for page in pages:
        for failure in page.failures:  # both events of one attempt: the one that asks for the bank wins
            if failure.id not in failures or failure.outcome == "requires_action":
                failures[failure.id] = failure
    return ChangePage(
        failures=list(failures.values()),
        cursor=None,
        closed=[c for p in pages for c in p.closed],
        accounts=[a for p in pages for a in p.accounts],
        methods_added=[m for p in pages for m in p.methods_added],
        event_ids=[e for p in pages for e in p.event_ids],
    )
