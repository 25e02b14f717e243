"""Settle: declined subscription payments, fixed from Slack.

The rooms, lowest floor first (a room imports only from floors below it; tests/test_layout.py holds
it): observe, i18n (and storage/, beside bot/) · domain · billing, slack, runtime · read · balances ·
settlement · delivery · jobs, web · handlers/ · settings · app (the composition root) · cli."""
