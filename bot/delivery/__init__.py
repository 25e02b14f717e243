"""The path to Slack: an alert's message brought up to date from its record (outbox), every pending
alert fanned out channel by channel at Slack's pace on one bounded pool (fanout), App Home published
(home), and the monthly report posted per workspace (report). Renderers come from handlers/blocks
through the protocols in ports.py.

May import: bot.settlement, bot.balances, bot.read, bot.slack, bot.runtime, bot.domain, bot.observe,
bot.i18n, storage."""
