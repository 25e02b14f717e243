"""Billing providers: one interface (base.py) and the providers this build registers (registry.py)."""
