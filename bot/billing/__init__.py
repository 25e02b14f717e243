"""Billing providers only, no Slack: the interface Settle talks to (base), the providers this build
has (registry), the built-in sandbox (sandbox/) and Stripe (stripe/).

May import: bot.domain, bot.observe, bot.i18n, storage. Never Slack: routing comes back to Settle as
the customer's metadata, which bot.balances.routing reads."""
