"""Block Kit builders: pure functions of read-model records, with every outside string escaped and
clipped to Slack's limits (mrkdwn.py). No I/O, no rows."""
