"""Recovered revenue: what a month of declines came to, per currency. Read from Settle's own records
(declines, invoices, settlements, the audit trail), never from the provider.

- declined: renewals declined that month (each invoice once, at its first decline);
- recovered through Settle: invoices paid that month by a settlement, split by how: a card already
  saved, a card added through Settle's link, or after the bank's verification;
- paid elsewhere: paid that month outside Settle (the provider's feed said so);
- still open: invoices first declined that month and not paid, voided or written off (as of now);
- median time from the first decline to settled, for what Settle recovered that month.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.money import format_money
from bot.domain.states import InvoiceState, SettlementStatus
from storage.models import AlertInvoice, AuditEvent, Settlement

HOW = ("saved card", "new card", "after bank verification")


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
    open_count: int = 0
    open_minor: int = 0
    median_hours_to_settle: float | None = None

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
        return {"month": self.month, "currencies": [asdict(c) for c in self.currencies]}


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


def build_report(s: Session, month: str) -> MonthReport:
    start, end = month_bounds(month)
    by_currency: dict[str, CurrencyReport] = {}

    def row(currency: str) -> CurrencyReport:
        return by_currency.setdefault(currency, CurrencyReport(currency))

    declined = s.scalars(select(AlertInvoice).where(AlertInvoice.created_at >= start, AlertInvoice.created_at < end))
    for ai in declined:
        r = row(ai.currency)
        r.declined_count += 1
        r.declined_minor += ai.amount_minor
        if ai.state == InvoiceState.OPEN:
            r.open_count += 1
            r.open_minor += ai.amount_minor

    settled = s.scalars(
        select(Settlement).where(
            Settlement.status == SettlementStatus.SUCCEEDED, Settlement.updated_at >= start, Settlement.updated_at < end
        )
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
    hours: dict[str, list[float]] = defaultdict(list)
    settled_invoices = set()
    for st in settled:
        r = row(st.currency)
        r.recovered_count += 1
        r.recovered_minor += st.amount_minor
        how = HOW[2] if st.id in verified else HOW[1] if st.payment_method_id in added else HOW[0]
        r.recovered_by[how] += st.amount_minor
        settled_invoices.add(st.invoice_id)
        first = s.scalar(select(AlertInvoice.created_at).where(AlertInvoice.invoice_id == st.invoice_id))
        if first is not None:
            hours[st.currency].append(max(0.0, (st.updated_at - first).total_seconds() / 3600))

    elsewhere = s.scalars(
        select(AuditEvent).where(AuditEvent.action == "invoice_paid", AuditEvent.at >= start, AuditEvent.at < end)
    )
    for event in elsewhere:
        if event.invoice_id in settled_invoices or event.currency is None:
            continue
        r = row(event.currency)
        r.elsewhere_count += 1
        r.elsewhere_minor += event.amount_minor or 0

    for currency, values in hours.items():
        by_currency[currency].median_hours_to_settle = round(statistics.median(values), 1)
    return MonthReport(month, [by_currency[c] for c in sorted(by_currency)])


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
            f"  still open          {c.open_count:4d}  {c.money(c.open_minor):>14}",
            f"  median time from decline to settled: {median}",
        ]
    return "\n".join(lines)


class ReportPoster:
    """Posts last month's report to the alert channel once, early in the new month: the poll asks
    every cycle (one query), one process claims the month, and a failed post is tried again."""

    def __init__(self, sessions: Any, gateway: Any, channel: str | None) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.channel = channel

    def post_due(self, now: datetime | None = None) -> str | None:
        """The month posted by this call, if any."""
        from bot.slack.gateway import SlackError
        from storage.db import reading, transaction
        from storage.models import MonthlyReport
        from storage.upsert import insert_ignore

        if not self.channel:
            return None
        now = now or datetime.now(UTC)
        month = previous_month(now)
        with reading(self.sessions) as s:
            if s.get(MonthlyReport, month) is not None:
                return None
            first_alert = s.scalar(select(AlertInvoice.created_at).order_by(AlertInvoice.created_at).limit(1))
        if first_alert is None or first_alert >= month_bounds(month)[1]:
            return None  # Settle was not running yet that month
        with transaction(self.sessions) as s:
            claimed = insert_ignore(s, MonthlyReport, {"month": month, "claimed_at": now}, ["month"])
            if claimed is None:
                return None
            report = build_report(s, month)
        try:
            self.post(report)
        except SlackError as exc:
            with transaction(self.sessions) as s:
                s.query(MonthlyReport).filter(MonthlyReport.month == month).delete()
            raise RuntimeError(f"monthly report {month} not posted: {exc.code}") from exc
        with transaction(self.sessions) as s:
            row = s.get(MonthlyReport, month)
            if row is not None:
                row.posted_at, row.channel = datetime.now(UTC), self.channel
            from storage import audit

            audit.record(s, "monthly_report_posted", month=month, channel=self.channel)
        return month

    def post(self, report: MonthReport, channel: str | None = None) -> None:
        from bot.read.report_chart import chart_png

        target = channel or self.channel
        assert target
        comment = f"📊 Recovered revenue, {report.month}\n```\n{report_text(report)}\n```"
        self.gateway.upload(target, f"settle-{report.month}.png", chart_png(report), f"Settle {report.month}", comment)
