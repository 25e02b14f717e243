"""The outbox's messages posted once each: thread replies, escalations, card warnings, digests and the
monthly report. Each carries metadata naming its row (a report: its file's title), so an attempt that
finds an earlier one unfinished looks for it in Slack before posting again, as alerts do."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.card_warnings import WarningRenderer
from bot.balances.lifecycle import bump
from bot.delivery.leases import Claim, claim, release, synced_values
from bot.delivery.outbox import DeliveryReport, post_joining
from bot.delivery.ports import AlertRenderer, ApprovalRenderer, DigestRenderer, NoticeRenderer
from bot.domain.chat import ChannelUnavailable, MessageGone, SlackAuthError, SlackError, SlackGateway, Workspaces
from bot.domain.workspace import Scope
from bot.read.approvals import approval_card
from bot.read.cards import card_of, cards_and_rows
from bot.read.digests import digest_card
from bot.read.notices import customer_notice
from bot.read.report import build_report, report_text
from bot.read.warnings import warning_card
from storage import audit
from storage.db import reading, transaction
from storage.leases import new_owner
from storage.models import UNPOSTABLE, Alert, CardWarning, Message, MonthlyReport

log = logging.getLogger(__name__)

MESSAGE_EVENT_TYPE = "settle_message"
HISTORY_SLACK = timedelta(minutes=5)
# kinds whose message is updated in place when they change (an escalation: once its balance ends)
UPDATABLE = ("approval", "card_warning", "customer_notice", "digest", "escalation")


@dataclass(frozen=True)
class Rendered:
    team: str | None
    channel: str
    thread_ts: str | None  # a reply's parent message
    text: str
    blocks: list[Any]
    upload: tuple[str, bytes, str] | None = None  # (filename, content, title): a file, not a message
    superseded: bool = False  # a warning whose card was declined before it was posted: not posted


class NotReady(Exception):
    """A reply whose parent message is not in Slack yet: it waits for it."""


class MessageDeliverer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        gateway: SlackGateway,
        workspaces: Workspaces,
        alerts: AlertRenderer,
        warnings: WarningRenderer,
        digests: DigestRenderer,
        owner: str | None = None,
        *,
        central_language: str = "en",
        approvals: ApprovalRenderer | None = None,
        global_admins: tuple[str, ...] = (),
        notices: NoticeRenderer | None = None,
        card_link: Callable[[str, str], str | None] | None = None,
    ) -> None:
        self.notices = notices
        self.card_link = card_link  # the provider's add-card page for a customer (account id, reference)
        self.approvals = approvals
        self.global_admins = global_admins  # SETTLE_ADMINS: named among who may approve
        self.central_language = central_language  # the escalation channel's: it is no one account's
        self.sessions = sessions
        self.gateway = gateway
        self.workspaces = workspaces
        self.alerts = alerts
        self.warnings = warnings
        self.digests = digests
        self.owner = owner or new_owner()

    def deliver_one(self, message_id: int) -> DeliveryReport:
        report = DeliveryReport()
        try:
            self.deliver(message_id, report)
        except SlackAuthError:
            raise
        except SlackError as exc:
            log.warning("message %s not delivered: %s", message_id, exc.code)
            report.failed.append(f"message {message_id}: {exc.code}")
        return report

    def deliver(self, message_id: int, report: DeliveryReport | None = None) -> bool:
        report = report or DeliveryReport()
        claimed = claim(self.sessions, Message, message_id, self.owner)
        if claimed is None:
            return False
        released = False
        try:
            released = self._sync(message_id, claimed, report)
        except NotReady:
            pass
        finally:
            if not released:
                release(self.sessions, Message, message_id, claimed.token)
        return released

    def _sync(self, message_id: int, claimed: Claim, report: DeliveryReport) -> bool:
        with reading(self.sessions) as s:
            msg = s.get(Message, message_id)
            assert msg is not None
            version, ts, kind, created = msg.version, msg.ts, msg.kind, msg.created_at
            shown = self._render(s, msg)
        if ts is not None:
            if kind in UPDATABLE and ts != UNPOSTABLE:
                try:
                    self.gateway.update(shown.team, shown.channel, ts, shown.text, shown.blocks)
                except MessageGone:
                    log.warning("message %s (%s) was deleted: not posted again", message_id, kind)
            self._synced(message_id, version, claimed.token, ts=ts)
            report.messages += 1
            return True
        if kind == "card_warning" and shown.superseded:
            # the renewal was declined on the card before the warning went out: the decline's alert
            # says it all, and the two would arrive together
            log.info("message %s (card warning) not posted: its card was declined meanwhile", message_id)
            self._synced(message_id, version, claimed.token, ts=UNPOSTABLE)
            return True
        if claimed.previous_attempts > 0:
            found = self._find(shown, message_id, (created - HISTORY_SLACK).timestamp())
            if found is not None:
                log.info("message %s (%s) was already posted: recorded, not re-posted", message_id, kind)
                if kind in UPDATABLE:
                    self.gateway.update(shown.team, shown.channel, found, shown.text, shown.blocks)
                self._synced(message_id, version, claimed.token, ts=found, kind=kind, recovered=True)
                report.recovered += 1
                return True
        try:
            posted_ts = self._post(shown, message_id)
        except ChannelUnavailable as exc:
            log.warning("message %s (%s) cannot go to %s: %s", message_id, kind, shown.channel, exc.code)
            posted_ts = UNPOSTABLE
        self._synced(message_id, version, claimed.token, ts=posted_ts, kind=kind)
        report.messages += 1
        return True

    # --- what each kind is ---------------------------------------------------------------------------

    def _render(self, s: Session, msg: Message) -> Rendered:
        detail = dict(msg.detail or {})
        if msg.kind == "reply" and msg.alert_id is not None:
            ((card, alert),) = cards_and_rows(s, [msg.alert_id])
            channel, thread = self._thread(s, alert)
            if alert.ts is None:  # told in a digest: its thread, named
                detail["in_digest"] = True
            text = self.alerts.reply(card, str(detail.pop("kind", "")), detail)
            return Rendered(self._team(alert.team_id), channel, thread, text, [])
        if msg.kind == "reply" and msg.digest_id is not None:
            digest = digest_card(s, msg.digest_id)
            in_digest, under = self._digest_message(s, msg.digest_id)
            if digest is None or in_digest is None or under is None:
                raise NotReady()
            text = self.digests.reply(digest, str(detail.pop("kind", "")), detail)
            return Rendered(self._team(msg.team_id), in_digest, under, text, [])
        if msg.kind == "approval" and msg.alert_id is not None and self.approvals is not None:
            request = approval_card(s, int(detail["request_id"]), self.global_admins)
            row = s.get(Alert, msg.alert_id)
            if request is None or row is None:
                raise SlackError("unknown_approval_request")
            channel, thread = self._thread(s, row)
            return Rendered(
                self._team(row.team_id), channel, thread, self.approvals.text(request), self.approvals.blocks(request)
            )
        if msg.kind == "customer_notice" and msg.alert_id is not None and self.notices is not None:
            alert_id = msg.alert_id
            link = self.card_link
            notice = customer_notice(s, alert_id, (lambda a: link(a, f"notice-{alert_id}")) if link else None)
            if notice is None or msg.channel is None:
                raise SlackError("unknown_customer_notice")
            return Rendered(
                self._team(msg.team_id), msg.channel, None, self.notices.text(notice), self.notices.blocks(notice)
            )
        if msg.kind == "escalation" and msg.alert_id is not None:
            escalated = card_of(s, msg.alert_id)
            assert escalated is not None and msg.channel is not None
            # the channel gathers many accounts' escalations: in its own language, not each account's
            text = self.alerts.reply(replace(escalated, language=self.central_language), "escalated_elsewhere", detail)
            return Rendered(self._team(msg.team_id or escalated.team_id), msg.channel, None, text, [])
        if msg.kind == "card_warning" and msg.warning_id is not None:
            warning = s.get(CardWarning, msg.warning_id)
            assert warning is not None and msg.channel is not None
            shown = warning_card(s, warning)
            return Rendered(
                self._team(msg.team_id),
                msg.channel,
                None,
                self.warnings.text(shown),
                self.warnings.blocks(shown),
                superseded=shown.resolved_how == "declined",
            )
        if msg.kind == "digest" and msg.digest_id is not None:
            found = digest_card(s, msg.digest_id)
            assert found is not None and msg.channel is not None
            return Rendered(
                self._team(msg.team_id), msg.channel, None, self.digests.text(found), self.digests.blocks(found)
            )
        if msg.kind == "report" and msg.channel is not None:
            month = str(detail["month"])
            report = build_report(s, month, self._scope(msg.team_id))
            # matplotlib is imported only when a chart is drawn: start-up time
            from bot.read.report_chart import chart_png

            comment = f"📊 Recovered revenue, {month}\n```\n{report_text(report)}\n```"
            title = report_title(month, msg.team_id)
            upload = (f"settle-{month}.png", chart_png(report), title)
            return Rendered(self._team(msg.team_id), msg.channel, None, comment, [], upload=upload)
        raise SlackError(f"unknown_message_{msg.kind}")

    def _thread(self, s: Session, alert: Alert) -> tuple[str, str]:
        """Where a message about an alert goes: its thread, or its digest's when it was told in one."""
        channel, thread = alert.channel, alert.ts
        if thread is None and alert.digest_id is not None:
            channel, thread = self._digest_message(s, alert.digest_id)
        if channel is None or thread is None:
            raise NotReady()
        return channel, thread

    @staticmethod
    def _digest_message(s: Session, digest_id: int) -> tuple[str | None, str | None]:
        row = s.execute(
            select(Message.channel, Message.ts).where(Message.kind == "digest", Message.digest_id == digest_id)
        ).one_or_none()
        if row is None or row[1] in (None, UNPOSTABLE):
            return None, None
        return row[0], row[1]

    def _team(self, team: str | None) -> str | None:
        return self.workspaces.resolve(team)

    def _scope(self, team: str | None) -> Scope | None:
        if team is None or not self.workspaces.multi:
            return None
        return Scope(team, unassigned=self.workspaces.resolve(None) == team)

    # --- Slack ----------------------------------------------------------------------------------------

    def _post(self, shown: Rendered, message_id: int) -> str:
        if shown.upload is not None:
            filename, content, title = shown.upload
            self.gateway.upload(shown.team, shown.channel, filename, content, title, shown.text)
            return f"file:{title}"
        metadata = {"event_type": MESSAGE_EVENT_TYPE, "event_payload": {"message_id": message_id}}
        thread: dict[str, Any] = {}
        if shown.thread_ts is not None:
            thread = {"thread_ts": shown.thread_ts, "reply_broadcast": self._broadcast(message_id)}
        _, ts = post_joining(self.gateway, shown.team, shown.channel, shown.text, shown.blocks, metadata, **thread)
        return ts

    def _broadcast(self, message_id: int) -> bool:
        with reading(self.sessions) as s:
            return bool(s.scalar(select(Message.broadcast).where(Message.id == message_id)))

    def _find(self, shown: Rendered, message_id: int, oldest: float) -> str | None:
        if shown.upload is not None:
            title = shown.upload[2]
            return f"file:{title}" if self.gateway.find_file(shown.team, shown.channel, title, oldest) else None
        return self.gateway.find_message(
            shown.team, shown.channel, MESSAGE_EVENT_TYPE, "message_id", message_id, oldest, thread_ts=shown.thread_ts
        )

    def _synced(
        self, message_id: int, version: int, token: str, *, ts: str, kind: str | None = None, recovered: bool = False
    ) -> None:
        values = {"ts": ts, "synced_at": datetime.now(UTC), **synced_values(Message, version, token, release=True)}
        with transaction(self.sessions) as s:
            s.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if kind is None:
                return
            msg = s.get(Message, message_id)
            assert msg is not None
            if kind == "customer_notice" and msg.alert_id is not None:  # the internal alert says it was told
                bump(s, msg.alert_id)
            if kind == "report" and ts != UNPOSTABLE:
                month = str((msg.detail or {}).get("month"))
                row = s.get(MonthlyReport, (month, msg.team_id or ""))
                if row is not None:
                    row.posted_at, row.channel = datetime.now(UTC), msg.channel
                audit.record(s, "monthly_report_posted", month=month, channel=msg.channel, team_id=msg.team_id)
            audit.record(
                s,
                "message_recovered" if recovered else ("message_unposted" if ts == UNPOSTABLE else "message_posted"),
                message_id=message_id,
                kind=kind,
                alert_id=msg.alert_id,
                channel=msg.channel,
                ts=None if ts == UNPOSTABLE else ts,
            )


def report_title(month: str, team: str | None) -> str:
    """The report file's title: what a later attempt looks for in the channel."""
    return f"Settle {month}" + (f" · {team}" if team else "")
