"""What someone's App Home shows: the balances they may settle, what waits for a bank, what was settled
lately, and their rights. A constant number of queries, however much is open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.workspace import Scope
from bot.read.approvals import ApprovalCard, waiting_requests
from bot.read.balances import MaySettle, admins_of, open_balances
from bot.read.batches import BatchRecord, BatchStatus, batch_records
from bot.read.cards import AlertCard
from bot.read.report import MonthReport, build_report
from bot.read.scope import visible
from storage.db import reading
from storage.models import Alert, SettlementBatch

RECENT = 8  # settlements shown
SHOWN = 15  # balances shown
LOOK_BACK = 50  # the latest confirmations looked at for what was settled lately


@dataclass(frozen=True)
class HomeSummary:
    user_id: str
    balances: tuple[AlertCard, ...]  # the first open balances this user may settle, oldest first
    count: int  # how many open balances this user may settle
    totals: tuple[tuple[str, int], ...]  # (currency, minor units) still owed on them
    others_open: int  # open balances this user may not settle
    every_account: bool  # one of SETTLE_ADMINS (directly or by group)
    recent: tuple[BatchRecord, ...]  # settlements of these accounts lately, newest first
    month: MonthReport | None = None  # this month so far, in this workspace: where the money came back from
    waiting: tuple[ApprovalCard, ...] = ()  # requests waiting for a second pair of eyes, in these accounts


def home_summary(
    sessions: sessionmaker[Session], user_id: str, scope: Scope | None, may: MaySettle, *, every_account: bool
) -> HomeSummary:
    balances = open_balances(sessions, scope, may, limit=SHOWN)
    with reading(sessions) as s:
        latest = s.execute(
            select(SettlementBatch, Alert.account_id)
            .join(Alert, Alert.id == SettlementBatch.alert_id)
            .where(visible(scope, Alert.team_id))
            .order_by(SettlementBatch.id.desc())
            .limit(LOOK_BACK)
        ).all()
        admins = admins_of(s, {account_id for _, account_id in latest})
    mine = may(admins)
    with reading(sessions) as s:  # read in full only what this user may see
        records = batch_records(s, [batch for batch, account_id in latest if account_id in mine])
    recent = [r for r in records if r.status in (BatchStatus.SUCCEEDED, BatchStatus.PARTIAL)][:RECENT]
    now = datetime.now(UTC)
    with reading(sessions) as s:
        month = build_report(s, f"{now.year:04d}-{now.month:02d}", scope)
        waiting = waiting_requests(s, scope, may)
    return HomeSummary(
        user_id=user_id,
        balances=tuple(balances.cards),
        count=balances.count,
        totals=balances.totals,
        others_open=balances.open_total - balances.count,
        every_account=every_account,
        recent=tuple(recent),
        month=month,
        waiting=tuple(waiting),
    )
