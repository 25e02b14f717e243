"""Recovered revenue: what a month of declines came to, per currency. Read from Settle's own records
(declines, invoices, settlements, the audit trail), never from the provider.

- declined: renewals declined that month (each invoice once, at its first decline);
- recovered through Settle: invoices paid that month by a settlement, split by how: a card already
  saved, a card added through Settle's link, or after the bank's verification;
- paid elsewhere: paid that month outside Settle (the provider's feed said so);
- paid another way, voided, written off: ended that month without a card charged (marked paid out
  of band from Slack; voided or written off, from Slack or in the billing system);
- still open: invoices first declined that month and not paid, voided or written off (as of now);
- median time from the first decline to settled, for what Settle recovered that month;
- recovered by path: every way money came back, which add up to the recovered total: the provider's
  own automatic retries, settled from Slack with a saved card, with a new card, after the bank's
  verification, by the customer on the payment page sent from Slack, by a scheduled retry, and paid
  another way; each with its median time from the first decline. Voided and written off are apart.
- the recovery rate, with its formula: recovered (every path) ÷ declined, amounts, both that month.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, select, true
from sqlalchemy.orm import Session

from bot.domain.money import format_money
from bot.domain.states import InvoiceState, SettlementStatus
from bot.domain.workspace import Scope
from bot.read.scope import visible
from storage.models import Account, Alert, AlertInvoice, AuditEvent, ScheduledRetry, Settlement

HOW = ("saved card", "new card", "after bank verification")
PATHS = (
    "provider retry",
    "saved card",
    "new card",
    "after bank verification",
    "customer page",
    "scheduled retry",
    "paid another way",
)
FORMULA = "recovery rate = recovered in the month (every path above) ÷ declined in the month, by amount"


@dataclass
class PathFigures:
    count: int = 0
    minor: int = 0
    median_hours: float | None = None  # from the invoice's first decline to paid


@dataclass
class CurrencyReport:
    currency: str
    declined_count: int = 0
    declined_minor: int = 0
    recovered_count: int = 0
    recovered_minor: int = 0
    recovered_by: dict[str, int] = field(default_factory=lambda: dict.fromkeys(HOW, 0))  # minor units
    elsewhere_count: int = 0
    elsewhere_minor: int = 0
    another_way_count: int = 0  # marked paid from Slack: a transfer, a cheque (out of band)
    another_way_minor: int = 0
    voided_count: int = 0
    voided_minor: int = 0
    written_off_count: int = 0
    written_off_minor: int = 0
    open_count: int = 0
    open_minor: int = 0
    median_hours_to_settle: float | None = None
    paths: dict[str, PathFigures] = field(default_factory=lambda: {p: PathFigures() for p in PATHS})

    @property
    def recovered_all_count(self) -> int:
        return sum(p.count for p in self.paths.values())

    @property
    def recovered_all_minor(self) -> int:
        return sum(p.minor for p in self.paths.values())

    @property
    def recovery_rate(self) -> float | None:
        return round(100 * self.recovered_all_minor / self.declined_minor, 1) if self.declined_minor else None

    def money(self, minor: int) -> str:
        return format_money(minor, self.currency)


@dataclass
class MonthReport:
    month: str  # YYYY-MM
    currencies: list[CurrencyReport]

    @property
    def empty(self) -> bool:
        return not any(c.declined_count or c.recovered_count or c.elsewhere_count for c in self.currencies)

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "formula": FORMULA,
            "currencies": [
                {
                    **asdict(c),
                    "recovered_all_count": c.recovered_all_count,
                    "recovered_all_minor": c.recovered_all_minor,
                    "recovery_rate_percent": c.recovery_rate,
                }
                for c in self.currencies
            ],
        }


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """ "2026-11" → [1 Nov 2026 00:00 UTC, 1 Dec 2026 00:00 UTC)."""
    try:
        first = date.fromisoformat(month + "-01")
    except ValueError:
        raise ValueError(f"not a month like 2026-11: {month!r}") from None
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return datetime(first.year, first.month, 1, tzinfo=UTC), datetime(nxt.year, nxt.month, 1, tzinfo=UTC)


def previous_month(now: datetime) -> str:
    last = now.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def build_report(s: Session, month: str, scope: Scope | None = None) -> MonthReport:
    """Every account's figures, or with a `scope` one workspace's accounts only."""
    start, end = month_bounds(month)
    accounts = select(Account.id).where(visible(scope, Account.team))
    by_currency: dict[str, CurrencyReport] = {}

    def row(currency: str) -> CurrencyReport:
        return by_currency.setdefault(currency, CurrencyReport(currency))

    declined = s.scalars(
        select(AlertInvoice)
        .join(Alert, Alert.id == AlertInvoice.alert_id)
        .where(AlertInvoice.created_at >= start, AlertInvoice.created_at < end)
        .where(_of(scope, Alert.account_id, accounts))
    )
    for ai in declined:
        r = row(ai.currency)
        r.declined_count += 1
        r.declined_minor += ai.amount_minor
        if ai.state == InvoiceState.OPEN:
            r.open_count += 1
            r.open_minor += ai.amount_minor

    settled = s.scalars(
        select(Settlement)
        .where(
            Settlement.status == SettlementStatus.SUCCEEDED, Settlement.updated_at >= start, Settlement.updated_at < end
        )
        .where(_of(scope, Settlement.account_id, accounts))
    ).all()
    verified = _verified(s, [st.id for st in settled], start, end)
    methods = {st.payment_method_id for st in settled}
    added = set(
        s.scalars(
            select(AuditEvent.provider_ref).where(
                AuditEvent.action == "payment_method_added", AuditEvent.provider_ref.in_(methods)
            )
        )
    )
    first_declined = dict(
        s.execute(
            select(AlertInvoice.invoice_id, AlertInvoice.created_at).where(
                AlertInvoice.invoice_id.in_({st.invoice_id for st in settled})
            )
        ).all()
    )
    retried = set(
        s.scalars(
            select(ScheduledRetry.batch_id).where(
                ScheduledRetry.batch_id.in_({st.batch_id for st in settled if st.batch_id is not None})
            )
        )
    )
    hours: dict[str, list[float]] = defaultdict(list)
    path_hours: dict[tuple[str, str], list[float]] = defaultdict(list)
    settled_invoices = set()

    def recovered(currency: str, path: str, minor: int, invoice_id: str | None, at: datetime) -> None:
        figures = row(currency).paths[path]
        figures.count += 1
        figures.minor += minor
        first = first_declined.get(invoice_id or "")
        if first is not None:
            path_hours[(currency, path)].append(max(0.0, (at - first).total_seconds() / 3600))

    for st in settled:
        r = row(st.currency)
        r.recovered_count += 1
        r.recovered_minor += st.amount_minor
        how = HOW[2] if st.id in verified else HOW[1] if st.payment_method_id in added else HOW[0]
        r.recovered_by[how] += st.amount_minor
        recovered(
            st.currency,
            "scheduled retry" if st.batch_id in retried else how,
            st.amount_minor,
            st.invoice_id,
            st.updated_at,
        )
        settled_invoices.add(st.invoice_id)
        first = first_declined.get(st.invoice_id)
        if first is not None:
            hours[st.currency].append(max(0.0, (st.updated_at - first).total_seconds() / 3600))

    ended = s.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.action.in_(("invoice_paid", "invoice_voided", "invoice_uncollectible")),
            AuditEvent.at >= start,
            AuditEvent.at < end,
        )
        .where(_of(scope, AuditEvent.account_id, accounts))
    ).all()
    paid_outside = {e.invoice_id for e in ended if e.action == "invoice_paid" and e.invoice_id not in settled_invoices}
    # the invoices paid outside Settle: when each was first declined, and whether the customer was sent its page
    asked: dict[str, datetime] = {}
    for invoice_id, created, asked_how, asked_at in s.execute(
        select(AlertInvoice.invoice_id, AlertInvoice.created_at, Alert.asked_customer, Alert.asked_at)
        .join(Alert, Alert.id == AlertInvoice.alert_id)
        .where(AlertInvoice.invoice_id.in_(paid_outside))
    ):
        first_declined[invoice_id] = created
        if asked_how == "pay" and asked_at is not None:
            asked[invoice_id] = asked_at
    for event in ended:
        if event.invoice_id in settled_invoices or event.currency is None:
            continue
        r = row(event.currency)
        minor = event.amount_minor or 0
        if event.action == "invoice_voided":
            r.voided_count, r.voided_minor = r.voided_count + 1, r.voided_minor + minor
        elif event.action == "invoice_uncollectible":
            r.written_off_count, r.written_off_minor = r.written_off_count + 1, r.written_off_minor + minor
        elif (event.detail or {}).get("source") == "settle:paid":  # marked paid another way from Slack
            r.another_way_count, r.another_way_minor = r.another_way_count + 1, r.another_way_minor + minor
            recovered(event.currency, "paid another way", minor, event.invoice_id, event.at)
        else:
            r.elsewhere_count += 1
            r.elsewhere_minor += minor
            sent = asked.get(event.invoice_id or "")
            path = "customer page" if sent is not None and sent <= event.at else "provider retry"
            recovered(event.currency, path, minor, event.invoice_id, event.at)

    for currency, values in hours.items():
        by_currency[currency].median_hours_to_settle = round(statistics.median(values), 1)
    for (currency, path), values in path_hours.items():
        by_currency[currency].paths[path].median_hours = round(statistics.median(values), 1)
    return MonthReport(month, [by_currency[c] for c in sorted(by_currency)])


def _of(scope: Scope | None, account_id: Any, accounts: Select[Any]) -> ColumnElement[bool]:
    """Rows of the scope's accounts (every row without a scope)."""
    return true() if scope is None else account_id.in_(accounts)


def _verified(s: Session, ids: list[int], start: datetime, end: datetime) -> set[int]:
    """Which of these settlements went through after the bank's verification (recorded when it did)."""
    if not ids:
        return set()
    found = set()
    approved = select(AuditEvent.detail).where(
        AuditEvent.action == "verification_approved", AuditEvent.at >= start, AuditEvent.at < end + timedelta(hours=1)
    )
    for detail in s.scalars(approved):
        sid = (detail or {}).get("settlement_id")
        if sid in ids:
            found.add(sid)
    return found


def report_text(report: MonthReport) -> str:
    """The report as plain text (the CLI, and the channel post's fallback)."""
    if report.empty:
        return f"Settle, {report.month}: no declined renewals and nothing settled."
    lines = [f"Settle, {report.month}: recovered revenue"]
    for c in report.currencies:
        median = f"{c.median_hours_to_settle:g} h" if c.median_hours_to_settle is not None else "n/a"
        lines += [
            f"{c.currency}:",
            f"  declined            {c.declined_count:4d}  {c.money(c.declined_minor):>14}",
            f"  recovered by Settle {c.recovered_count:4d}  {c.money(c.recovered_minor):>14}",
            *(f"    {how:<21}  {c.money(c.recovered_by[how]):>14}" for how in HOW if c.recovered_by[how]),
            f"  paid elsewhere      {c.elsewhere_count:4d}  {c.money(c.elsewhere_minor):>14}",
            *(
                [f"  paid another way    {c.another_way_count:4d}  {c.money(c.another_way_minor):>14}"]
                if c.another_way_count
                else []
            ),
            *([f"  voided              {c.voided_count:4d}  {c.money(c.voided_minor):>14}"] if c.voided_count else []),
            *(
                [f"  written off         {c.written_off_count:4d}  {c.money(c.written_off_minor):>14}"]
                if c.written_off_count
                else []
            ),
            f"  still open          {c.open_count:4d}  {c.money(c.open_minor):>14}",
            f"  median time from decline to settled: {median}",
            f"  recovered, every path {c.recovered_all_count:2d}  {c.money(c.recovered_all_minor):>14}",
            *(
                f"    {path:<21} {p.count:2d}  {c.money(p.minor):>14}  median {_hours(p.median_hours)}"
                for path, p in c.paths.items()
                if p.count
            ),
            f"  recovery rate: {_rate(c)}",
        ]
    lines.append(FORMULA + "; voided and written off are not recovered.")
    return "\n".join(lines)


def _hours(value: float | None) -> str:
    return f"{value:g} h" if value is not None else "n/a"


def _rate(c: CurrencyReport) -> str:
    if c.recovery_rate is None:
        return "n/a (nothing declined this month)"
    return f"{c.recovery_rate:g}% = {c.money(c.recovered_all_minor)} ÷ {c.money(c.declined_minor)}"
