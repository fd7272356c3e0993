"""OTP limits and pumping-guard settings: commercial-style defaults, per-account overrides.

An operator file (TOML) looks like::

    [defaults]
    max_checks = 5
    allowed_countries = ["GB", "FR"]

    [accounts.acme]
    sends_per_number_per_hour = 20

    [pumping]
    block_seconds = 3600

Errors come back located (`otp.toml:7: accounts.acme.max_checks: must be >= 1`), every one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from messaging import raise_if, read_toml, validate

_REGION = re.compile(r"^[A-Z]{2}$")


def _check_regions(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    bad = [r for r in value if not _REGION.match(r)]
    if bad:
        raise ValueError(f"not ISO 3166 alpha-2 region codes: {', '.join(map(repr, bad))}")
    return value


class OtpLimits(BaseModel):
    """Per-account OTP limits (the defaults are those of Twilio Verify and the like)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_checks: int = Field(default=5, ge=1, le=20, description="check attempts per verification")
    max_sends: int = Field(
        default=5, ge=1, le=20, description="sends per verification, the first included"
    )
    resend_cooldown: float = Field(
        default=30.0, ge=0, description="seconds between sends of one verification"
    )
    ttl_default: int = Field(
        default=600, ge=60, le=86400, description="seconds a code is valid by default"
    )
    ttl_max: int = Field(
        default=3600, ge=60, le=86400, description="the longest ttl a request may ask"
    )
    sends_per_number_per_hour: int = Field(default=10, ge=1)
    sends_per_account_per_hour: int = Field(default=10_000, ge=1)
    checks_per_number_per_hour: int = Field(
        default=30,
        ge=1,
        description="checks to one number across all its verifications (brute force cap)",
    )
    allowed_countries: list[str] | None = Field(
        default=None, description="ISO regions this account may send OTPs to; None allows all"
    )

    _regions = field_validator("allowed_countries")(classmethod(lambda cls, v: _check_regions(v)))

    def permits(self, region: str) -> bool:
        """True when OTPs to `region` are allowed."""
        return self.allowed_countries is None or region in self.allowed_countries


class AccountLimits(BaseModel):
    """Overrides for one account; unset keys fall back to `[defaults]`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_checks: int | None = Field(default=None, ge=1, le=20)
    max_sends: int | None = Field(default=None, ge=1, le=20)
    resend_cooldown: float | None = Field(default=None, ge=0)
    ttl_default: int | None = Field(default=None, ge=60, le=86400)
    ttl_max: int | None = Field(default=None, ge=60, le=86400)
    sends_per_number_per_hour: int | None = Field(default=None, ge=1)
    sends_per_account_per_hour: int | None = Field(default=None, ge=1)
    checks_per_number_per_hour: int | None = Field(default=None, ge=1)
    allowed_countries: list[str] | None = None

    _regions = field_validator("allowed_countries")(classmethod(lambda cls, v: _check_regions(v)))


class PumpingConfig(BaseModel):
    """When a destination prefix is blocked for SMS pumping (see `otp.pumping`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    prefix_digits: int = Field(
        default=5, ge=1, le=12, description="digits after '+' that name a prefix"
    )
    window_seconds: float = Field(
        default=600.0, gt=0, description="the recent window whose rate is judged"
    )
    baseline_seconds: float = Field(
        default=86400.0, gt=0, description="the usual rate is measured over this"
    )
    surge_factor: float = Field(
        default=10.0, gt=1, description="recent rate ≥ this × usual rate is a surge"
    )
    min_usual_per_hour: float = Field(
        default=6.0, gt=0, description="floor of the usual rate (per hour)"
    )
    min_sends: int = Field(default=30, ge=1, description="no verdict on fewer recent sends")
    conversion_grace: float = Field(
        default=60.0, ge=0, description="seconds a verification has to convert"
    )
    min_settled: int = Field(
        default=20, ge=1, description="no conversion verdict on fewer settled sends"
    )
    max_conversion: float = Field(
        default=0.2, ge=0, le=1, description="conversion below this has collapsed"
    )
    block_seconds: float = Field(default=3600.0, gt=0)
    evaluate_every: float = Field(
        default=5.0, ge=0, description="seconds between assessments of one prefix"
    )


class OtpConfig(BaseModel):
    """The whole OTP file: defaults, per-account overrides (by account name), pumping guard."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    defaults: OtpLimits = OtpLimits()
    accounts: dict[str, AccountLimits] = Field(default_factory=dict)
    pumping: PumpingConfig = PumpingConfig()

    def limits_for(self, account_name: str) -> OtpLimits:
        """The limits of `account_name`: its overrides over the defaults."""
        override = self.accounts.get(account_name)
        if override is None:
            return self.defaults
        merged: dict[str, Any] = {
            **self.defaults.model_dump(),
            **override.model_dump(exclude_none=True),
        }
        return OtpLimits.model_validate(merged)


def load_otp_config(path: str | Path) -> OtpConfig:
    """Read and validate an OTP operator file.

    Raises:
        ConfigError: every problem, each located as `file:line: key: reason`.
    """
    source = read_toml(path)
    config = validate(source, OtpConfig)
    problems = []
    if config.defaults.ttl_default > config.defaults.ttl_max:
        problems.append(source.problem(("defaults", "ttl_default"), "must be <= ttl_max"))
    for name in config.accounts:
        limits = config.limits_for(name)
        if limits.ttl_default > limits.ttl_max:
            problems.append(source.problem(("accounts", name, "ttl_default"), "must be <= ttl_max"))
    raise_if(problems)
    return config
