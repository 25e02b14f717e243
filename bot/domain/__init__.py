"""The vocabulary every room shares, with no I/O: records exchanged with a provider, errors, money,
states, decline reasons, Slack ids, who is asking (a Requester and its workspace Scope), and the
ports the domain needs filled (the Slack gateway, the outbox).

May import: bot.i18n, the standard library, Babel."""
