"""The alert aggregate and what feeds it: the balance's rules (lifecycle), recording the provider's
changes (ingest), where an account's alerts go and who may settle it (routing, access), reminders,
escalation, snooze and assignment (follow_ups), and warnings before a renewal (card_warnings).

May import: bot.read, bot.billing (the provider interface), bot.domain, bot.observe, bot.i18n,
storage. Slack only through the gateway it is given (bot.domain.chat)."""
