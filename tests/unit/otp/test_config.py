"""OTP operator file: per-account overrides over defaults; every problem located."""

from __future__ import annotations

from pathlib import Path

import pytest

from messaging import ConfigError
from otp import OtpConfig, load_otp_config


def test_account_overrides_fall_back_to_defaults(tmp_path: Path) -> None:
    path = tmp_path / "otp.toml"
    path.write_text(
        "[defaults]\nmax_checks = 3\n\n"
        '[accounts.acme]\nsends_per_number_per_hour = 20\nallowed_countries = ["GB"]\n'
    )
    config = load_otp_config(path)
    acme = config.limits_for("acme")
    assert (acme.max_checks, acme.sends_per_number_per_hour) == (3, 20)
    assert acme.permits("GB") and not acme.permits("FR")
    other = config.limits_for("other")
    assert other.sends_per_number_per_hour == 10 and other.permits("FR")


def test_defaults_match_the_issue() -> None:
    limits = OtpConfig().defaults
    assert (limits.max_checks, limits.max_sends, limits.resend_cooldown) == (5, 5, 30.0)
    assert (limits.ttl_default, limits.sends_per_number_per_hour) == (600, 10)


def test_every_problem_is_located(tmp_path: Path) -> None:
    path = tmp_path / "otp.toml"
    path.write_text(
        '[defaults]\nmax_checks = 0\n\n[accounts.acme]\nallowed_countries = ["gb"]\n'
        "ttl_default = 7200\n\n[pumping]\nsurge = 3\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_otp_config(path)
    shown = [str(p) for p in raised.value.problems]
    assert f"{path}:2: defaults.max_checks: must be >= 1" in shown
    assert any(
        s.startswith(f"{path}:5: accounts.acme.allowed_countries: not ISO 3166") for s in shown
    )
    assert f"{path}:9: pumping.surge: unknown key" in shown


def test_ttl_default_above_ttl_max_is_located(tmp_path: Path) -> None:
    path = tmp_path / "otp.toml"
    path.write_text("[accounts.acme]\nttl_default = 7200\n")
    with pytest.raises(ConfigError) as raised:
        load_otp_config(path)
    assert [str(p) for p in raised.value.problems] == [
        f"{path}:2: accounts.acme.ttl_default: must be <= ttl_max"
    ]


def test_shipped_otp_file_is_valid() -> None:
    from pathlib import Path

    from otp.config import load_otp_config

    config = load_otp_config(Path(__file__).resolve().parents[3] / "config" / "otp.toml")
    assert config.limits_for("trial").allowed_countries == ["GB"]
    assert config.limits_for("acme").max_checks == 5
