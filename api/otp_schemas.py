"""Request bodies of the OTP API, validated with field-named errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    Literal,
    Required,  # pydantic needs this one before 3.12
)

from pydantic import Field, with_config
from typing_extensions import TypedDict

from api.schemas import EXAMPLE_NUMBER
from api.wire import CLOSED
from messaging import InvalidInput, PhoneNumber, parse_e164
from otp import MAX_LENGTH, MIN_LENGTH, OtpLimits, OtpText, render

MIN_TTL = 60


@with_config(CLOSED)
class StartBody(TypedDict, total=False):
    """POST /v1/otp: whom to verify, and how the SMS reads."""

    to: Required[Annotated[str, Field(description="E.164", examples=[EXAMPLE_NUMBER])]]
    template: Annotated[str | None, Field(description="text with {code}, {app}, {minutes}")]
    locale: str | None
    code_length: Annotated[int, Field(ge=MIN_LENGTH, le=MAX_LENGTH)]
    ttl: Annotated[int, Field(ge=MIN_TTL, description="seconds (at most the account's ttl_max)")]
    channel: Literal["sms"]
    web_otp_domain: str | None
    allow_unicode: bool


@with_config(CLOSED)
class CodeBody(TypedDict):
    """POST /v1/otp/{id}/check."""

    code: Annotated[
        str, Field(pattern=f"^[0-9]{{{MIN_LENGTH},{MAX_LENGTH}}}$", description="the digits")
    ]


_FIELDS = StartBody.__required_keys__ | StartBody.__optional_keys__


@dataclass(frozen=True)
class StartRequest:
    """A validated POST /v1/otp body."""

    to: PhoneNumber
    code_length: int
    ttl: int
    text: OtpText


def _int(data: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(name, f"must be a whole number from {low} to {high}")
    return value


def _optional_str(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(name, "must be a string")
    return value


def parse_start(data: Any, limits: OtpLimits) -> StartRequest:
    """Validate a POST /v1/otp body.

    Raises:
        InvalidInput: naming the field at fault.
    """
    if not isinstance(data, dict):
        raise InvalidInput("body", "the request body must be a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise InvalidInput(unknown[0], "unknown field")
    to = parse_e164(_optional_str(data, "to") or "")
    channel = data.get("channel", "sms")
    if channel != "sms":
        raise InvalidInput("channel", "only 'sms' is supported")
    allow_unicode = data.get("allow_unicode", False)
    if not isinstance(allow_unicode, bool):
        raise InvalidInput("allow_unicode", "must be true or false")
    text = OtpText(
        locale=_optional_str(data, "locale") or "en",
        template=_optional_str(data, "template"),
        web_otp_domain=_optional_str(data, "web_otp_domain"),
        allow_unicode=allow_unicode,
    )
    code_length = _int(data, "code_length", 6, MIN_LENGTH, MAX_LENGTH)
    ttl = _int(data, "ttl", limits.ttl_default, MIN_TTL, limits.ttl_max)
    render(text, "0" * code_length, "app", ttl)  # reject a bad template before anything is counted
    return StartRequest(to, code_length, ttl, text)


def parse_code(data: Any) -> str:
    if not isinstance(data, dict) or set(data) - {"code"}:
        raise InvalidInput("body", "expected a JSON object with only 'code'")
    code = data.get("code")
    if not isinstance(code, str) or not code.isascii() or not code.isdigit():
        raise InvalidInput("code", "must be a string of digits")
    if not MIN_LENGTH <= len(code) <= MAX_LENGTH:
        raise InvalidInput("code", f"must have {MIN_LENGTH} to {MAX_LENGTH} digits")
    return code
