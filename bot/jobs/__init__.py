"""The scheduled work: one poll cycle, composed of the rooms below (recovery, ingest, follow-ups,
card warnings, the monthly report, delivery).

May import: every room below (bot.delivery and down)."""
