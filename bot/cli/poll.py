"""`settle poll` lives with `settle serve` (bot/cli/serve.py): both run the poll cycle."""

from bot.cli.serve import poll

__all__ = ["poll"]
