"""Load sandbox accounts from YAML: idempotent by id, with errors that name the line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session, sessionmaker

from bot.billing.sandbox.cards import classify, fingerprint, parse_expiry
from bot.billing.sandbox.models import SandboxCustomer, SandboxEvent, SandboxInvoice, SandboxPaymentMethod
from bot.domain.money import known, to_minor
from bot.domain.slack_ids import is_channel, is_team, is_user_or_group
from bot.i18n import available
from storage.db import transaction


class LoadError(ValueError):
    """Bad sandbox YAML; the message names the file line."""


class _LineLoader(yaml.SafeLoader):
    """Keeps each mapping's line number under the key "__line__"."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping  # type: ignore[return-value]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass
class LoadSummary:
    accounts: int = 0
    payment_methods: int = 0
    invoices: int = 0
    account_ids: list[str] = field(default_factory=list)


def parse(text: str, source: str = "<yaml>") -> list[dict[str, Any]]:
    try:
        doc = yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f"line {mark.line + 1}" if mark else "unknown line"
        raise LoadError(f"{source}, {line}: {exc.problem}") from None
    try:
        doc = _whole_characters(doc)
    except UnicodeError:
        raise LoadError(f"{source}: a \\u escape names half a character (a lone surrogate)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("accounts"), list):
        raise LoadError(f"{source}, line 1: expected a top-level 'accounts:' list")
    accounts = doc["accounts"]
    for acc in accounts:
        if not isinstance(acc, dict):
            raise LoadError(f"{source}: each account must be a mapping")
    return accounts


def _whole_characters(value: Any) -> Any:
    """YAML reads "\\ud83d\\ude42" (JSON's way to write 🙂) as two halves of a character, which no
    database will store: pairs are joined into the character, a lone half raises UnicodeError."""
    if isinstance(value, str):
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            return value.encode("utf-16", "surrogatepass").decode("utf-16")
        return value
    if isinstance(value, dict):
        return {k: _whole_characters(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_characters(v) for v in value]
    return value


def _need(item: dict[str, Any], key: str, source: str) -> Any:
    if key not in item or item[key] in (None, ""):
        raise LoadError(f"{source}, line {item.get('__line__', '?')}: missing '{key}'")
    return item[key]


def load_file(sessions: sessionmaker[Session], path: Path) -> LoadSummary:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LoadError(f"{path}: {exc.strerror}") from None
    return load(sessions, parse(text, str(path)), str(path))


def load(sessions: sessionmaker[Session], accounts: list[dict[str, Any]], source: str = "<yaml>") -> LoadSummary:
    summary = LoadSummary()
    with transaction(sessions) as s:
        for acc in accounts:
            _load_account(s, acc, source, summary)
    return summary


def _load_account(s: Session, acc: dict[str, Any], source: str, summary: LoadSummary) -> None:
    def where(item: dict[str, Any]) -> str:
        return f"{source}, line {item.get('__line__', '?')}"

    acc_id = _id(_need(acc, "id", source), 64, where(acc), "account id")
    name = _text(_need(acc, "name", source), MAX_NAME, where(acc), "name")
    currency = str(acc.get("currency", "EUR")).upper()
    if not known(currency):
        raise LoadError(f"{where(acc)}: currency {currency!r} is not an ISO 4217 code")

    meta: dict[str, str] = {}
    lang = acc.get("language")
    if lang is not None and str(lang).lower() not in available():
        raise LoadError(f"{where(acc)}: language must be one of {', '.join(available())}")
    channel = acc.get("slack_channel") or None
    if channel is not None and not (isinstance(channel, str) and is_channel(channel)):
        raise LoadError(f"{where(acc)}: slack_channel must be a Slack channel id like C0123456789")
    shared = acc.get("customer_channel") or None
    if shared is not None and not (isinstance(shared, str) and is_channel(shared)):
        raise LoadError(f"{where(acc)}: customer_channel must be a Slack channel id like C0123456789")
    team = acc.get("slack_team") or None
    if team is not None and not (isinstance(team, str) and is_team(team)):
        raise LoadError(f"{where(acc)}: slack_team must be a Slack workspace id like T0123456789")
    admins = acc.get("admins") or []
    if not isinstance(admins, list) or not all(isinstance(a, str) and is_user_or_group(a) for a in admins):
        raise LoadError(f"{where(acc)}: admins must be a list of Slack user (U…) or user-group (S…) ids")
    # kept as the customer's metadata, as Stripe would keep it: Settle reads its routing from there
    meta["settle_admins"] = ",".join(dict.fromkeys(admins))
    if channel:
        meta["settle_channel"] = channel
    if team:
        meta["settle_team"] = team
    if shared:
        meta["settle_customer_channel"] = shared

    customer = s.get(SandboxCustomer, acc_id) or SandboxCustomer(id=acc_id)
    seen = (customer.name, customer.currency, customer.meta, customer.locale)
    customer.name, customer.currency, customer.meta = name, currency, meta
    if lang is not None:
        customer.locale = str(lang).lower()
    s.add(customer)
    if (customer.name, customer.currency, customer.meta, customer.locale) != seen:
        # a customer created or changed: Settle learns of it from the feed, as from Stripe's customer.updated
        s.add(SandboxEvent(kind="customer_updated", customer_id=acc_id, created_at=datetime.now(UTC)))
    summary.accounts += 1
    summary.account_ids.append(acc_id)

    first_id: str | None = None
    marked_id: str | None = None
    for index, item in enumerate(acc.get("payment_methods") or [], start=1):
        if not isinstance(item, dict):
            raise LoadError(f"{where(acc)}: each payment method must be a mapping like {{card: '4242...'}}")
        try:
            brand, last4, behaviour = classify(str(_need(item, "card", source)))
        except ValueError as exc:
            raise LoadError(f"{where(item)}: {exc}") from None
        pm_id = _id(item.get("id") or f"pm_{acc_id}_{index}", 128, where(item), "payment method id")
        exp_month, exp_year = _expiry(item, where(item), expired=behaviour == "expired_card")
        pm = s.get(SandboxPaymentMethod, pm_id) or SandboxPaymentMethod(id=pm_id, customer_id=acc_id)
        if pm.customer_id != acc_id:
            raise LoadError(f"{where(item)}: payment method id {pm_id} belongs to another account")
        pm.brand, pm.last4, pm.behaviour = brand, last4, behaviour
        pm.fingerprint = fingerprint(str(item["card"]))
        pm.exp_month, pm.exp_year = exp_month, exp_year
        s.add(pm)
        summary.payment_methods += 1
        first_id = first_id or pm_id
        marked_id = pm_id if item.get("default") else marked_id
    if first_id is not None:
        customer.default_payment_method_id = marked_id or first_id
    renewal = acc.get("renewal")
    if renewal is not None:
        # YAML 1.1 reads a bare `on:` key as true: `{on: 2026-12-05}` is what the README writes
        when = renewal.get("on", renewal.get(True)) if isinstance(renewal, dict) else None
        if when is None:
            raise LoadError(f"{where(acc)}: renewal must be a mapping like {{on: 2026-12-05, amount: '129.00'}}")
        try:
            on = when if isinstance(when, date) else date.fromisoformat(str(when))
            customer.renewal_amount_minor = to_minor(renewal.get("amount", "0"), currency)
        except ValueError as exc:
            raise LoadError(f"{where(renewal)}: renewal: {exc}") from None
        customer.renews_on = on

    s.flush()
    for index, item in enumerate(acc.get("invoices") or [], start=1):
        if not isinstance(item, dict):
            raise LoadError(f"{where(acc)}: each invoice must be a mapping like {{amount: '129.00'}}")
        try:
            amount = to_minor(_need(item, "amount", source), currency)
        except ValueError as exc:
            raise LoadError(f"{where(item)}: {exc}") from None
        inv_id = _id(item.get("id") or f"in_{acc_id}_{index}", 128, where(item), "invoice id")
        inv = s.get(SandboxInvoice, inv_id) or SandboxInvoice(
            id=inv_id, customer_id=acc_id, status="open", created_at=datetime.now(UTC)
        )
        if inv.customer_id != acc_id:
            raise LoadError(f"{where(item)}: invoice id {inv_id} belongs to another account")
        inv.amount_minor, inv.currency = amount, currency
        inv.description = _text(item.get("description") or "", MAX_DESCRIPTION, where(item), "description", lines=True)
        s.add(inv)
        summary.invoices += 1


MAX_NAME = 200
MAX_DESCRIPTION = 1000
_ID = re.compile(r"^[A-Za-z0-9_\-]+$")


def _id(value: Any, limit: int, where: str, what: str) -> str:
    text = str(value)
    if not _ID.match(text) or len(text) > limit:
        raise LoadError(f"{where}: {what} must be 1 to {limit} letters, digits, '_' or '-'")
    return text


def _text(value: Any, limit: int, where: str, what: str, *, lines: bool = False) -> str:
    text = str(value)
    if len(text) > limit:
        raise LoadError(f"{where}: {what} is longer than {limit} characters")
    if any((ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0) and ch not in ("\t\n" if lines else "\t") for ch in text):
        raise LoadError(f"{where}: {what} contains control characters")
    return text


def _expiry(item: dict[str, Any], where: str, *, expired: bool = False) -> tuple[int, int]:
    raw = item.get("exp")
    if raw is None:
        now = datetime.now(UTC)
        # Stripe's expired test card stands for a card past its date: give it one (last month)
        return ((now.month - 2) % 12 + 1, now.year - (now.month == 1)) if expired else (12, now.year + 3)
    try:
        return parse_expiry(str(raw))
    except ValueError:
        raise LoadError(f"{where}: exp must look like 12/2029") from None
