"""Secrets from systemd credentials (`$CREDENTIALS_DIRECTORY`): they fill what the environment
leaves out, the environment wins where it says something, and a bad file is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from switchboard.credentials import with_password
from switchboard.settings import DEV_SECRET_KEY, Settings
from switchboard.wiring import log_secrets

CALLBACK_KEY = "callback-key-from-systemd-0123"
OTP_KEY = "otp-key-from-systemd-456789"
ENV_KEY = "from-the-environment-0000"
CLEAN = ("SWITCHBOARD_SECRET_KEY", "SWITCHBOARD_OTP_SECRET", "SWITCHBOARD_DATABASE_URL")


@pytest.fixture
def credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty credentials directory in force, no secret in the environment."""
    for name in (*CLEAN, "SWITCHBOARD_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    directory = tmp_path / "credentials"
    directory.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(directory))
    return directory


def test_credentials_fill_the_secrets_the_environment_leaves_out(credentials: Path) -> None:
    (credentials / "secret_key").write_text(CALLBACK_KEY + "\n")
    (credentials / "otp_secret").write_text(OTP_KEY)
    settings = Settings()
    assert (settings.secret_key, settings.otp_secret) == (CALLBACK_KEY, OTP_KEY)  # "\n" dropped
    assert settings.secret_problems() == []
    assert {CALLBACK_KEY, OTP_KEY} <= set(
        log_secrets(settings)
    )  # masked in every log line like any secret


def test_a_set_variable_wins_over_its_credential(
    credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (credentials / "secret_key").write_text("from-the-credential-file")
    monkeypatch.setenv("SWITCHBOARD_SECRET_KEY", ENV_KEY)
    assert Settings().secret_key == ENV_KEY


def test_a_database_password_fills_the_urls_password_unless_it_has_one(
    credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (credentials / "database_password").write_text("p@ss:w/rd%\n")
    (credentials / "redis_password").write_text("redis-pw")
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", "postgresql+psycopg://sb@db:5432/sb")
    monkeypatch.setenv("SWITCHBOARD_REDIS_URL", "redis://redis:6379/0")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://sb:p%40ss%3Aw%2Frd%25@db:5432/sb"
    assert settings.redis_url == "redis://:redis-pw@redis:6379/0"
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", "postgresql+psycopg://sb:own@db/sb")
    assert Settings().database_url == "postgresql+psycopg://sb:own@db/sb"


def test_without_a_credentials_directory_or_its_files_nothing_changes(
    credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings().secret_key == DEV_SECRET_KEY  # the directory is there, empty
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    (credentials / "secret_key").write_text("not-read-without-the-variable")
    assert Settings().secret_key == DEV_SECRET_KEY


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("secret_key", "\n", "secret_key: empty credential"),
        ("otp_secret", b"\xff\xfe", "otp_secret: unreadable credential"),
        ("database_password", "pw", "database_password: a password for SWITCHBOARD_DATABASE_URL"),
    ],
)
def test_a_credential_that_cannot_be_used_stops_the_settings_naming_its_file(
    credentials: Path, name: str, content: str | bytes, problem: str
) -> None:
    path = credentials / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert f"{credentials}/{problem}" in str(refused.value)


def test_an_error_never_echoes_the_secrets_it_was_given(
    credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (credentials / "database_password").write_text("pw")
    monkeypatch.setenv("SWITCHBOARD_OTP_SECRET", "very-secret-otp-key-123")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "very-secret-otp-key-123" not in str(refused.value)


def test_a_password_goes_into_a_url_with_or_without_a_user() -> None:
    assert with_password("redis://h:6379/0", "a b") == "redis://:a%20b@h:6379/0"
    assert with_password("postgresql://u@h/d", "x") == "postgresql://u:x@h/d"
    assert with_password("postgresql://u:y@h/d", "x") == "postgresql://u:y@h/d"
