"""Errors the CLI reports as one clear line."""


class SettleError(Exception):
    """Something the operator must fix; the message says what."""
