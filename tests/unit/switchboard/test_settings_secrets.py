"""The development secrets are refused outside the demo, with a message saying what to set."""

from __future__ import annotations

from typing import TypedDict

import pytest

from switchboard.settings import DEV_OTP_SECRET, DEV_SECRET_KEY, Settings
from switchboard.wiring import require_secrets


class Secrets(TypedDict, total=False):
    """The secret fields of `Settings` these tests set."""

    secret_key: str
    otp_secret: str


GOOD: Secrets = {"secret_key": "c" * 32, "otp_secret": "o" * 32}


def test_defaults_are_refused_naming_both_settings() -> None:
    with pytest.raises(SystemExit) as refused:
        require_secrets(Settings(secret_key=DEV_SECRET_KEY, otp_secret=DEV_OTP_SECRET))
    message = str(refused.value)
    assert "SWITCHBOARD_SECRET_KEY is the development default" in message
    assert "SWITCHBOARD_OTP_SECRET is the development default" in message
    assert "switchboard demo" in message


@pytest.mark.parametrize(
    ("secrets", "reason"),
    [
        ({**GOOD, "secret_key": DEV_SECRET_KEY}, "SWITCHBOARD_SECRET_KEY is the development"),
        ({**GOOD, "otp_secret": DEV_OTP_SECRET}, "SWITCHBOARD_OTP_SECRET is the development"),
        ({"secret_key": "s" * 32, "otp_secret": "s" * 32}, "equals SWITCHBOARD_SECRET_KEY"),
        ({**GOOD, "otp_secret": "short"}, "16+ characters"),
    ],
)
def test_each_unfit_secret_is_refused(secrets: Secrets, reason: str) -> None:
    assert any(reason in p for p in Settings(**secrets).secret_problems())
    with pytest.raises(SystemExit, match="refusing to start"):
        require_secrets(Settings(**secrets))


def test_two_distinct_long_secrets_start() -> None:
    require_secrets(Settings(**GOOD))  # no SystemExit
    assert Settings(**GOOD).secret_problems() == []
