"""The verification state machine: pure decisions on check, resend and cancel, given `now`.

    pending ──check(right code)──▶ approved      (once: a second check is OtpAlreadyUsed)
       │ ──cancel──▶ canceled
       └── now ≥ expires_at ──▶ expired          (derived from the clock, then written lazily)

The store applies these same rules with conditional UPDATEs so that concurrent API processes
agree; this module is their one definition and what the in-memory twin runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from otp.errors import (
    OtpAlreadyUsed,
    OtpExpired,
    OtpMaxAttempts,
    OtpMaxSends,
    OtpNotPending,
    OtpResendCooldown,
)


class VerificationStatus(StrEnum):
    """Where a verification is; the API reports the value."""

    PENDING = "pending"
    APPROVED = "approved"
    EXPIRED = "expired"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Verification:
    """One verification as stored (the code only as its keyed hash)."""

    id: str
    account_id: str
    to: str
    status: VerificationStatus
    code_hash: str
    check_attempts: int
    max_checks: int
    sends: int
    max_sends: int
    created_at: datetime
    expires_at: datetime
    last_sent_at: datetime
    message_id: str
    approved_at: datetime | None = None

    def status_at(self, now: datetime) -> VerificationStatus:
        """The status at `now`: a pending verification past its TTL is expired."""
        if self.status is VerificationStatus.PENDING and now >= self.expires_at:
            return VerificationStatus.EXPIRED
        return self.status

    @property
    def attempts_left(self) -> int:
        """Check attempts still allowed."""
        return max(0, self.max_checks - self.check_attempts)

    @property
    def sends_left(self) -> int:
        """Sends (first send included) still allowed."""
        return max(0, self.max_sends - self.sends)


@dataclass(frozen=True)
class CheckResult:
    """The answer to a check: the status after it and attempts left."""

    status: VerificationStatus
    attempts_left: int


def _seconds_until(end: datetime, now: datetime) -> float:
    return max(1.0, (end - now).total_seconds())


def admit_check(v: Verification, now: datetime) -> CheckResult | None:
    """None when a check attempt may be counted; else the answer given without counting one.

    Raises:
        OtpAlreadyUsed: the verification was approved already.
        OtpMaxAttempts: every attempt is used (retry after the TTL, when a new one may start).
    """
    status = v.status_at(now)
    if status is VerificationStatus.APPROVED:
        raise OtpAlreadyUsed("this verification was approved already; start a new one")
    if status is not VerificationStatus.PENDING:
        return CheckResult(status, v.attempts_left)
    if v.check_attempts >= v.max_checks:
        raise OtpMaxAttempts(
            _seconds_until(v.expires_at, now), f"all {v.max_checks} check attempts are used"
        )
    return None


def apply_check(v: Verification, matched: bool, now: datetime) -> tuple[Verification, CheckResult]:
    """Count one check attempt whose code did (`matched`) or did not match; see `admit_check`."""
    early = admit_check(v, now)
    if early is not None:
        return v, early
    counted = replace(v, check_attempts=v.check_attempts + 1)
    if matched:
        counted = replace(counted, status=VerificationStatus.APPROVED, approved_at=now)
    return counted, CheckResult(counted.status, counted.attempts_left)


def admit_resend(v: Verification, now: datetime, cooldown_seconds: float) -> None:
    """Pass when a resend is allowed now.

    Raises:
        OtpNotPending: approved or canceled.
        OtpExpired: the TTL is over.
        OtpMaxSends: every send is used.
        OtpResendCooldown: the last send was less than `cooldown_seconds` ago.
    """
    status = v.status_at(now)
    if status is VerificationStatus.EXPIRED:
        raise OtpExpired("this verification has expired; start a new one")
    if status is not VerificationStatus.PENDING:
        raise OtpNotPending(f"this verification is {status.value}")
    if v.sends >= v.max_sends:
        raise OtpMaxSends(_seconds_until(v.expires_at, now), f"all {v.max_sends} sends are used")
    wait = (v.last_sent_at - now).total_seconds() + cooldown_seconds
    if wait > 0:
        raise OtpResendCooldown(wait, f"resend allowed in {wait:.0f} s")


def apply_resend(
    v: Verification, code_hash: str, message_id: str, now: datetime, cooldown_seconds: float
) -> Verification:
    """The verification after a resend with a fresh code (the old code stops working)."""
    admit_resend(v, now, cooldown_seconds)
    return replace(
        v, code_hash=code_hash, message_id=message_id, sends=v.sends + 1, last_sent_at=now
    )


def admit_cancel(v: Verification, now: datetime) -> bool:
    """True when cancel changes something; False when already canceled (idempotent).

    Raises:
        OtpAlreadyUsed: approved already.
        OtpExpired: the TTL is over.
    """
    status = v.status_at(now)
    if status is VerificationStatus.APPROVED:
        raise OtpAlreadyUsed("this verification was approved already")
    if status is VerificationStatus.EXPIRED:
        raise OtpExpired("this verification has expired")
    return status is VerificationStatus.PENDING
