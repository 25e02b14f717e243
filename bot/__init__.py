"""Settle: declined subscription payments, fixed from Slack."""
