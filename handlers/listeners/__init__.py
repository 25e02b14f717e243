"""Slack listeners, one module per surface: each acks first, reads the request, calls a service and
renders with handlers/blocks. No SQL here."""
