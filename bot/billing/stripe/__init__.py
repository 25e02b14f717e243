"""Stripe through the official SDK at one pinned API version: the client, error mapping, conversions,
the event feed, reads, payments and the add-card link, behind one provider (provider.py)."""
