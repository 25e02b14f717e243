"""The modal tracker: which Slack modals show a settle form or a confirmation, and bringing them along
when what they show moves on. It is the money service's SettlementEvents: the service says "this
batch changed", "a card was added"; the tracker knows which views that concerns and updates them.

A view Settle showed in an answer to Slack (the ack of a submission) is given a fresh external_id and
updated by it: Slack knows that id only once it has shown the answer, so an update that arrives
first is told `not_found` and tried again a moment later, instead of being overwritten by the
answer. Nothing polls.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.chat import SlackError, SlackGateway
from bot.domain.errors import NotSettleable, Refused
from bot.domain.workspace import Requester
from bot.i18n import use
from bot.read.batches import BatchRecord, BatchStatus, batch_record
from bot.read.context import SettleContext
from bot.runtime.pools import Timers
from bot.settlement.forms import SettleForms
from bot.slack.languages import UserLanguages
from handlers.blocks.settle_modal import outcome_text, outcome_view, pick_view
from storage.db import reading, transaction
from storage.models import ModalView, SettlementBatch

log = logging.getLogger(__name__)

REF_PREFIX = "m"  # an add-card reference: "m" + the form's row id
RETRIES = (0.2, 0.4, 0.8, 1.6)  # waits for Slack to show an answer before its view can be updated
# An answer Slack has just been sent is shown within moments; an update is not sent sooner than this
# after it, so that a repeated submission's "Charging…" never lands on top of the outcome.
ANSWER_GRACE = timedelta(seconds=0.75)
KEEP = timedelta(days=2)  # a modal lives at most a few hours in Slack


class ModalTracker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        gateway: SlackGateway,
        languages: UserLanguages,
        timers: Timers,
        forms: SettleForms,
    ) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.languages = languages
        self.timers = timers
        self.forms = forms

    @staticmethod
    def new_external_id(view_id: str | None = None) -> str:
        """The external_id for an answer that replaces `view_id` (the same for every repeated
        submission of that view: whichever answer Slack shows last carries it), else a new one."""
        return f"settle-{view_id}" if view_id else f"settle-{uuid.uuid4().hex[:20]}"

    # --- what the listeners tell it ---------------------------------------------------------------

    def form_ref(self, view_id: str | None, alert_id: int, who: Requester) -> str:
        """The reference an add-card link carries for the settle form shown in `view_id`."""
        if not view_id:
            return "none"
        with transaction(self.sessions) as s:
            row = s.scalar(
                select(ModalView).where(
                    ModalView.role == "form",
                    ModalView.view_id == view_id,
                    ModalView.alert_id == alert_id,
                    ModalView.user_id == (who.user_id or ""),
                )
            )
            if row is None:
                row = self._add(s, "form", who, alert_id=alert_id, view_id=view_id)
            return f"{REF_PREFIX}{row.id}"

    def chosen(self, batch_id: int, root_view_id: str | None, who: Requester) -> None:
        """A confirmation was chosen in this modal session (the stack's root view)."""
        with transaction(self.sessions) as s:
            self._add(s, "chosen", who, batch_id=batch_id, root_view_id=root_view_id)

    def same_session(self, batch_id: int, root_view_id: str | None) -> bool:
        """Does this confirmation come from the modal it was chosen in? (A forged or replayed one from
        another session charges nothing.)"""
        with reading(self.sessions) as s:
            chosen_in = s.scalar(
                select(ModalView.root_view_id).where(ModalView.role == "chosen", ModalView.batch_id == batch_id)
            )
        return not chosen_in or not root_view_id or chosen_in == root_view_id

    def follow(
        self,
        batch: BatchRecord,
        who: Requester,
        *,
        view_id: str | None,
        external_id: str | None = None,
        owner: bool = False,
    ) -> None:
        """This modal shows `batch`: it is brought along when the batch moves on. When the outcome is
        already known (a repeated submission answered "Charging…" after it), it is shown now."""
        with transaction(self.sessions) as s:
            if view_id is not None:
                s.execute(
                    delete(ModalView).where(ModalView.view_id == view_id, ModalView.role.in_(("owner", "watcher")))
                )
            self._add(
                s, "owner" if owner else "watcher", who, batch_id=batch.id, view_id=view_id, external_id=external_id
            )
        with reading(self.sessions) as s:  # afresh: the outcome may have come while this was written
            row = s.get(SettlementBatch, batch.id)
            fresh = batch_record(s, row) if row is not None else batch
        if fresh.done:
            self.batch_changed(fresh, only_view=view_id)

    # --- what the money service tells it ------------------------------------------------------------

    def batch_changed(self, batch: BatchRecord, *, only_view: str | None = None) -> None:
        with reading(self.sessions) as s:
            rows = list(
                s.scalars(
                    select(ModalView)
                    .where(ModalView.batch_id == batch.id, ModalView.role.in_(("owner", "watcher")))
                    .order_by(ModalView.id)
                )
            )
        if only_view is not None:
            rows = [r for r in rows if r.view_id == only_view]
        owner_shown = any(r.role == "owner" for r in rows) or only_view is not None
        shown: set[tuple[str | None, str | None]] = set()
        for row in sorted(rows, key=lambda r: r.role != "owner"):  # a view shown by several rows: once
            if (row.view_id, row.external_id) in shown:
                continue
            shown.add((row.view_id, row.external_id))
            who = Requester(row.user_id, row.team_id or batch.team_id)
            with use(self.languages.of(row.user_id, who.team_id)):
                next_step = self._next_step(batch, who, row.view_id)
                view = outcome_view(batch, next_step)
            self._show(row, view, batch=batch if row.role == "owner" else None)
        if not owner_shown:
            self._tell(batch)

    def card_added(self, account_id: str, ref: str, method_id: str | None) -> None:
        """A card was added through the link of the form `ref` names: that form offers it, chosen."""
        row = self._form(ref)
        if row is None or row.alert_id is None or row.view_id is None:
            return
        who = Requester(row.user_id, row.team_id)
        try:
            ctx = self.forms.context(row.alert_id, who, ref, preselect=method_id)
        except (NotSettleable, Refused) as exc:
            log.info("modal %s not refreshed: %s", row.view_id, exc)
            return
        if ctx.alert.account_id != account_id:
            return  # a link of another account's form: nothing of this one changed
        with use(self.languages.of(row.user_id, who.team_id)):
            view = pick_view(ctx)
        try:
            self.gateway.update_view(who.team_id, view, view_id=row.view_id)
        except SlackError as exc:
            log.info("modal %s not refreshed: %s", row.view_id, exc.code)

    def actor_of(self, ref: str) -> str | None:
        row = self._form(ref)
        return row.user_id if row is not None else None

    # --- internals ---------------------------------------------------------------------------------

    def _form(self, ref: str) -> ModalView | None:
        raw = ref[len(REF_PREFIX) :] if ref.startswith(REF_PREFIX) else ""
        if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
            return None
        with reading(self.sessions) as s:
            row = s.get(ModalView, int(raw))
        return row if row is not None and row.role == "form" else None

    def _next_step(self, batch: BatchRecord, who: Requester, view_id: str | None) -> SettleContext | None:
        """After a decline, the modal offers the other cards for what is still owed."""
        if batch.status not in (BatchStatus.DECLINED, BatchStatus.PARTIAL) or not batch.still_owed:
            return None
        try:
            return self.forms.context(batch.alert_id, who, self.form_ref(view_id, batch.alert_id, who))
        except (NotSettleable, Refused):
            return None

    def _show(
        self, row: ModalView, view: Any, *, batch: BatchRecord | None, attempt: int = 0, waited: bool = False
    ) -> None:
        """Update the modal; an answer Slack has not shown yet is waited for. When the admin's own
        modal is gone, they are told ephemerally (`batch`)."""
        if row.external_id:
            view.external_id = row.external_id
            wait = (row.created_at + ANSWER_GRACE - datetime.now(UTC)).total_seconds()
            if not waited and wait > 0:
                self.timers.later(wait, lambda: self._show(row, view, batch=batch, attempt=attempt, waited=True))
                return
        try:
            if row.external_id:
                self.gateway.update_view(row.team_id, view, external_id=row.external_id)
            else:
                self.gateway.update_view(row.team_id, view, view_id=row.view_id)
            return
        except SlackError as exc:
            if exc.code == "not_found" and row.external_id and attempt < len(RETRIES):
                self.timers.later(
                    RETRIES[attempt], lambda: self._show(row, view, batch=batch, attempt=attempt + 1, waited=True)
                )
                return
            log.info("modal %s gone (%s)", row.view_id or row.external_id, exc.code)
        if batch is not None:
            self._tell(batch)

    def _tell(self, batch: BatchRecord) -> None:
        """The admin closed their modal: tell them anyway, where the alert is."""
        if not batch.alert_channel:
            return
        try:
            with use(self.languages.of(batch.user_id, batch.team_id)):
                text = outcome_text(batch)
            self.gateway.post_ephemeral(batch.team_id, batch.alert_channel, batch.user_id, text)
        except SlackError as exc:
            log.warning("batch %s: could not tell %s: %s", batch.id, batch.user_id, exc.code)

    def _add(self, s: Session, role: str, who: Requester, **fields: Any) -> ModalView:
        now = datetime.now(UTC)
        s.execute(delete(ModalView).where(ModalView.created_at < now - KEEP))
        row = ModalView(role=role, user_id=who.user_id or "", team_id=who.team_id, created_at=now, **fields)
        s.add(row)
        s.flush()
        return row
