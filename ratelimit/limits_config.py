"""The operator's rate limits file (`SWITCHBOARD_LIMITS_FILE`, e.g. `config/limits.toml`).

```toml
[defaults]
requests_per_second = 500    # per API key, every route under /v1/
messages_per_second = 1000   # per account, messages accepted (a batch counts each)

[accounts.acme]
messages_per_second = 50
```

0 means no limit. Errors read `config/limits.toml:7: accounts.acme.messages_per_second: ...`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from messaging import read_toml, validate


class RateLimitSet(BaseModel):
    """Limits per second; 0 = none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_second: int = Field(default=0, ge=0, description="per API key")
    messages_per_second: int = Field(default=0, ge=0, description="per account")


class AccountRateLimits(BaseModel):
    """An account's overrides (absent: the defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_second: int | None = Field(default=None, ge=0)
    messages_per_second: int | None = Field(default=None, ge=0)


class RateLimits(BaseModel):
    """The whole file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    defaults: RateLimitSet = RateLimitSet()
    accounts: dict[str, AccountRateLimits] = Field(default_factory=dict)

    def for_account(self, name: str) -> RateLimitSet:
        """The limits in force for account `name`."""
        own = self.accounts.get(name)
        if own is None:
            return self.defaults
        return RateLimitSet(
            requests_per_second=self.defaults.requests_per_second
            if own.requests_per_second is None
            else own.requests_per_second,
            messages_per_second=self.defaults.messages_per_second
            if own.messages_per_second is None
            else own.messages_per_second,
        )

    @property
    def enabled(self) -> bool:
        """Whether any limit is set at all (else the API skips the checks)."""
        sets = [self.defaults, *(self.for_account(n) for n in self.accounts)]
        return any(s.requests_per_second or s.messages_per_second for s in sets)


def load_rate_limits(path: str | Path) -> RateLimits:
    """Read and validate a limits file.

    Raises:
        ConfigError: every problem, each located as `file:line: key: reason`.
    """
    return validate(read_toml(path), RateLimits)
