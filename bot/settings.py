"""Runtime configuration, read from environment variables (and a local `.env`). Only the composition
root and the CLI read it; every room below is given the values it needs."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.billing.registry import available
from bot.domain.money import to_minor
from bot.domain.slack_ids import is_channel, is_user_or_group

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(default=None, alias="SLACK_APP_TOKEN")
    # both set: installable into many workspaces (OAuth), each with its own bot token
    slack_client_id: str | None = Field(default=None, alias="SLACK_CLIENT_ID")
    slack_client_secret: str | None = Field(default=None, alias="SLACK_CLIENT_SECRET")
    slack_api_url: str = Field(default=DEFAULT_SLACK_API_URL, alias="SLACK_API_URL")
    database_url: str = Field(default="sqlite:///settle.db", alias="DATABASE_URL")
    billing_provider: str = Field(default="sandbox", alias="BILLING_PROVIDER")
    alert_channel: str | None = Field(default=None, alias="SETTLE_ALERT_CHANNEL")
    # what Settle posts in a channel no one account owns (escalations there) is in this language
    language: str = Field(default="en", alias="SETTLE_LANGUAGE")
    admins: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="SETTLE_ADMINS")
    poll_interval_seconds: int = Field(default=300, ge=1, alias="POLL_INTERVAL_SECONDS")
    public_url: str | None = Field(default=None, alias="PUBLIC_URL")
    # text lines, or one JSON object per line for log shippers (read by bot/observe/logs.py)
    log_format: Literal["text", "json"] = Field(default="text", alias="LOG_FORMAT")
    # Slack's pace for messages in one channel (about one a second); lower only against a stand-in of Slack
    slack_channel_interval: float = Field(default=1.0, ge=0, le=60, alias="SLACK_CHANNEL_INTERVAL_SECONDS")
    # a charge whose answer was lost (a crash, a timeout) is asked about again, with its key, after this
    charge_unknown_after: float = Field(default=60, ge=1, alias="SETTLE_CHARGE_UNKNOWN_AFTER_SECONDS")
    # Fernet keys that encrypt workspaces' bot tokens at rest (OAuth): the first encrypts, all decrypt
    token_keys: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="SETTLE_TOKEN_KEYS")
    # GET /metrics wants `Authorization: Bearer <this>` when set: the port faces Slack and the internet
    metrics_token: str | None = Field(default=None, min_length=16, alias="METRICS_TOKEN")
    link_secret: str | None = Field(default=None, min_length=16, alias="SETTLE_LINK_SECRET")
    remind_after: Annotated[timedelta, NoDecode] = Field(default=timedelta(hours=24), alias="SETTLE_REMIND_AFTER")
    escalate_after: Annotated[timedelta, NoDecode] = Field(default=timedelta(hours=72), alias="SETTLE_ESCALATE_AFTER")
    # a storm: more than this many new alerts in one channel within the window become one digest (0: off)
    digest_after: int = Field(default=10, ge=0, alias="SETTLE_DIGEST_AFTER")
    digest_window: Annotated[timedelta, NoDecode] = Field(default=timedelta(minutes=5), alias="SETTLE_DIGEST_WINDOW")
    # a second pair of eyes: a charge above this (per currency, "EUR 1000, USD 1000"; a currency not
    # named always) waits for another admin's approval, which expires after SETTLE_APPROVAL_EXPIRES
    # (off when unset)
    approval_above: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict, alias="SETTLE_APPROVAL_ABOVE")
    approval_expires: Annotated[timedelta, NoDecode] = Field(
        default=timedelta(hours=24), alias="SETTLE_APPROVAL_EXPIRES"
    )
    stripe_api_key: str | None = Field(default=None, alias="STRIPE_API_KEY")
    stripe_api_base: str | None = Field(default=None, alias="STRIPE_API_BASE")
    stripe_webhook_secret: str | None = Field(default=None, alias="STRIPE_WEBHOOK_SECRET")
    # on first start, how far back Stripe's events are read (never alert on ancient history)
    stripe_first_start_days: float = Field(default=3, gt=0, le=30, alias="STRIPE_FIRST_START_DAYS")
    # requests a second to Stripe from this process (default 90 with a live key, 20 with a test key:
    # below Stripe's 100 and 25); several replicas on one account share Stripe's limit, so divide it
    stripe_max_requests_per_second: float | None = Field(default=None, gt=0, alias="STRIPE_MAX_REQUESTS_PER_SECOND")

    @field_validator("approval_above", mode="before")
    @classmethod
    def _thresholds(cls, value: object) -> object:
        """ "EUR 1000, USD 1000.50" → {"EUR": 100000, "USD": 100050} (minor units)."""
        if not isinstance(value, str):
            return value
        found: dict[str, int] = {}
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            currency, _sep, amount = part.partition(" ")
            try:
                found[currency.upper()] = to_minor(amount.strip(), currency.upper())
            except (ValueError, ArithmeticError):
                raise ValueError(f"not an amount like 'EUR 1000': {part!r}") from None
            if not (len(currency) == 3 and currency.isalpha()) or found[currency.upper()] < 0:
                raise ValueError(f"not an amount like 'EUR 1000': {part!r}")
        return found

    @field_validator("remind_after", "escalate_after", "digest_window", "approval_expires", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        """ "24h", "90m", "3d", "45s" or plain seconds."""
        if isinstance(value, str):
            text = value.strip().lower()
            units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
            number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
            try:
                seconds = float(number) * units[unit]
            except ValueError:
                raise ValueError(f"not a duration like 24h, 90m or 3d: {value!r}") from None
            if seconds <= 0:
                raise ValueError(f"must be more than zero: {value!r}")
            return timedelta(seconds=seconds)
        return value

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("token_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("token_keys")
    @classmethod
    def _fernet_keys(cls, value: list[str]) -> list[str]:
        from storage.token_cipher import valid_key  # cryptography only when keys are set: start-up time

        if not all(valid_key(k) for k in value):
            raise ValueError(
                "each key must be a Fernet key (32 url-safe base64 bytes): make one with `settle workspaces new-key`"
            )
        return value

    @field_validator("admins")
    @classmethod
    def _slack_admin_ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not is_user_or_group(v)]
        if bad:
            raise ValueError(f"not Slack user (U…) or user-group (S…) ids: {', '.join(map(repr, bad[:3]))}")
        return value

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from bot.i18n import available  # the catalogue list only when checked: start-up time

        if value not in available():
            raise ValueError(f"Settle speaks {', '.join(available())}: not {value!r}")
        return value

    @field_validator("alert_channel")
    @classmethod
    def _slack_channel_id(cls, value: str | None) -> str | None:
        if value is not None and not is_channel(value):
            raise ValueError(f"not a Slack channel id (C…, G… or D…): {value!r}")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        """Slack and browsers are sent here: it must be an absolute http(s) address."""
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an address like https://settle.example.com, not {value!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"must be the server's base address, without ?query or #fragment: {value!r}")
        return value.strip().rstrip("/")

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> object:
        return (value.strip().lower() or "text") if isinstance(value, str) else value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # slack_sdk joins base_url + method name, so the slash matters.
        return value if value.endswith("/") else value + "/"

    @field_validator("billing_provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in available():
            raise ValueError(f"unknown billing provider {value!r}; this version has: {', '.join(available())}")
        return value

    @model_validator(mode="after")
    def _provider_keys(self) -> Settings:
        if self.billing_provider == "stripe" and not (self.stripe_api_key or "").strip():
            raise ValueError(
                "STRIPE_API_KEY is not set: BILLING_PROVIDER=stripe needs the secret key (sk_live_… or sk_test_…)"
            )
        return self

    @model_validator(mode="after")
    def _oauth_pair(self) -> Settings:
        if bool((self.slack_client_id or "").strip()) != bool((self.slack_client_secret or "").strip()):
            raise ValueError(
                "set both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (Basic Information → App Credentials) "
                "to install Settle into many workspaces, or neither for one workspace's SLACK_BOT_TOKEN"
            )
        if self.oauth and self.slack_app_token:
            raise ValueError("OAuth install needs HTTP mode: unset SLACK_APP_TOKEN (Socket Mode) or the client id")
        if self.oauth and not self.token_keys:
            raise ValueError(
                "SETTLE_TOKEN_KEYS is not set: with OAuth each workspace's bot token is stored encrypted "
                "with it (make a key with `settle workspaces new-key`, keep it out of the database's backups)"
            )
        return self

    @property
    def oauth(self) -> bool:
        """Many workspaces, each installing Settle through /slack/install."""
        return bool((self.slack_client_id or "").strip() and (self.slack_client_secret or "").strip())

    @field_validator("stripe_api_base")
    @classmethod
    def _http_base(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/") if value else value

    def public_base(self, port: int = 3000) -> str:
        return (self.public_url or f"http://localhost:{port}").rstrip("/")
