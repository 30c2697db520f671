"""Configuration, read only from the environment and `.env`, in one typed object."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.text.i18n import Language


class SettingsError(Exception):
    """A missing or malformed setting; the message is one sentence naming it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_token: str | None = Field(default=None, description="Bot token from @BotFather")
    telegram_api_url: str = "https://api.telegram.org/bot"
    database_url: str = "sqlite+aiosqlite:///data/intake.db"
    default_language: Language = "fr"
    reference_prefix: str = Field(default="BXL", pattern=r"^[A-Z][A-Z0-9]{0,9}$")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    secret_key: str | None = Field(default=None, min_length=32)
    """Encrypts the back-office session cookies. When unset, one is generated once and kept
    in `data/secret.key`, so that sessions survive restarts."""
    public_url: str | None = None
    """The back-office address as staff reach it (e.g. https://intake.example.brussels), used
    in links sent on Telegram; defaults to http://WEB_HOST:WEB_PORT."""
    staff_chat_id: int | None = None
    """A Telegram group where each new proposal is posted with a "take it" button."""
    backoffice_webhook_url: str | None = None
    """An external back-office that receives each proposal and status change as JSON."""
    backoffice_webhook_secret: str | None = None
    """Signs the webhook body: header X-Signature = hex HMAC-SHA256 of the body."""
    metrics_token: str | None = None
    """Bearer token for /metrics (Prometheus text); /metrics is off when unset."""
    coach_alert_threshold: float = Field(default=0.35, ge=0.0, le=1.0)
    """Matches with a score at or above this alert the coaches following the initiative."""
    max_concurrent_updates: int = Field(default=16, ge=1, le=1000)
    """Updates of different chats handled at the same time by one bot process (those of one
    chat always one after the other, in order); 1 handles every update in turn."""

    @field_validator("telegram_token")
    @classmethod
    def _token_shape(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        bot_id, _, secret = value.partition(":")
        if not bot_id.isdigit() or len(secret) < 20:
            raise ValueError("expected the form 123456789:ABC… given by @BotFather")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator(
        "secret_key",
        "staff_chat_id",
        "backoffice_webhook_secret",
        "metrics_token",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("public_url", "backoffice_webhook_url")
    @classmethod
    def _optional_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @property
    def back_office_url(self) -> str:
        """Where staff open the back-office, for links in messages."""
        return self.public_url or f"http://{self.web_host}:{self.web_port}"

    @cached_property
    def demo(self) -> bool:
        """Without a token the bot runs against the local Bot API emulator."""
        return self.telegram_token is None


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning pydantic's report into one sentence per problem."""
    try:
        # pydantic-settings types each field's keyword; overrides come as plain objects here.
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = str(item["loc"][0]).upper() if item["loc"] else "?"
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"Setting {name} is invalid: {message}.")
        raise SettingsError(" ".join(problems)) from None
