"""Recording what the provider's feed brings: declined renewals open or grow an account's alert,
paid, voided and written-off invoices leave it, customers' names and routing are kept up to date.

Ingesting is idempotent (declines are unique per provider failure id), so two pollers at once, or
a poller killed mid-page, at worst read a page twice and record it once. Recording posts nothing:
the deliverer brings Slack up to date from what was recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.lifecycle import add_reply, clear_attempt, close_invoice, mark_invoice_paid, sync_state
from bot.balances.routing import apply_account_info
from bot.billing.base import BillingProvider, ProviderHooks
from bot.domain.records import AccountInfo, ChangePage, Invoice, InvoiceClosed, PaymentFailure
from bot.domain.states import ALERT_DONE, AlertState, InvoiceState, SettlementStatus
from storage import audit
from storage.db import reading, transaction
from storage.events import record_applied
from storage.models import ALERT_IS_OPEN_SQL, Account, Alert, AlertInvoice, Decline, PollCursor, Settlement
from storage.upsert import insert_ignore

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
            for info in [*accounts, *page.accounts]:
                apply_account_info(s, info)
            for failure in page.failures:
                self._record(s, failure, invoices.get(failure.invoice_id), report)
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

    def refresh_accounts(self, account_ids: list[str]) -> None:
        """Read these customers from the provider now (after `settle sandbox load`, say)."""
        found = [info for info in (self.provider.get_account(a) for a in account_ids) if info is not None]
        with transaction(self.sessions) as s:
            for info in found:
                apply_account_info(s, info)

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
        wanted = {f.invoice_id for f in failures}
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

    def _record(self, s: Session, f: PaymentFailure, invoice: Invoice | None, report: IngestReport) -> None:
        decline_id = insert_ignore(
            s,
            Decline,
            {
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
            },
            ["provider_failure_id"],
        )
        if decline_id is None:
            return  # seen before (a re-read page, or another poller got here first)
        report.new_declines += 1
        if s.get(Account, f.account_id) is None:
            # never drop a decline for an account Settle was not told about: alert the default channel
            s.add(Account(id=f.account_id, name=f.account_id, currency=f.currency))
            s.flush()
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
        known = s.scalar(select(AlertInvoice).where(AlertInvoice.invoice_id == f.invoice_id).with_for_update())
        if known is not None:
            if known.state != InvoiceState.OPEN:
                return
            alert = s.get(Alert, known.alert_id, with_for_update=True)
            assert alert is not None
            known.latest_decline_id, known.decline_count = decline_id, known.decline_count + 1
            self._declined_again(s, alert, decline_id)
            if alert.ts is not None:
                add_reply(s, alert.id, "declined_again", invoice_id=f.invoice_id, decline_id=decline_id)
            return
        alert, created = self._open_alert(s, f.account_id, decline_id)
        s.add(
            AlertInvoice(
                alert_id=alert.id,
                invoice_id=f.invoice_id,
                amount_minor=invoice.amount_minor if invoice else f.amount_minor,
                currency=invoice.currency if invoice else f.currency,
                description=invoice.description if invoice else "",
                url=invoice.url if invoice else None,
                latest_decline_id=decline_id,
                decline_count=1,
                state=InvoiceState.OPEN,
                created_at=datetime.now(UTC),
            )
        )
        s.flush()
        if created:
            report.new_alerts += 1
            return
        self._declined_again(s, alert, decline_id)
        s.refresh(alert, ["invoices"])
        if alert.ts is not None:  # already in the channel: say it grew, where everyone sees it
            add_reply(s, alert.id, "balance_grew", broadcast=True, invoice_id=f.invoice_id, decline_id=decline_id)

    def _open_alert(self, s: Session, account_id: str, decline_id: int) -> tuple[Alert, bool]:
        """The account's open alert, or a new one (one per account: a concurrent poller's wins)."""
        alert = s.scalar(
            select(Alert).where(Alert.account_id == account_id, Alert.state.not_in(ALERT_DONE)).with_for_update()
        )
        if alert is not None:
            return alert, False
        now = datetime.now(UTC)
        new_id = insert_ignore(
            s,
            Alert,
            {
                "account_id": account_id,
                "latest_decline_id": decline_id,
                "decline_count": 1,
                "state": AlertState.OPEN,
                "version": 1,
                "synced_version": 0,
                "post_attempts": 0,
                "created_at": now,
                "updated_at": now,
                "remind_at": now + self.remind_after if self.remind_after else None,
                "escalate_at": now + self.escalate_after if self.escalate_after else None,
            },
            ["account_id"],
            where=text(ALERT_IS_OPEN_SQL),
        )
        alert = s.get(Alert, new_id) if new_id is not None else None
        if alert is None:
            alert = s.scalar(
                select(Alert).where(Alert.account_id == account_id, Alert.state.not_in(ALERT_DONE)).with_for_update()
            )
            assert alert is not None
            return alert, False
        return alert, True

    @staticmethod
    def _declined_again(s: Session, alert: Alert, decline_id: int) -> None:
        alert.latest_decline_id, alert.decline_count = decline_id, alert.decline_count + 1
        clear_attempt(alert)  # the renewal is now the latest attempt
        s.flush()
        s.expire(alert, ["latest_decline"])
        sync_state(s, alert)

    @staticmethod
    def _closed(s: Session, closed: InvoiceClosed, report: IngestReport) -> None:
        """An invoice was paid, voided or written off at the provider (outside Settle, or after a bank
        step): its alert says so."""
        ai = s.scalar(select(AlertInvoice).where(AlertInvoice.invoice_id == closed.invoice_id).with_for_update())
        if ai is None:
            return
        if closed.state == "paid":
            if mark_invoice_paid(s, ai, source="poll"):
                report.paid += 1
        elif close_invoice(s, ai, InvoiceState(closed.state), source="poll"):
            report.closed += 1
