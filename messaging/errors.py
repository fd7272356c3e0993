"""One exception tree with stable codes.

SwitchboardError
├── ConfigError(path, line, key, reason)         one located problem in an operator file
│   └── ConfigErrors(errors)                      every problem found in one file
├── InvalidInput(field, reason)                   code: invalid_input (and subclasses)
│   ├── InvalidNumber                             code: invalid_number
│   ├── EmptyBody                                 code: empty_body
│   └── MissingVariable (messaging/templates.py)  code: missing_variable
├── NoRoute(reasons)                              code: no_route
├── RateLimited(retry_after)                      code: rate_limited
└── CarrierError(status, detail)
    ├── TransientCarrierError                     try the next candidate
    │   ├── Throttled                             ESME_RTHROTTLED / ESME_RMSGQFUL
    │   ├── CarrierSystemError                    ESME_RSYSERR and friends
    │   ├── ResponseTimeout                       no *_resp within the PDU timeout
    │   ├── Unbound                               no bound session / connection lost
    │   │   └── CarrierRemoved                    a routes reload removed the carrier
    │   └── CircuitOpen                           half-open: this window's probes are taken
    └── PermanentCarrierError                     the carrier will never take it
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class SwitchboardError(Exception):
    """Root of every error Switchboard raises on purpose."""

    code: str = "internal_error"


@dataclass(frozen=True)
class ConfigProblem:
    """One located problem: `config/routes.toml:42: routes[3].mps: must be > 0`."""

    path: str
    line: int | None
    key: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.key}: {self.reason}" if self.key else f"{where}: {self.reason}"


class ConfigError(SwitchboardError):
    """An operator file is invalid; carries every problem found, each with file, line and key."""

    code = "config_invalid"

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class InvalidInput(SwitchboardError):
    """A client sent something we cannot accept; nothing was stored."""

    code = "invalid_input"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class InvalidNumber(InvalidInput):
    """The destination is not a valid, dialable phone number."""

    code = "invalid_number"


class EmptyBody(InvalidInput):
    """The message body is empty."""

    code = "empty_body"


class NoRoute(SwitchboardError):
    """No carrier may take this message; `reasons` says why each was left out."""

    code = "no_route"

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("no route: " + "; ".join(self.reasons))


class RateLimited(SwitchboardError):
    """A limit was hit; try again after `retry_after` seconds."""

    code = "rate_limited"

    def __init__(
        self,
        retry_after: float,
        detail: str = "rate limited",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.retry_after = retry_after
        self.headers = headers  # more response headers (e.g. RateLimit-Policy, RateLimit)
        super().__init__(detail)


class CarrierError(SwitchboardError):
    """A carrier refused or failed a PDU; `status` is the SMPP command_status when there is one."""

    code = "carrier_error"

    def __init__(self, status: int | None = None, detail: str = "") -> None:
        self.status = status
        self.detail = detail
        shown = f"0x{status:08X}" if status is not None else "-"
        super().__init__(f"{type(self).__name__}(status={shown}) {detail}".strip())


class TransientCarrierError(CarrierError):
    """Worth trying the next candidate or again later."""


class Throttled(TransientCarrierError):
    """The carrier said we are over its rate (ESME_RTHROTTLED) or its queue is full."""


class CarrierSystemError(TransientCarrierError):
    """The carrier had an internal error."""


class ResponseTimeout(TransientCarrierError):
    """No response PDU arrived in time."""


class Unbound(TransientCarrierError):
    """No bound session: connect/bind failed or the connection was lost."""


class CircuitOpen(TransientCarrierError):
    """Not sent: the carrier's circuit is half-open and its probe messages are taken."""


class CarrierRemoved(Unbound):
    """The carrier is no longer configured: a routes reload removed it from this process."""


class PermanentCarrierError(CarrierError):
    """The carrier will not take this message on any retry (e.g. ESME_RINVDSTADR)."""
