"""The read model: what each surface shows, read from Settle's database in a constant number of
queries however much is open (cards, balances, confirmations, App Home, the monthly report, accounts
and workspaces for the CLI). It decides nothing about rights: callers pass what may be seen.

May import: bot.domain, bot.i18n, storage. Never Slack, never a provider."""
