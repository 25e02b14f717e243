"""Slack infrastructure, no business rules: the gateway (every call names its workspace), the Web API
client and its retries, workspaces and their tokens, OAuth install, per-channel pacing, each user's
language, and a recording gateway for the demo.

May import: bot.domain, bot.observe, bot.i18n, storage, slack_sdk, slack_bolt."""
