"""The HTTP edge: the WSGI router (Slack's events, health, metrics, OAuth), the request guard that
verifies before anything parses, and the pages a person opens (the sandbox's card, bank and invoice
pages, Stripe's add-card hand-off, the install pages), all in one frame.

May import: every room below (bot.delivery and down), slack_bolt's WSGI adapter, stripe."""
