"""Workspace bot tokens encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256, from
`cryptography`). The keys come from the environment, never from the database beside the tokens.

SETTLE_TOKEN_KEYS is a comma-separated list: the first key encrypts, every key decrypts. To rotate,
put a new key first and keep the old one after it, run `settle workspaces rotate-key` (which
re-encrypts every stored token with the first key), then drop the old key.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "enc1:"  # what marks a stored value as encrypted (older rows were plain `xoxb-…` text)


class TokenKeyError(ValueError):
    """A stored token that none of the keys opens: a key was dropped before `rotate-key` ran."""


def new_key() -> str:
    return Fernet.generate_key().decode()


def valid_key(key: str) -> bool:
    try:
        Fernet(key.encode())
    except ValueError:
        return False
    return True


class TokenCipher:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    def seal(self, value: str | None) -> str | None:
        """Encrypted with the first key; a value sealed already is left as it is (saving twice is safe)."""
        if value is None or value.startswith(PREFIX):
            return value
        return PREFIX + self._fernet.encrypt(value.encode()).decode()

    def open(self, value: str | None) -> str | None:
        if value is None or not value.startswith(PREFIX):
            return value  # stored before encryption: readable until `rotate-key` seals it
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise TokenKeyError("a stored token opens with none of SETTLE_TOKEN_KEYS") from exc

    def reseal(self, value: str | None) -> str | None:
        """Sealed with the first key whatever it was sealed with before (or if it was plain text)."""
        if value is None:
            return None
        if not value.startswith(PREFIX):
            return self.seal(value)
        try:
            return PREFIX + self._fernet.rotate(value[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise TokenKeyError("a stored token opens with none of SETTLE_TOKEN_KEYS") from exc
