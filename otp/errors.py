"""OTP errors, each with a stable `code` (the API maps them to HTTP in `api/otp.py`).

SwitchboardError
├── OtpError                         base of the OTP-specific refusals
│   ├── OtpNotFound                  otp_not_found        (404)
│   ├── OtpExpired                   otp_expired          (410)
│   ├── OtpNotPending                otp_not_pending      (409) approved/canceled: no resend
│   ├── OtpAlreadyUsed               otp_already_used     (409) a code is approved only once
│   ├── DestinationBlocked           destination_blocked  (403) pumping guard
│   └── GeoNotPermitted              geo_not_permitted    (403) account's country list
└── RateLimited(retry_after)
    ├── OtpMaxAttempts               otp_max_attempts     (429)
    ├── OtpMaxSends                  otp_max_sends        (429)
    ├── OtpResendCooldown            otp_resend_cooldown  (429)
    └── OtpVelocityLimited           otp_velocity_limited (429)
"""

from __future__ import annotations

from messaging import RateLimited, SwitchboardError


class OtpError(SwitchboardError):
    """An OTP request refused for a reason the client can act on."""

    code = "otp_error"


class OtpNotFound(OtpError):
    """No verification with this id for this account."""

    code = "otp_not_found"


class OtpExpired(OtpError):
    """The verification's time to live is over."""

    code = "otp_expired"


class OtpNotPending(OtpError):
    """The verification is approved or canceled; it cannot be resent."""

    code = "otp_not_pending"


class OtpAlreadyUsed(OtpError):
    """The verification was approved already; a code is good for one approval only."""

    code = "otp_already_used"


class DestinationBlocked(OtpError):
    """The destination prefix is blocked by the SMS-pumping guard."""

    code = "destination_blocked"

    def __init__(self, prefix: str, detail: str) -> None:
        self.prefix = prefix
        super().__init__(detail)


class GeoNotPermitted(OtpError):
    """The account may not send OTPs to this country."""

    code = "geo_not_permitted"

    def __init__(self, region: str, detail: str) -> None:
        self.region = region
        super().__init__(detail)


class OtpMaxAttempts(RateLimited):
    """Every check attempt of this verification is used."""

    code = "otp_max_attempts"


class OtpMaxSends(RateLimited):
    """Every send of this verification is used."""

    code = "otp_max_sends"


class OtpResendCooldown(RateLimited):
    """A resend came sooner than the cooldown allows."""

    code = "otp_resend_cooldown"


class OtpVelocityLimited(RateLimited):
    """Too many OTP sends or checks for this number or account in the window."""

    code = "otp_velocity_limited"
