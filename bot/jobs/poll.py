"""One poll cycle: finish what a bank page or a crash left open, read the provider's changes, write the
follow-ups and card warnings now due, post the monthly report when due, and bring Slack up to date."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.balances.card_warnings import CardWarnings
from bot.balances.follow_ups import FollowUps
from bot.balances.ingest import Ingest, IngestReport
from bot.delivery.courier import Courier
from bot.delivery.outbox import DeliveryReport
from bot.delivery.report import ReportPoster
from bot.domain.errors import ProviderUnavailable
from bot.domain.records import ChangePage
from bot.domain.words import plural
from bot.observe.metrics import DECLINES, POLL_SECONDS

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    ingest: IngestReport = field(default_factory=IngestReport)
    feed_error: str | None = None
    reminders: int = 0
    escalations: int = 0
    monthly_reports: list[str] = field(default_factory=list)
    card_warnings: int = 0
    settlements: int = 0
    retries: int = 0  # scheduled retries fired this cycle
    approvals_expired: int = 0  # requests for a second pair of eyes no one decided in time
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    @property
    def new_declines(self) -> int:
        return self.ingest.new_declines

    @property
    def new_alerts(self) -> int:
        return self.ingest.new_alerts

    @property
    def paid(self) -> int:
        return self.ingest.paid

    @property
    def closed(self) -> int:
        return self.ingest.closed

    def summary(self) -> str:
        d, i = self.delivery, self.ingest
        parts = [
            plural(i.new_declines, "new decline"),
            plural(i.new_alerts, "new alert"),
            f"{d.posted} posted",
            f"{d.updated} updated",
        ]
        if i.paid:
            parts.append(f"{i.paid} paid")
        if i.closed:
            parts.append(f"{plural(i.closed, 'invoice')} voided or written off")
        if self.settlements:
            parts.append(f"{plural(self.settlements, 'settlement')} completed")
        if self.retries:
            parts.append(plural(self.retries, "scheduled retry", "scheduled retries"))
        if self.approvals_expired:
            parts.append(f"{plural(self.approvals_expired, 'approval request')} expired")
        if d.recovered:
            parts.append(f"{d.recovered} recovered after a crash")
        if self.reminders:
            parts.append(plural(self.reminders, "reminder"))
        if self.escalations:
            parts.append(plural(self.escalations, "escalation"))
        if self.card_warnings:
            parts.append(plural(self.card_warnings, "card warning"))
        for posted in self.monthly_reports:
            parts.append(f"report for {posted} posted")
        if self.feed_error:
            parts.append(f"feed not read: {self.feed_error}")
        if d.failed:
            parts.append(f"{len(d.failed)} failed ({'; '.join(d.failed)})")
        return ", ".join(parts)


class PollCycle:
    def __init__(
        self,
        ingest: Ingest,
        courier: Courier,
        *,
        reconcile: Callable[[], int] | None = None,
        retries: Callable[[], int] | None = None,
        expire_approvals: Callable[[], int] | None = None,
        follow_ups: FollowUps | None = None,
        reports: ReportPoster | None = None,
        card_warnings: CardWarnings | None = None,
    ) -> None:
        self.ingest = ingest
        self.courier = courier
        self.reconcile = reconcile
        self.retries = retries
        self.expire_approvals = expire_approvals
        self.follow_ups = follow_ups
        self.reports = reports
        self.card_warnings = card_warnings

    def run_cycle(self, *, drain: bool = True) -> CycleReport:
        """Record what changed; the courier posts it as each page is recorded. With `drain` (a
        `settle poll --once`, a test) the cycle also waits until Slack has it all; the schedule does
        not, so a long renewal day never holds up the next poll."""
        with POLL_SECONDS.time():
            report = self._cycle()
            if drain:
                report.delivery = self.courier.drain()
        DECLINES.inc(report.new_declines)
        return report

    def scheduled(self) -> CycleReport:
        return self.run_cycle(drain=False)

    def _cycle(self) -> CycleReport:
        report = CycleReport()
        if self.reconcile is not None:
            # first: a payment Settle made is recorded as the admin's before the feed says "paid"
            report.settlements = self.reconcile()  # bank verifications finished, charges with unknown outcome
        try:
            self.ingest.read_feed(report.ingest)
        except ProviderUnavailable as exc:
            # the cursor did not move: the next cycle reads the same changes; alerts already recorded still go out
            log.warning("%s feed unavailable (%s): %s", self.ingest.provider.name, exc.request_id, exc)
            report.feed_error = str(exc)
        if self.retries is not None:  # after the feed: a balance paid meanwhile is known, and not charged
            report.retries = self.retries()
        if self.expire_approvals is not None:
            report.approvals_expired = self.expire_approvals()
        if self.follow_ups is not None:
            report.reminders, report.escalations = self.follow_ups.run()
        if self.card_warnings is not None:
            try:
                report.card_warnings = self.card_warnings.run()
            except ProviderUnavailable as exc:
                log.warning("card warnings not scanned: %s", exc)
        if self.reports is not None:
            for posted in self.reports.post_due():
                report.monthly_reports.append(f"{posted.month}" + (f" in {posted.team}" if posted.team else ""))
        self.courier.wake()
        return report

    def pushed(self, page: ChangePage) -> CycleReport:
        """Changes a webhook brought: recorded (once, whoever gets there first); the courier posts them."""
        report = CycleReport()
        self.ingest.push(page, report.ingest)
        self.courier.wake()
        return report
