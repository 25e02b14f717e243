"""Which pasted links name a balance Settle knows: a Stripe dashboard link to an invoice or a customer
(live or test mode, with or without the account in the path), a Stripe hosted invoice page, or
Settle's own invoice page. Anything else names nothing (and is not unfurled)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

LinkKind = Literal["invoice", "customer", "hosted"]

_ID = r"[A-Za-z0-9_]{3,100}"
_DASHBOARD = re.compile(r"^(?:/acct_[A-Za-z0-9]+)?(?:/test)?/(invoices|customers)/((?:in|cus)_[A-Za-z0-9]+)/?$")
_OWN_INVOICE = re.compile(rf"^/sandbox/invoices/({_ID})$")
STRIPE_DASHBOARD = "dashboard.stripe.com"
STRIPE_INVOICES = "invoice.stripe.com"
MAX_URL = 2000


@dataclass(frozen=True)
class LinkRef:
    kind: LinkKind
    ref: str  # an invoice id, a customer id, or a hosted page's address without its query


def parse_link(url: str, own_host: str | None) -> LinkRef | None:
    """What `url` names, or None. `own_host` is Settle's public host (its PUBLIC_URL's)."""
    if not isinstance(url, str) or len(url) > MAX_URL or not url.isascii():
        return None
    try:
        parts = urlsplit(url.strip().strip("<>"))
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" and not (host == own_host and parts.scheme == "http"):
        return None
    if host == STRIPE_DASHBOARD:
        m = _DASHBOARD.match(parts.path)
        if m is None:
            return None
        kind: LinkKind = "invoice" if m.group(1) == "invoices" else "customer"
        prefix = "in_" if kind == "invoice" else "cus_"
        return LinkRef(kind, m.group(2)) if m.group(2).startswith(prefix) else None
    if host == STRIPE_INVOICES and parts.path.startswith("/i/") and len(parts.path) > 4:
        return LinkRef("hosted", f"https://{STRIPE_INVOICES}{parts.path}")
    if own_host and host == own_host:
        m = _OWN_INVOICE.match(parts.path)
        return LinkRef("invoice", m.group(1)) if m else None
    return None
