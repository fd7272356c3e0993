"""The scenario model: which carriers the simulator plays and how each behaves.

Loaded from TOML through `messaging.read_toml` / `messaging.validate`, so every problem reads
``config/simulator.toml:14: carriers[1].mps: must be > 0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from messaging import ConfigProblem, TomlSource, raise_if, read_toml, validate
from simulators.faults import Mode
from simulators.pdu import CommandStatus

_FROZEN = ConfigDict(extra="forbid", frozen=True)

# How a carrier answers a submit_sm it has no token for; "queue" (absent here) answers
# ESME_ROK, only later: the submit_sm_resp waits for the next free slot.
THROTTLE_STATUS: Mapping[str, int] = {
    "reject": CommandStatus.ESME_RTHROTTLED,  # SMPP 3.4 §5.1.3: 0x58 "Throttling error"
    "queue_full": CommandStatus.ESME_RMSGQFUL,  # 0x14 "Message Queue Full", as some SMSCs do
}
Throttle = Literal["reject", "queue", "queue_full"]
SegmentReceipts = Literal["each", "first", "last"]


class DelayRange(BaseModel):
    """A delay in milliseconds within [min, max]; `min == max` is a fixed delay.

    `shape = "uniform"` (default) draws evenly; `"exponential"` draws `min` plus an
    exponential tail with the given `mean`, cut at `max` — the long tail real SMSCs show.
    """

    model_config = _FROZEN

    min: float = Field(0, ge=0)
    max: float = Field(0, ge=0)
    shape: Literal["uniform", "exponential"] = "uniform"
    mean: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> DelayRange:
        if self.min > self.max:
            raise ValueError("min must be <= max")
        if self.shape == "exponential" and (
            self.mean is None or not self.min < self.mean <= self.max
        ):
            raise ValueError("an exponential delay needs min < mean <= max")
        return self


def _fixed_or_range(value: object) -> object:
    """`100` means a fixed 100 ms; a table `{min = 50, max = 300}` a uniform range."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"min": value, "max": value}
    if isinstance(value, dict):
        return value
    raise ValueError("must be milliseconds or a table {min = ..., max = ...}")


Delay = Annotated[DelayRange, BeforeValidator(_fixed_or_range)]


IdFormat = Literal["hex", "hex_upper", "hex_padded", "decimal", "decimal_padded"]


class PrefixRule(BaseModel):
    """Behaviour for destinations starting with `prefix` (longest prefix wins)."""

    model_config = _FROZEN

    prefix: str

    @field_validator("prefix")
    @classmethod
    def _digits(cls, value: str) -> str:
        if not value.lstrip("+").isdigit() or value.count("+") > int(value.startswith("+")):
            raise ValueError("must be digits, optionally after one leading +")
        return value

    submit_status: int | None = Field(None, ge=1, le=0xFFFFFFFF)  # reject submit_sm with this
    undelivered_share: float | None = Field(None, ge=0, le=1)
    receipt_delay_ms: Delay | None = None

    @property
    def digits(self) -> str:
        """The prefix without its `+`."""
        return self.prefix.lstrip("+")


class Outage(BaseModel):
    """A scheduled fault: `mode` from `after_s` seconds after start, for `for_s` seconds,
    repeated every `every_s` seconds if set (ESME_RSYSERR bursts, a latency that keeps doubling).

    `latency_factor` multiplies the submit_sm_resp latency while a `slow` outage is on.
    """

    model_config = _FROZEN

    after_s: float = Field(ge=0)
    for_s: float = Field(gt=0)
    mode: Mode = Mode.DOWN
    every_s: float | None = Field(None, gt=0)
    latency_factor: float = Field(2.0, gt=0)

    @model_validator(mode="after")
    def _repeats_apart(self) -> Outage:
        if self.every_s is not None and self.every_s <= self.for_s:
            raise ValueError("every_s must be > for_s (the windows would never end)")
        return self


class CarrierSim(BaseModel):
    """One simulated SMSC listening on its own port."""

    model_config = _FROZEN

    name: str = Field(min_length=1)
    port: int = Field(0, ge=0, le=65535)
    system_id: str = Field(min_length=1, max_length=15)  # SMPP 3.4 §4.1.1: C-Octet(16)
    password: str = Field("", max_length=8)  # SMPP 3.4 §4.1.1: C-Octet(9)
    max_binds: int = Field(4, gt=0)
    mps: int = Field(100, gt=0)
    burst: int | None = Field(None, gt=0)
    throttle: Throttle = "reject"
    submit_latency_ms: Delay = DelayRange()
    receipt_delay_ms: Delay = DelayRange(min=50, max=300)
    undelivered_share: float = Field(0.0, ge=0, le=1)
    # The `err:` of an undeliverable receipt, drawn evenly from this list (Appendix B: 3 digits).
    undelivered_errors: list[Annotated[int, Field(ge=0, le=999)]] = Field(
        default_factory=lambda: [1], min_length=1
    )
    expired_share: float = Field(0.0, ge=0, le=1)  # stat:EXPIRED
    rejected_share: float = Field(0.0, ge=0, le=1)  # stat:REJECTD
    unknown_share: float = Field(0.0, ge=0, le=1)  # stat:UNKNOWN
    no_receipt_share: float = Field(0.0, ge=0, le=1)  # accepted, and never a receipt
    message_id_format: IdFormat = "hex"
    receipt_id_format: IdFormat | None = None  # None: the receipt quotes the id as submitted
    duplicate_receipt_share: float = Field(0.0, ge=0, le=1)
    receipts: bool = True
    receipt_window: int = Field(100, gt=0)
    # Share of receipts written before their own submit_sm_resp (the race real SMSCs lose).
    receipt_race_share: float = Field(0.0, ge=0, le=1)
    # A concatenated message's receipts: one per segment, or only for its first/last segment.
    segment_receipts: SegmentReceipts = "each"
    outages: list[Outage] = Field(default_factory=list)
    bind_loss_every_s: float | None = Field(None, gt=0)  # drop every connection this often
    enquire_link_s: float | None = Field(None, gt=0)  # the SMSC's own enquire_link interval
    # Stop reading from a session whose unsent output passes this (a client not reading);
    # also the socket's kernel send buffer, so the two together stay bounded.
    write_high_water: int = Field(256 * 1024, ge=1024)
    prefixes: list[PrefixRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shares_fit(self) -> CarrierSim:
        total = (
            self.undelivered_share
            + self.expired_share
            + self.rejected_share
            + self.unknown_share
            + self.no_receipt_share
        )
        if total > 1:
            raise ValueError(f"outcome shares must sum to <= 1 (they sum to {total:g})")
        return self

    @property
    def bucket_size(self) -> int:
        """Token bucket capacity: `burst`, or one second of tokens."""
        return self.burst if self.burst is not None else self.mps


class Scenario(BaseModel):
    """Everything the simulator plays: a seed for replayable randomness and the carriers."""

    model_config = _FROZEN

    seed: int = 0
    control_port: int | None = Field(None, ge=0, le=65535)
    audit_path: str | None = None
    carriers: list[CarrierSim] = Field(min_length=1)

    def carrier(self, name: str) -> CarrierSim:
        """The carrier called `name`.

        Raises:
            KeyError: no such carrier.
        """
        for carrier in self.carriers:
            if carrier.name == name:
                return carrier
        raise KeyError(name)


def semantic_problems(source: TomlSource, scenario: Scenario) -> list[ConfigProblem]:
    """Checks that span several keys: unique names, system_ids and ports."""
    problems: list[ConfigProblem] = []
    names: dict[str, int] = {}
    ports: dict[int, str] = {}
    if scenario.control_port:
        ports[scenario.control_port] = "control_port"
    for index, carrier in enumerate(scenario.carriers):
        if carrier.name in names:
            problems.append(
                source.problem(
                    ("carriers", index, "name"),
                    f"duplicate name {carrier.name!r} (also carriers[{names[carrier.name]}])",
                )
            )
        else:
            names[carrier.name] = index
        seen: dict[str, int] = {}
        for rule_index, rule in enumerate(carrier.prefixes):
            if rule.digits in seen:
                problems.append(
                    source.problem(
                        ("carriers", index, "prefixes", rule_index, "prefix"),
                        f"duplicate prefix {rule.prefix!r} (also prefixes[{seen[rule.digits]}])",
                    )
                )
            seen.setdefault(rule.digits, rule_index)
        if carrier.port:
            if carrier.port in ports:
                problems.append(
                    source.problem(
                        ("carriers", index, "port"),
                        f"port {carrier.port} already used by {ports[carrier.port]}",
                    )
                )
            else:
                ports[carrier.port] = f"carriers[{index}]"
    return problems


def parse_scenario(source: TomlSource) -> Scenario:
    """Validate a parsed TOML source into a Scenario.

    Raises:
        ConfigError: every located problem, schema and semantic.
    """
    scenario = validate(source, Scenario)
    raise_if(semantic_problems(source, scenario))
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read, parse and check a scenario file.

    Raises:
        ConfigError: unreadable file, TOML syntax, or every located problem.
    """
    return parse_scenario(read_toml(path))
