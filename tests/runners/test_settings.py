"""Configuration: defaults, one clear sentence per bad setting, and what the command says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.runners.settings import SettingsError, load_settings

INTAKE = Path(sys.executable).parent / "intake"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(
            (
                "TELEGRAM_",
                "DATABASE_",
                "DEFAULT_LANGUAGE",
                "REFERENCE_",
                "SECRET_KEY",
                "PUBLIC_URL",
                "STAFF_CHAT_ID",
                "BACKOFFICE_",
                "METRICS_TOKEN",
                "COACH_ALERT",
            )
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout


def test_defaults_mean_demo_mode_on_sqlite() -> None:
    settings = load_settings()
    assert settings.demo
    assert settings.database_url == "sqlite+aiosqlite:///data/intake.db"
    assert settings.telegram_api_url == "https://api.telegram.org/bot"
    assert (settings.default_language, settings.reference_prefix) == ("fr", "BXL")


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TELEGRAM_TOKEN=123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ\n")
    settings = load_settings()
    assert not settings.demo and settings.telegram_token == "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def test_the_example_file_as_copied_is_valid(tmp_path: Path) -> None:
    """A newcomer copies .env.example to .env and changes nothing: the demo starts."""
    example = Path(__file__).parents[2] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    settings = load_settings()
    assert settings.demo and settings.secret_key is None and settings.staff_chat_id is None
    assert settings.backoffice_webhook_url is None and settings.metrics_token is None
    assert settings.back_office_url == "http://127.0.0.1:8080"


def test_optional_integrations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAFF_CHAT_ID", "-1001234567890")
    monkeypatch.setenv("PUBLIC_URL", "https://intake.example.brussels/")
    monkeypatch.setenv("BACKOFFICE_WEBHOOK_URL", "https://crm.example.brussels/hooks/intake")
    settings = load_settings()
    assert settings.staff_chat_id == -1001234567890
    assert settings.back_office_url == "https://intake.example.brussels"
    assert settings.backoffice_webhook_url == "https://crm.example.brussels/hooks/intake"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STAFF_CHAT_ID", "the staff group"),
        ("BACKOFFICE_WEBHOOK_URL", "crm.example.brussels"),
        ("COACH_ALERT_THRESHOLD", "2"),
        ("MAX_CONCURRENT_UPDATES", "0"),
        ("DATABASE_URL", "mysql://localhost/intake"),
        ("DEFAULT_LANGUAGE", "de"),
        ("REFERENCE_PREFIX", "bxl-"),
        ("TELEGRAM_TOKEN", "not-a-token"),
        ("TELEGRAM_API_URL", "api.telegram.org"),
        ("TELEGRAM_WEBHOOK_URL", "intake.example.brussels/telegram"),
        ("TELEGRAM_WEBHOOK_SECRET", "short"),
        ("TELEGRAM_WEBHOOK_MAX_CONNECTIONS", "101"),
        ("TELEGRAM_MAX_MESSAGES_PER_SECOND", "0"),
        ("INBOX_LEASE_SECONDS", "0"),
    ],
)
def test_a_bad_setting_is_named_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(f"Setting {name} is invalid: ")
    assert message.count("\n") == 0 and message.endswith(".")


def test_the_webhook_needs_its_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://intake.example.brussels/telegram/webhook")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith("TELEGRAM_WEBHOOK_SECRET is required with")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "a-secret-of-at-least-16")
    settings = load_settings()
    assert settings.telegram_webhook_url == "https://intake.example.brussels/telegram/webhook"
    assert settings.telegram_webhook_max_connections == 40


def test_the_command_stops_with_the_sentence(tmp_path: Path) -> None:
    environment = {**os.environ, "DATABASE_URL": "mysql://localhost/intake"}
    environment = {k: v for k, v in environment.items() if not k.startswith("TELEGRAM_")}
    result = subprocess.run(
        [str(INTAKE), "migrate"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("intake: Setting DATABASE_URL is invalid")
    assert "Traceback" not in result.stderr


def test_migrate_creates_the_sqlite_database(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "intake.db").exists()
