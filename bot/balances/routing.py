"""Who an account is and where its alerts go: from the provider (Stripe customer metadata, the
sandbox YAML) and from `settle accounts map`, which an operator sets and the provider never undoes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from bot.domain.errors import SettleError
from bot.domain.records import AccountInfo
from bot.domain.slack_ids import is_channel, is_team, is_user_or_group
from bot.domain.states import ALERT_DONE
from bot.i18n import available, language
from storage import audit
from storage.models import Account, AccountAdmin, Alert, WorkspaceSetting
from storage.upsert import insert_ignore_many

MAX_NAME = 200


@dataclass(frozen=True)
class Routing:
    """Where an account's alerts go and who may settle it, as the provider's metadata says."""

    channel: str | None
    team: str | None
    admins: tuple[str, ...]
    customer_channel: str | None = None  # shared with the customer: declines told in their words


def routing_of(info: AccountInfo) -> Routing | None:
    """Settle's keys in the customer's metadata (settle_channel, settle_admins, settle_team); None when
    the provider keeps no metadata. Ids that are not Slack's are left out."""
    if info.metadata is None:
        return None
    meta = info.metadata
    channel = str(meta.get("settle_channel") or "").strip()
    team = str(meta.get("settle_team") or "").strip()
    shared = str(meta.get("settle_customer_channel") or "").strip()
    admins = (a.strip() for a in str(meta.get("settle_admins") or "").split(","))
    return Routing(
        customer_channel=shared if is_channel(shared) and shared != channel else None,
        channel=channel if is_channel(channel) else None,
        team=team if is_team(team) else None,
        admins=tuple(a for a in dict.fromkeys(admins) if a and is_user_or_group(a)),
    )


def apply_account_info(s: Session, info: AccountInfo) -> bool:
    """Record the provider's view of a customer. True when something an alert shows changed."""
    return bool(apply_accounts(s, [info]))


def apply_accounts(s: Session, infos: list[AccountInfo]) -> set[str]:
    """Record the provider's view of many customers at once (a page of the feed): the accounts and
    their admins read in one query, the open alerts of renamed accounts bumped in one statement.
    The ids of accounts whose name changed (what an alert shows)."""
    latest = {info.id: info for info in infos}  # the feed's last word on each
    if not latest:
        return set()
    known = set(s.scalars(select(Account.id).where(Account.id.in_(latest))))
    # new customers inserted set-wise, never twice: a webhook and a poll in another process may
    # bring the same new customer at the same moment (the later insert waits and skips)
    new = [
        {"id": i.id, "name": i.id, "currency": (i.currency or "USD").upper()}
        for i in latest.values()
        if i.id not in known
    ]
    insert_ignore_many(s, Account, new, ["id"], (Account.id,))
    found = {
        a.id: a for a in s.scalars(select(Account).where(Account.id.in_(latest)).options(selectinload(Account.admins)))
    }
    changed: set[str] = set()
    now = datetime.now(UTC)
    for info in latest.values():
        account = found[info.id]
        name = (info.name or info.id)[:MAX_NAME]
        if account.name != name:
            changed.add(info.id)
        account.name = name
        account.provider_synced_at = now
        if info.currency:
            account.currency = info.currency.upper()
        if info.locale:
            account.locale = language(info.locale)
        routing = routing_of(info)
        if routing is not None:
            # the provider routes: what it says now replaces what it said before (bad ids are ignored)
            account.slack_channel, account.slack_team = routing.channel, routing.team
            # never the account's own alert channel, however that was set (`settle accounts map` too)
            shared = routing.customer_channel
            account.customer_channel = shared if shared and shared != account.channel else None
            manual = {a.slack_id for a in account.admins if a.source == "manual"}
            account.admins = [a for a in account.admins if a.source == "manual"] + [
                AccountAdmin(slack_id=a, source="provider") for a in routing.admins if a not in manual
            ]
    s.flush()
    if changed:
        s.execute(
            update(Alert)
            .where(Alert.account_id.in_(changed), Alert.state.not_in(ALERT_DONE))
            .values(version=Alert.version + 1)
            .execution_options(synchronize_session="fetch")
        )
    return changed


def map_account(
    s: Session,
    account_id: str,
    *,
    channel: str | None,
    admins: list[str],
    name: str | None,
    replace: bool,
    locale: str | None = None,
    team: str | None = None,
) -> Account:
    """`settle accounts map`: route an account by hand. Admins are added (all replaced with `replace`)."""
    if team is not None and not is_team(team):
        raise SettleError(f"--team {team!r} is not a Slack workspace id (T…)")
    if channel is not None and not is_channel(channel):
        raise SettleError(f"--channel {channel!r} is not a Slack channel id (C…, G…)")
    bad = [a for a in admins if not is_user_or_group(a)]
    if bad:
        raise SettleError(f"--admin {bad[0]!r} is not a Slack user (U…) or user-group (S…) id")
    account = s.get(Account, account_id)
    if account is None:
        account = Account(id=account_id, name=name or account_id, currency="USD")
        s.add(account)
    elif name:
        account.name = name[:MAX_NAME]
    if channel is not None:
        account.mapped_channel = channel
    if team is not None:
        account.mapped_team = team
    if locale is not None:
        if locale.lower() not in available():
            raise SettleError(f"--language {locale!r}: Settle speaks {', '.join(available())}")
        account.locale = locale.lower()
    kept = [] if replace else [a for a in account.admins if a.source == "manual"]
    ids = [a.slack_id for a in kept]
    for admin in admins:
        if admin not in ids:
            kept.append(AccountAdmin(slack_id=admin, source="manual"))
            ids.append(admin)
    provider = [a for a in account.admins if a.source != "manual" and a.slack_id not in ids]
    account.admins = kept + provider
    s.flush()
    audit.record(
        s,
        "account_mapped",
        actor="cli",
        account_id=account_id,
        channel=channel,
        team=team,
        admins=ids,
        replaced=replace,
    )
    return account


def default_channel(s: Session, team_id: str | None, fallback: str | None) -> str | None:
    """Where an account without a channel of its own is alerted: its workspace's channel (`settle
    workspaces channel`), else SETTLE_ALERT_CHANNEL. With many workspaces, a channel of one
    workspace is no use to another's accounts."""
    if team_id:
        chosen = s.scalar(select(WorkspaceSetting.alert_channel).where(WorkspaceSetting.team_id == team_id))
        if chosen:
            return str(chosen)
    return fallback


def set_workspace_channel(s: Session, team: str, channel: str) -> None:
    """`settle workspaces channel`: where `team`'s accounts without a channel of their own are alerted
    (and escalated)."""
    if not is_team(team):
        raise SettleError(f"{team!r} is not a Slack workspace id (T…): `settle workspaces` lists them")
    if not is_channel(channel):
        raise SettleError(f"{channel!r} is not a Slack channel id (C…, G…)")
    row = s.get(WorkspaceSetting, team) or WorkspaceSetting(team_id=team)
    row.alert_channel, row.updated_at = channel, datetime.now(UTC)
    s.add(row)
    audit.record(s, "workspace_channel_set", actor="cli", team_id=team, channel=channel)
