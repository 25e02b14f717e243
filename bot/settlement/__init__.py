"""Where money moves, and only here: the settle form's content (forms), confirmations claimed once
per invoice (batches), charging with idempotency keys (charging), verifications and lost answers
finished (recovery), and the provider's notices (hooks). Authorisation is re-checked here on every
step, whatever the caller did.

May import: bot.balances, bot.read, bot.billing (the provider interface), bot.domain, bot.observe,
bot.i18n, storage. Never Slack: what a person is looking at is told through events.py."""
