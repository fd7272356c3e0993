"""Settings: read once, here, from `SWITCHBOARD_*` environment variables; passed down explicitly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from messaging import CallbackPolicy, parse_networks
from metrics.heap import DEFAULT_YOUNG
from switchboard.credentials import apply_credentials

ROOT = Path(__file__).resolve().parent.parent
# What a fresh checkout runs with; `require_secrets` refuses them outside the demo.
DEV_SECRET_KEY = "dev-only-secret-change-me"  # noqa: S105 - the known default, refused
DEV_OTP_SECRET = "dev-only-otp-secret-change-me"  # noqa: S105 - the known default, refused


class Settings(BaseSettings):
    """Everything a Switchboard process needs to know; defaults give the embedded demo."""

    # hide_input_in_errors: a validation error names the setting, never echoes the values
    # (they hold the secrets: the input of a model validator is all of them)
    model_config = SettingsConfigDict(
        env_prefix="SWITCHBOARD_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    var_dir: Path = Field(
        default=ROOT / "var", description="runtime files: SQLite, embedded Redis, logs"
    )
    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty = SQLite file in var_dir"
    )
    redis_url: str = Field(default="", description="redis:// URL; empty = embedded redis-server")
    routes_file: Path = ROOT / "config" / "routes.toml"
    simulator_file: Path = ROOT / "config" / "simulator.toml"

    run_config_file: Path = Field(
        default=ROOT / "config" / "switchboard.toml",
        description="process counts for `switchboard run`; a missing file = machine defaults",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="text lines, or one JSON object per line (for a log shipper)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="level of the API's and the supervisor's loggers"
    )
    log_state_changes: bool = Field(
        default=False,
        description="one INFO line per message status change (hot path: off by default)",
    )

    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_processes: int = Field(
        default=1, gt=0, description="API processes sharing api_port (SO_REUSEPORT)"
    )
    api_header_timeout: float = Field(
        default=10.0,
        ge=0,
        description="seconds a request's line and headers may take from their first byte;"
        " a slower connection is closed (slowloris); 0 = no deadline",
    )
    secret_key: str = Field(
        default=DEV_SECRET_KEY,
        description="HMAC key of callback signatures (accounts without a signing secret of"
        " their own); refused at start when left at the default, outside `switchboard demo`",
    )
    otp_secret: str = Field(
        default=DEV_OTP_SECRET,
        description="HMAC key of stored OTP codes: never given to anyone, so never the same as"
        " secret_key; refused at start when left at the default, outside `switchboard demo`",
    )

    commit_batch_max: int = Field(default=500, gt=0, description="rows per API group commit")
    commit_linger_ms: float = Field(
        default=5.0,
        ge=0,
        le=100,
        description="ms the API's group commit waits for more rows when few are waiting (not OTP)",
    )
    gc_young_threshold: int = Field(
        default=DEFAULT_YOUNG,
        ge=0,
        description="net allocations between young garbage collections of each process, whose"
        " start-up objects are frozen (metrics.heap); 0 = CPython's defaults, nothing frozen",
    )
    limits_file: Path | None = Field(
        default=None, description="rate limits TOML (per key, per account); None = no limits"
    )
    rate_sync_interval: float = Field(
        default=0.1, gt=0, description="seconds between an API process's rate-count syncs"
    )
    commit_queue_max: int = Field(
        default=20_000, gt=0, description="sends waiting for the group commit before 503s"
    )
    outbox_backlog_max: int = Field(
        default=200_000, ge=0, description="messages queued unsent before sends are 503 (0: off)"
    )
    send_batch_max: int = Field(default=200, gt=0, description="message ids per send task")
    enqueue_linger_ms: float = Field(
        default=10.0,
        ge=0,
        le=1000,
        description="ms the API gathers committed ids of a non-OTP class into one send task",
    )
    worker_concurrency: int = Field(default=2, gt=0)
    submit_window: int = Field(default=10, gt=0, description="default in-flight submit_sm per bind")
    response_timeout: float = Field(default=10.0, gt=0)
    token_wait_max: float = Field(
        default=0.5,
        ge=0,
        description="longest wait for an MPS token before trying the next carrier",
    )
    validity_seconds: int = Field(default=24 * 3600, gt=0, description="default message validity")
    sweep_interval: float = Field(default=2.0, gt=0)
    requeue_after: float = Field(
        default=15.0, gt=0, description="a message queued or sending this long is re-enqueued"
    )
    stuck_sending_after: float = Field(
        default=60.0,
        gt=0,
        description="a `sending` row without a worker heartbeat this long is re-sent",
    )
    retry_backoff: float = Field(
        default=5.0, gt=0, description="first wait after every candidate failed"
    )
    # bench/receipts.py on PostgreSQL: ~170 µs of client + server CPU per receipt in batches of
    # 10, ~80 in batches of 50; 50 ms is a batch of 50 at 1,000 receipts/s per worker process.
    receipt_flush_ms: float = Field(
        default=50.0,
        gt=0,
        description="how long a thin stream's batch of receipts waits for more before its write",
    )
    receipt_park_seconds: float = Field(
        default=60.0, gt=0, description="how long an unmatched receipt is retried"
    )
    callback_timeout: float = Field(default=10.0, gt=0, description="seconds per callback POST")
    callback_per_host: int = Field(
        default=16, gt=0, description="callback POSTs in flight to one host, per worker process"
    )
    callback_concurrency: int = Field(
        default=64, gt=0, description="callback POSTs in flight in all, per worker process"
    )
    callback_retry_first: float = Field(
        default=2.0, gt=0, description="wait after a callback's first failed POST (then doubles)"
    )
    callback_retry_max: float = Field(
        default=600.0, gt=0, description="longest wait between two tries of a callback"
    )
    callback_give_up_after: float = Field(
        default=24 * 3600.0, gt=0, description="a callback not delivered this long is dropped"
    )
    callback_allow_private: str = Field(
        default="",
        description="CIDRs callbacks may reach although private, e.g. 127.0.0.1/32,10.0.0.0/8"
        " (tests, on-premises receivers); empty: public addresses only",
    )
    callback_batch_max: int = Field(
        default=100, gt=0, le=1000, description="events per POST for callback_batch messages"
    )
    callback_batch_ms: float = Field(
        default=100.0, ge=0, description="how long a callback batch waits for more events"
    )
    callback_inline: bool = Field(
        default=True,
        description="callbacks POSTed by the worker that committed the status change (no hand-off"
        " task); off: every event goes through the callbacks queue",
    )
    otp_app_name: str = Field(default="Switchboard", description="{app} in OTP message templates")
    otp_sender: str = Field(default="Verify", description="sender id of OTP messages")
    otp_config_file: Path | None = Field(
        default=None, description="OTP limits/pumping TOML; None = defaults"
    )

    otp_resend_after: float = Field(
        default=20.0, gt=0, description="an OTP with no receipt this long goes to the next carrier"
    )
    otp_max_carrier_attempts: int = Field(
        default=3, gt=0, description="carrier attempts per OTP message (undelivered → next carrier)"
    )

    metrics_dir: Path | None = Field(
        default=None,
        description="multiprocess metrics files, a directory per process family;"
        " None = var_dir/metrics",
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="an unauthenticated /metrics port of this process family (a worker, or an"
        " API beside its admin-key /metrics); 0: not served",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="address metrics_port binds (the operator's choice)"
    )

    @model_validator(mode="before")
    @classmethod
    def _credentials(cls, values: Any) -> Any:
        """Secrets from `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`), where the
        environment leaves them out (`switchboard.credentials` says which and how)."""
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory or not isinstance(values, dict):
            return values
        return apply_credentials(values, Path(directory))

    @field_validator("callback_allow_private")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # a bad CIDR fails at start, naming the setting
        return value

    def secret_problems(self) -> list[str]:
        """Why these secrets must not run a real deployment (empty: they may)."""
        problems = []
        if self.secret_key == DEV_SECRET_KEY:
            problems.append(f"SWITCHBOARD_SECRET_KEY is the development default {DEV_SECRET_KEY!r}")
        if self.otp_secret == DEV_OTP_SECRET:
            problems.append(f"SWITCHBOARD_OTP_SECRET is the development default {DEV_OTP_SECRET!r}")
        if self.otp_secret == self.secret_key:
            problems.append(
                "SWITCHBOARD_OTP_SECRET equals SWITCHBOARD_SECRET_KEY: the OTP key must stay"
                " private, the callback key may be shared with receivers"
            )
        if 0 < min(len(self.secret_key), len(self.otp_secret)) < 16:
            problems.append("SWITCHBOARD_SECRET_KEY and SWITCHBOARD_OTP_SECRET need 16+ characters")
        return problems

    def callback_policy(self) -> CallbackPolicy:
        """Where callbacks may go: public addresses and `callback_allow_private`."""
        return CallbackPolicy(parse_networks(self.callback_allow_private))

    def resolved_metrics_dir(self) -> Path:
        """Where process families keep their metrics files."""
        return self.metrics_dir or self.var_dir / "metrics"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under var_dir."""
        return self.database_url or f"sqlite:///{self.var_dir / 'switchboard.db'}"
