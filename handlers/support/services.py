"""What the listeners are given (by the composition root, through handlers.register), and who a
request comes from. A listener calls these; it builds none of them."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from slack_bolt import BoltContext
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.access import Authorizer
from bot.balances.card_warnings import CardWarnings
from bot.balances.follow_ups import FollowUps
from bot.delivery.home import HomePublisher
from bot.delivery.morning import MorningLists
from bot.domain.workspace import Requester
from bot.read.unfurls import Unfurls
from bot.settlement.approving import ApprovalDesk
from bot.settlement.asking import CustomerAsks
from bot.settlement.batches import Batches
from bot.settlement.charging import Charger
from bot.settlement.endings import Endings
from bot.settlement.forms import SettleForms
from bot.settlement.recovery import Recovery
from bot.settlement.retries import Retries
from bot.slack.languages import UserLanguages
from handlers.adapters.modals import ModalTracker
from handlers.support.priority import OpenGate


@dataclass(frozen=True)
class Services:
    sessions: sessionmaker[Session]  # for the read model's queries (/settle's lists)
    access: Authorizer
    forms: SettleForms
    batches: Batches
    charger: Charger
    recovery: Recovery
    follow_ups: FollowUps
    endings: Endings
    retries: Retries
    asks: CustomerAsks
    approvals: ApprovalDesk
    unfurls: Unfurls
    morning: MorningLists
    card_warnings: CardWarnings
    home: HomePublisher
    languages: UserLanguages
    modals: ModalTracker
    fill: Executor  # fills a modal after its loading view opened (waits while other clicks open theirs)
    submissions: Executor  # a submission's work after its ack, off the pool that acks the next one
    open_gate: OpenGate


def services(context: BoltContext) -> Services:
    found = context["services"]
    assert isinstance(found, Services)
    return found


def requester(context: BoltContext) -> Requester:
    """The person and workspace the request comes from (the team is Bolt's, from the signed payload)."""
    return Requester(str(context.user_id) if context.user_id else None, context.team_id or None)
