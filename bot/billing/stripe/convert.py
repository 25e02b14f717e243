"""Stripe's objects as Settle's records: plain dicts, times, expandable ids, cards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.domain.records import Card, InvoiceStatus, PaymentMethod

STATUS: dict[str, InvoiceStatus] = {
    "open": "open",
    "paid": "paid",
    "void": "voided",
    "uncollectible": "uncollectible",
    "draft": "draft",
}
BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
    "cartes_bancaires": "Cartes Bancaires",
    "eftpos_au": "eftpos",
    "interac": "Interac",
}


def plain(obj: Any) -> dict[str, Any]:
    """A StripeObject (or a webhook's parsed JSON) as plain dicts all the way down."""
    if obj is None:
        return {}
    if isinstance(obj, dict) and not hasattr(obj, "to_dict"):
        return obj
    return obj.to_dict()


def at(ts: int | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts else None


def id_of(value: Any) -> str | None:
    """An expandable field: an id, or the object itself."""
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def card_of(pm: dict[str, Any] | None) -> Card | None:
    card = (pm or {}).get("card") or {}
    if not card.get("last4"):
        return None
    brand = str(card.get("brand") or "")
    return Card(BRANDS.get(brand, brand.replace("_", " ").title() or "Card"), str(card["last4"]))


def method_of(pm: dict[str, Any] | None, *, is_default: bool) -> PaymentMethod | None:
    card, info = card_of(pm), (pm or {}).get("card") or {}
    if pm is None or card is None:
        return None
    return PaymentMethod(
        id=pm["id"],
        card=card,
        exp_month=int(info.get("exp_month") or 1),
        exp_year=int(info.get("exp_year") or 1970),
        is_default=is_default,
    )
