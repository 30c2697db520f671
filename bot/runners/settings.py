"""Configuration, read only from the environment and `.env`, in one typed object."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field, IPvAnyNetwork, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.text.i18n import Language


class SettingsError(Exception):
    """A missing or malformed setting; the message is one sentence naming it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_token: str | None = Field(default=None, description="Bot token from @BotFather")
    telegram_api_url: str = "https://api.telegram.org/bot"
    database_url: str = "sqlite+aiosqlite:///data/intake.db"
    database_pool_size: int = Field(default=20, ge=1, le=500)
    """PostgreSQL connections each process keeps open (and up to 10 more for a burst)."""
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
    backoffice_session_idle_minutes: int = Field(default=120, ge=5, le=720)
    """A back-office session unused this long ends (and 12 hours after sign-in at most)."""
    trusted_proxies: Annotated[tuple[IPvAnyNetwork, ...], NoDecode] = ()
    """Reverse proxies in front of the back-office (addresses or networks, comma-separated,
    e.g. 127.0.0.1,10.0.0.0/8): only their X-Forwarded-For header is believed, for the
    sign-in throttle and the sessions page. Unset: the connection's own address is used."""
    data_controller: str | None = None
    """Who is responsible for citizens' data, as /privacy names them: the organisation, its
    address and a contact for data protection (e.g. "Bruxelles Environnement, Avenue du
    Port 86C/3000, 1000 Bruxelles – privacy@environnement.brussels")."""
    retention_draft_days: int = Field(default=90, ge=1, le=3650)
    """A conversation unused this many days is deleted, with its unfinished draft."""
    retention_decided_days: int = Field(default=365, ge=1, le=3650)
    """A proposal's personal data is erased this many days after its last decision
    (accepted, rejected or withdrawn); the proposal stays, anonymised."""
    service_delay_days: int = Field(default=10, ge=1, le=260)
    """Working days (Belgian public holidays excluded) within which staff answer a citizen:
    a proposal waiting longer is marked overdue in the back-office."""
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
    telegram_webhook_url: str | None = None
    """The public HTTPS address Telegram posts updates to (behind the reverse proxy). Unset:
    the bot fetches its updates by long polling."""
    telegram_webhook_secret: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{16,256}$")
    """Telegram sends it with every update (X-Telegram-Bot-Api-Secret-Token); requests
    without it get 403. Required with TELEGRAM_WEBHOOK_URL."""
    telegram_webhook_max_connections: int = Field(default=40, ge=1, le=100)
    """Deliveries Telegram makes at the same time."""
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8088, ge=0, le=65535)
    """Where the bot process listens for Telegram's webhook (and answers /healthz)."""
    telegram_max_messages_per_second: float = Field(default=30.0, gt=0)
    """Messages the bot sends per second at most, all chats together (Telegram's limit for
    most bots; a bot with paid broadcasts may go higher)."""
    telegram_max_group_messages_per_minute: float = Field(default=20.0, gt=0)
    """Messages per minute at most in one group (the staff group)."""
    inbox_lease_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)
    """How long an update being handled is kept from other processes: an update whose
    process died is taken up again after this."""

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
        "telegram_webhook_secret",
        "data_controller",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("public_url", "backoffice_webhook_url", "telegram_webhook_url")
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

    @model_validator(mode="after")
    def _webhook_has_a_secret(self) -> Settings:
        if self.telegram_webhook_url and not self.telegram_webhook_secret:
            raise ValueError(
                "TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_WEBHOOK_URL (16 to 256 "
                "letters, digits, _ or -)"
            )
        return self

    @property
    def back_office_url(self) -> str:
        """Where staff open the back-office, for links in messages."""
        return self.public_url or f"http://{self.web_host}:{self.web_port}"

    @property
    def secure_cookie(self) -> bool:
        """Staff reach the back-office by HTTPS: its cookie must never travel without it."""
        return self.back_office_url.startswith("https://")

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
            message = str(item["msg"]).removeprefix("Value error, ")
            if item["loc"]:
                problems.append(f"Setting {str(item['loc'][0]).upper()} is invalid: {message}.")
            else:  # a rule between settings, which names them itself
                problems.append(f"{message}.")
        raise SettingsError(" ".join(problems)) from None
