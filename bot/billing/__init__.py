"""Billing providers: one interface, a built-in sandbox and Stripe."""
