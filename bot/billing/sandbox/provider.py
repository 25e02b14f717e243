"""The built-in sandbox provider: a small payment company living in Settle's own database.

It behaves like Stripe's test mode (same test card numbers and decline codes) so the whole product
runs, and is tested, without a payment account.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.billing.sandbox.cards import classify, fingerprint
from bot.billing.sandbox.models import (
    SandboxAttempt,
    SandboxCustomer,
    SandboxEvent,
    SandboxInvoice,
    SandboxPaymentMethod,
    SandboxUsedLink,
)
from bot.domain.errors import BillingError
from bot.domain.money import to_decimal_str
from bot.domain.records import (
    AccountInfo,
    Card,
    ChangePage,
    ClosedAs,
    Invoice,
    InvoiceClosed,
    InvoiceStatus,
    Outcome,
    PaymentFailure,
    PaymentMethod,
    PaymentResult,
    Renewal,
)
from bot.i18n import N_
from storage.db import reading, transaction
from storage.upsert import insert_ignore

_DECLINES = {
    "generic_decline",
    "insufficient_funds",
    "expired_card",
    "lost_card",
    "stolen_card",
    "incorrect_cvc",
    "processing_error",
}
INVOICE_LINK_TTL = 400 * 24 * 3600
VERIFY_WINDOW = timedelta(minutes=15)  # a bank page verifies the payments with one card begun this close
# how long each kind of signed page link opens its page
LINK_TTLS = {"verify": 900, "add_card": 900, "customer_card": 7 * 24 * 3600, "invoice": INVOICE_LINK_TTL}


def _attempt_id(payment_id: str) -> int | None:
    prefix = "sbx_att_"
    tail = payment_id[len(prefix) :] if payment_id.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else None


def charge_outcome(behaviour: str, *, off_session: bool) -> tuple[Outcome, str | None]:
    """What the bank answers for a test card, as Stripe's test mode does."""
    if behaviour in _DECLINES:
        return "declined", behaviour
    if behaviour == "auth_off_session":
        return ("declined", "authentication_required") if off_session else ("requires_action", None)
    if behaviour == "auth_always":
        return "requires_action", "authentication_required"
    return "succeeded", None


# the sandbox's events that close an invoice, and how
_CLOSING_EVENTS: dict[str, ClosedAs] = {
    "invoice_paid": "paid",
    "invoice_voided": "voided",
    "invoice_uncollectible": "uncollectible",
}


_STATUSES: dict[str, InvoiceStatus] = {"paid": "paid", "voided": "voided", "uncollectible": "uncollectible"}


class SandboxProvider:
    name = "sandbox"

    def __init__(self, sessions: sessionmaker[Session], public_base: str, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the sandbox's link secret must be at least 16 characters")
        self._sessions = sessions
        self._public_base = public_base.rstrip("/")
        self._secret = secret.encode()

    # --- the provider interface ------------------------------------------------------------------

    def changes(self, cursor: str | None, limit: int = 100) -> ChangePage:
        after = int(cursor) if cursor and cursor.isdigit() else 0
        with reading(self._sessions) as s:
            events = s.scalars(
                select(SandboxEvent).where(SandboxEvent.id > after).order_by(SandboxEvent.id).limit(limit)
            ).all()
            failures, closed, accounts = [], [], {}
            for e in events:
                attempt = s.get(SandboxAttempt, e.attempt_id) if e.attempt_id is not None else None
                if e.kind == "payment_failed" and attempt is not None:
                    failures.append(self._failure(s, attempt))
                elif e.kind in _CLOSING_EVENTS and e.invoice_id:
                    closed.append(InvoiceClosed(e.invoice_id, e.created_at, _CLOSING_EVENTS[e.kind]))
                elif e.kind == "customer_updated" and e.customer_id:
                    customer = s.get(SandboxCustomer, e.customer_id)
                    if customer is not None:
                        accounts[customer.id] = self._account(customer)
        new_cursor = str(events[-1].id) if events else cursor
        return ChangePage(failures=failures, cursor=new_cursor, closed=closed, accounts=list(accounts.values()))

    def list_payment_methods(self, account_id: str) -> list[PaymentMethod]:
        with reading(self._sessions) as s:
            customer = s.get(SandboxCustomer, account_id)
            if customer is None:
                return []
            methods = s.scalars(
                select(SandboxPaymentMethod)
                .where(SandboxPaymentMethod.customer_id == account_id)
                .order_by(SandboxPaymentMethod.created_at, SandboxPaymentMethod.id)
            ).all()
            return [
                PaymentMethod(
                    id=m.id,
                    card=Card(m.brand, m.last4),
                    exp_month=m.exp_month,
                    exp_year=m.exp_year,
                    is_default=m.id == customer.default_payment_method_id,
                )
                for m in methods
            ]

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        with reading(self._sessions) as s:
            inv = s.get(SandboxInvoice, invoice_id)
            return self._invoice(inv) if inv else None

    def upcoming_renewals(self, before: datetime) -> list[Renewal]:
        with reading(self._sessions) as s:
            customers = s.scalars(
                select(SandboxCustomer)
                .where(SandboxCustomer.renews_on.is_not(None), SandboxCustomer.renews_on < before.date())
                .order_by(SandboxCustomer.id)
            ).all()
            found = []
            for c in customers:
                assert c.renews_on is not None
                pm = s.get(SandboxPaymentMethod, c.default_payment_method_id) if c.default_payment_method_id else None
                method = (
                    PaymentMethod(pm.id, Card(pm.brand, pm.last4), pm.exp_month, pm.exp_year, is_default=True)
                    if pm
                    else None
                )
                at = datetime(c.renews_on.year, c.renews_on.month, c.renews_on.day, tzinfo=UTC)
                found.append(Renewal(c.id, at, c.renewal_amount_minor or 0, c.currency, method))
        return found

    def get_account(self, account_id: str) -> AccountInfo | None:
        with reading(self._sessions) as s:
            c = s.get(SandboxCustomer, account_id)
            return self._account(c) if c else None

    @staticmethod
    def _account(c: SandboxCustomer) -> AccountInfo:
        """As Stripe gives a customer: its name, currency, language and metadata (Settle's routing)."""
        return AccountInfo(
            id=c.id,
            name=c.name,
            currency=c.currency,
            metadata=dict(c.meta or {}),
            locale=c.locale,
            # the sandbox renews on the customer's default
            renewal_methods=frozenset({c.default_payment_method_id}) if c.default_payment_method_id else None,
        )

    def pay_invoice(
        self, invoice_id: str, payment_method_id: str, *, idempotency_key: str, off_session: bool = False
    ) -> PaymentResult:
        try:
            with transaction(self._sessions) as s:
                replay = s.scalar(select(SandboxAttempt).where(SandboxAttempt.idempotency_key == idempotency_key))
                if replay is not None:
                    return self._result(s, replay)
                inv = s.get(SandboxInvoice, invoice_id, with_for_update=True)
                if inv is None:
                    raise BillingError(f"no such invoice: {invoice_id}")
                if inv.status == "paid":
                    raise BillingError("invoice_already_paid")
                if inv.status == "voided":  # as Stripe: a voided invoice is never paid (a written-off one may be)
                    raise BillingError("invoice_voided")
                pm = s.get(SandboxPaymentMethod, payment_method_id)
                if pm is None or pm.customer_id != inv.customer_id:
                    raise BillingError("payment method does not belong to this account")
                attempt = self._charge(s, inv, pm, off_session=off_session, idempotency_key=idempotency_key)
                s.flush()
                return self._result(s, attempt)
        except IntegrityError:
            # A concurrent call with the same key won the insert: replay its answer.
            with reading(self._sessions) as s:
                replay = s.scalar(select(SandboxAttempt).where(SandboxAttempt.idempotency_key == idempotency_key))
                if replay is None:
                    raise
                return self._result(s, replay)

    def get_payment(self, payment_id: str) -> PaymentResult | None:
        attempt_id = _attempt_id(payment_id)
        if attempt_id is None:
            return None
        with reading(self._sessions) as s:
            attempt = s.get(SandboxAttempt, attempt_id)
            return self._result(s, attempt) if attempt else None

    def cancel_payment(self, payment_id: str) -> PaymentResult | None:
        attempt_id = _attempt_id(payment_id)
        if attempt_id is None:
            return None
        with transaction(self._sessions) as s:
            attempt = s.get(SandboxAttempt, attempt_id, with_for_update=True)
            if attempt is None:
                return None
            if attempt.outcome == "requires_action":
                attempt.outcome, attempt.reason = "declined", "canceled"
            s.flush()
            return self._result(s, attempt)

    def set_default_payment_method(self, account_id: str, payment_method_id: str) -> None:
        with transaction(self._sessions) as s:
            pm = s.get(SandboxPaymentMethod, payment_method_id)
            customer = s.get(SandboxCustomer, account_id)
            if pm is None or customer is None or pm.customer_id != account_id:
                raise BillingError("payment method does not belong to this account")
            if customer.default_payment_method_id != pm.id:
                customer.default_payment_method_id = pm.id
                s.add(SandboxEvent(kind="customer_updated", customer_id=account_id, created_at=datetime.now(UTC)))

    def add_method_url(self, account_id: str, ref: str) -> str | None:
        subject = f"{account_id}:{ref}"
        query = urlencode({"account": account_id, "ref": ref, "token": self.sign("add_card", subject)})
        return f"{self._public_base}/sandbox/cards/new?{query}"

    def customer_card_url(self, account_id: str, ref: str) -> str | None:
        subject = f"{account_id}:{ref}"
        token = self.sign("customer_card", subject)
        query = urlencode({"account": account_id, "ref": ref, "token": token, "for": "customer"})
        return f"{self._public_base}/sandbox/cards/new?{query}"

    # --- the sandbox's own operations (CLI, hosted pages) --------------------------------------

    def add_card(
        self,
        account_id: str,
        number: str,
        exp_month: int,
        exp_year: int,
        make_default: bool,
        *,
        link_token: str | None = None,
    ) -> PaymentMethod:
        """The hosted page's form: validate a test card and save only its brand and last 4.

        With `link_token` the page's link is spent in the same transaction: it adds one card, once."""
        brand, last4, behaviour = classify(number)
        now = datetime.now(UTC)
        if (exp_year, exp_month) < (now.year, now.month):
            raise BillingError(N_("the card has expired"))
        with transaction(self._sessions) as s:
            customer = s.get(SandboxCustomer, account_id, with_for_update=True)
            if customer is None:
                raise BillingError("no such account")
            if link_token is not None and (
                insert_ignore(
                    s, SandboxUsedLink, {"link_hash": self._link_hash(link_token), "used_at": now}, ["link_hash"]
                )
                is None
            ):
                raise BillingError(N_("this link was already used to add a card"))
            print_ = fingerprint(number)
            pm = s.scalar(
                select(SandboxPaymentMethod).where(
                    SandboxPaymentMethod.customer_id == account_id, SandboxPaymentMethod.fingerprint == print_
                )
            )
            if pm is None:
                pm = SandboxPaymentMethod(
                    id=f"pm_{account_id}_{uuid.uuid4().hex[:10]}",
                    customer_id=account_id,
                    brand=brand,
                    last4=last4,
                    behaviour=behaviour,
                    fingerprint=print_,
                    created_at=now,
                )
                s.add(pm)
            # the same card again updates the saved one (a new expiry), as Stripe's fingerprint shows
            pm.exp_month, pm.exp_year = exp_month, exp_year
            if (
                make_default or customer.default_payment_method_id is None
            ) and customer.default_payment_method_id != pm.id:
                customer.default_payment_method_id = pm.id
                s.add(SandboxEvent(kind="customer_updated", customer_id=account_id, created_at=now))
            return PaymentMethod(
                pm.id, Card(brand, last4), exp_month, exp_year, customer.default_payment_method_id == pm.id
            )

    def bill(self) -> list[SandboxAttempt]:
        """Charge every open invoice off-session with its account's default card, as a renewal run."""
        made: list[SandboxAttempt] = []
        with transaction(self._sessions) as s:
            invoices = s.scalars(
                select(SandboxInvoice).where(SandboxInvoice.status == "open").order_by(SandboxInvoice.id)
            ).all()
            for inv in invoices:
                customer = s.get(SandboxCustomer, inv.customer_id)
                pm = s.get(SandboxPaymentMethod, customer.default_payment_method_id) if customer else None
                if pm is None:
                    continue
                made.append(self._charge(s, inv, pm, off_session=True, idempotency_key=None))
            s.flush()
        return made

    def status(self) -> dict[str, Any]:
        with reading(self._sessions) as s:
            customers = s.scalars(select(SandboxCustomer).order_by(SandboxCustomer.id)).all()
            out = []
            for c in customers:
                invoices = s.scalars(
                    select(SandboxInvoice).where(SandboxInvoice.customer_id == c.id).order_by(SandboxInvoice.id)
                ).all()
                out.append(
                    {
                        "id": c.id,
                        "name": c.name,
                        "currency": c.currency,
                        "invoices": [self._invoice_status(s, inv) for inv in invoices],
                    }
                )
        return {"accounts": out}

    def complete_verification(self, attempt_id: int, approved: bool) -> SandboxAttempt:
        """The bank page's answer: approve pays the invoice, decline fails the attempt."""
        with transaction(self._sessions) as s:
            attempt = s.get(SandboxAttempt, attempt_id, with_for_update=True)
            if attempt is None:
                raise BillingError("no such verification")
            if attempt.outcome != "requires_action":
                return attempt
            inv = s.get(SandboxInvoice, attempt.invoice_id, with_for_update=True)
            assert inv is not None
            if approved and inv.status == "open":
                attempt.outcome, attempt.reason = "succeeded", None
                inv.status, inv.paid_at = "paid", datetime.now(UTC)
                s.add(
                    SandboxEvent(kind="invoice_paid", invoice_id=inv.id, attempt_id=attempt.id, created_at=inv.paid_at)
                )
            elif approved:
                attempt.outcome, attempt.reason = "declined", "invoice_already_paid"
            else:
                attempt.outcome, attempt.reason = "declined", "authentication_failed"
            return attempt

    def end_invoice(self, invoice_id: str, how: ClosedAs, *, idempotency_key: str) -> None:
        """From Settle: paid another way (out of band, no card charged), voided or written off."""
        with transaction(self._sessions) as s:
            inv = s.get(SandboxInvoice, invoice_id, with_for_update=True)
            if inv is None:
                raise BillingError(f"no such invoice: {invoice_id}")
            if inv.status != "open":  # Settle claims an invoice before it asks: never twice
                raise BillingError(f"invoice_{inv.status}")
            inv.status = how
            now = datetime.now(UTC)
            if how == "paid":
                inv.paid_at = now
            kind = next(k for k, v in _CLOSING_EVENTS.items() if v == how)
            s.add(SandboxEvent(kind=kind, invoice_id=inv.id, created_at=now))

    def close_invoice(self, invoice_id: str, state: ClosedAs) -> None:
        """Void or write off an open invoice, as a billing admin would in Stripe's dashboard."""
        if state == "paid":
            raise BillingError("an invoice is paid by charging it, not by closing it")
        with transaction(self._sessions) as s:
            inv = s.get(SandboxInvoice, invoice_id, with_for_update=True)
            if inv is None:
                raise BillingError(f"no invoice {invoice_id!r} in the sandbox")
            if inv.status != "open":
                raise BillingError(f"invoice {invoice_id} is {inv.status}, not open")
            inv.status = state
            kind = next(k for k, v in _CLOSING_EVENTS.items() if v == state)
            s.add(SandboxEvent(kind=kind, invoice_id=inv.id, created_at=datetime.now(UTC)))

    def customer_name(self, account_id: str) -> str | None:
        with reading(self._sessions) as s:
            customer = s.get(SandboxCustomer, account_id)
            return customer.name if customer else None

    def invoice_page(self, invoice_id: str) -> dict[str, Any] | None:
        """What the hosted invoice page shows: the customer's name, the invoice and every attempt."""
        with reading(self._sessions) as s:
            inv = s.get(SandboxInvoice, invoice_id)
            if inv is None:
                return None
            customer = s.get(SandboxCustomer, inv.customer_id)
            status = self._invoice_status(s, inv)
            status["customer"] = customer.name if customer else inv.customer_id
            status["description"] = inv.description
            status["amount_minor"] = inv.amount_minor
            status["paid_at"] = inv.paid_at.isoformat() if inv.paid_at else None
            attempts = s.scalars(select(SandboxAttempt).where(SandboxAttempt.invoice_id == inv.id)).all()
            for shown, a in zip(status["attempts"], attempts, strict=True):
                shown["off_session"] = a.off_session
            return status

    def pay_on_page(self, invoice_id: str) -> PaymentResult:
        """The customer pays on the hosted invoice page with the card on file, present at it (so the
        bank may ask them to verify), as on Stripe's hosted invoice page."""
        with reading(self._sessions) as s:
            inv = s.get(SandboxInvoice, invoice_id)
            customer = s.get(SandboxCustomer, inv.customer_id) if inv is not None else None
            method = customer.default_payment_method_id if customer is not None else None
        if not method:
            raise BillingError(N_("there is no card on file: add one first"))
        return self.pay_invoice(invoice_id, method, idempotency_key=f"page-{invoice_id}-{uuid.uuid4()}")

    def get_attempt(self, attempt_id: int) -> SandboxAttempt | None:
        with reading(self._sessions) as s:
            return s.get(SandboxAttempt, attempt_id)

    def sign(self, purpose: str, subject: str) -> str:
        """A short-lived token for a hosted page link: itsdangerous's timed signature over the subject,
        with a key of this purpose's own (a token for one page opens no other)."""
        return self._signer(purpose).dumps(subject)

    def check_token(self, purpose: str, subject: str, token: str) -> bool:
        """Whatever the bytes: False unless this is our unexpired token for exactly this subject."""
        if not (token.isascii() and len(token) <= 1024):
            return False
        try:
            return bool(self._signer(purpose).loads(token, max_age=LINK_TTLS[purpose]) == subject)
        except BadData:  # a bad signature, an expired one, a payload that is not ours
            return False

    def _signer(self, purpose: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secret, salt=f"settle-sandbox-{purpose}")

    @staticmethod
    def _link_hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def link_used(self, token: str) -> bool:
        with reading(self._sessions) as s:
            return s.get(SandboxUsedLink, self._link_hash(token)) is not None

    def invoice_url(self, invoice_id: str) -> str:
        """A signed link (invoice ids are guessable): it sits on an alert for weeks, so it lives long."""
        token = self.sign("invoice", invoice_id)
        return f"{self._public_base}/sandbox/invoices/{invoice_id}?{urlencode({'token': token})}"

    def verification_url(self, attempt_id: int) -> str:
        subject = str(attempt_id)
        return f"{self._public_base}/sandbox/verify/{subject}?token={self.sign('verify', subject)}"

    # --- internals -----------------------------------------------------------------------------

    def _charge(
        self,
        s: Session,
        inv: SandboxInvoice,
        pm: SandboxPaymentMethod,
        *,
        off_session: bool,
        idempotency_key: str | None,
    ) -> SandboxAttempt:
        outcome, reason = charge_outcome(pm.behaviour, off_session=off_session)
        attempt = SandboxAttempt(
            invoice_id=inv.id,
            payment_method_id=pm.id,
            brand=pm.brand,
            last4=pm.last4,
            amount_minor=inv.amount_minor,
            currency=inv.currency,
            off_session=off_session,
            outcome=outcome,
            reason=reason,
            idempotency_key=idempotency_key,
            created_at=datetime.now(UTC),
        )
        s.add(attempt)
        s.flush()
        if outcome == "succeeded":
            inv.status, inv.paid_at = "paid", datetime.now(UTC)
            s.add(
                SandboxEvent(
                    kind="invoice_paid", invoice_id=inv.id, attempt_id=attempt.id, created_at=datetime.now(UTC)
                )
            )
        elif off_session:
            s.add(
                SandboxEvent(
                    kind="payment_failed", invoice_id=inv.id, attempt_id=attempt.id, created_at=datetime.now(UTC)
                )
            )
        return attempt

    def _result(self, s: Session, a: SandboxAttempt) -> PaymentResult:
        lead = self._verification_group(s, a)[0] if a.outcome == "requires_action" else None
        return PaymentResult(
            outcome=a.outcome,  # type: ignore[arg-type]
            reason=a.reason,
            payment_id=f"sbx_att_{a.id}",
            verification_url=self.verification_url(lead.id) if lead is not None else None,
        )

    @staticmethod
    def _verification_group(s: Session, a: SandboxAttempt) -> list[SandboxAttempt]:
        """The payments the bank verifies together with `a`, earliest first: the ones waiting for it
        with the same card that began within one verification window of the first. (Banks may let a
        cardholder approve several payments to one merchant in one authentication; this bank does.)"""
        waiting = list(
            s.scalars(
                select(SandboxAttempt)
                .where(
                    SandboxAttempt.payment_method_id == a.payment_method_id,
                    SandboxAttempt.outcome == "requires_action",
                    SandboxAttempt.created_at >= a.created_at - VERIFY_WINDOW,
                    SandboxAttempt.created_at <= a.created_at + VERIFY_WINDOW,
                )
                .order_by(SandboxAttempt.id)
            )
        )
        if not waiting:
            return [a]
        lead = waiting[0]
        return [w for w in waiting if w.created_at <= lead.created_at + VERIFY_WINDOW]

    def verification_group(self, attempt_id: int) -> list[SandboxAttempt]:
        """What the bank page for `attempt_id` asks the cardholder to approve: that payment, and the
        others waiting with it (empty if there is no such payment)."""
        with reading(self._sessions) as s:
            attempt = s.get(SandboxAttempt, attempt_id)
            if attempt is None:
                return []
            if attempt.outcome != "requires_action":
                return [attempt]
            return self._verification_group(s, attempt)

    def _failure(self, s: Session, a: SandboxAttempt) -> PaymentFailure:
        inv = s.get(SandboxInvoice, a.invoice_id)
        assert inv is not None
        return PaymentFailure(
            id=f"sbx_att_{a.id}",
            account_id=inv.customer_id,
            invoice_id=a.invoice_id,
            amount_minor=a.amount_minor,
            currency=a.currency,
            outcome=a.outcome,  # type: ignore[arg-type]
            reason=a.reason or "authentication_required",
            payment_method_id=a.payment_method_id,
            card=Card(a.brand, a.last4),
            at=a.created_at,
            invoice=self._invoice(inv),
        )

    def _invoice(self, inv: SandboxInvoice) -> Invoice:
        return Invoice(
            id=inv.id,
            account_id=inv.customer_id,
            amount_minor=inv.amount_minor,
            currency=inv.currency,
            description=inv.description,
            status=_STATUSES.get(inv.status, "open"),
            url=self.invoice_url(inv.id),
        )

    def _invoice_status(self, s: Session, inv: SandboxInvoice) -> dict[str, Any]:
        attempts = s.scalars(
            select(SandboxAttempt).where(SandboxAttempt.invoice_id == inv.id).order_by(SandboxAttempt.id)
        ).all()
        return {
            "id": inv.id,
            "amount": to_decimal_str(inv.amount_minor, inv.currency),
            "currency": inv.currency,
            "status": inv.status,
            "attempts": [
                {
                    "id": f"sbx_att_{a.id}",
                    "outcome": a.outcome,
                    "reason": a.reason,
                    "payment_method": {"brand": a.brand, "last4": a.last4},
                    "at": a.created_at.isoformat(),
                }
                for a in attempts
            ],
        }
