"""Request validation for POST /v1/campaigns: clear, field-named errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.campaign_wire import (
    CAMPAIGN_FIELDS,
    MAX_LIST_AUDIENCE,
    MAX_RATE,
    MAX_VALIDITY,
    MIN_VALIDITY,
)
from campaigns import TO_COLUMN, SendWindow, Template
from messaging import InvalidInput, MessageClass

_FIELDS = CAMPAIGN_FIELDS
_ALPHANUMERIC_SENDER = re.compile(r"^[A-Za-z0-9 .\-_&]{1,11}$")
_NUMERIC_SENDER = re.compile(r"^\+?[0-9]{3,15}$")
DEFAULT_VALIDITY = 24 * 3600


@dataclass(frozen=True)
class CampaignRequest:
    """A validated campaign creation."""

    name: str
    template: Template
    sender: str
    message_class: MessageClass
    start_at: datetime
    max_rate: float | None
    send_window: SendWindow | None
    validity_seconds: int
    audience_header: tuple[str, ...] | None  # None: the audience comes as CSV later
    audience_rows: tuple[tuple[str, ...], ...]


def _sender(value: Any, default: str) -> str:
    sender = default if value is None else value
    if not isinstance(sender, str) or not (
        (_ALPHANUMERIC_SENDER.match(sender) and not sender.isdigit())
        or _NUMERIC_SENDER.match(sender)
    ):
        raise InvalidInput(
            "from", "must be 1-11 letters/digits (alphanumeric) or a number of 3-15 digits"
        )
    return sender


def _start_at(value: Any, now: datetime) -> datetime:
    if value is None:
        return now
    if not isinstance(value, str):
        raise InvalidInput("start_at", "an RFC 3339 time with its offset, e.g. 2026-12-01T09:00Z")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("start_at", f"{value!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise InvalidInput("start_at", "give the offset (Z or +hh:mm): local to where?")
    return parsed


def _max_rate(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_RATE:
        raise InvalidInput("max_rate", f"messages per second, more than 0 and at most {MAX_RATE:g}")
    return float(value)


def _audience(value: Any) -> tuple[tuple[str, ...] | None, tuple[tuple[str, ...], ...]]:
    """The list audience as a header (`to` first, then the other keys) and rows of text."""
    if value is None:
        return None, ()
    if not isinstance(value, list) or not value:
        raise InvalidInput("audience", 'a non-empty list of recipients, e.g. [{"to": "+44…"}]')
    if len(value) > MAX_LIST_AUDIENCE:
        raise InvalidInput(
            "audience", f"more than {MAX_LIST_AUDIENCE} recipients: upload a CSV instead"
        )
    keys: dict[str, None] = {TO_COLUMN: None}
    for i, entry in enumerate(value):
        if isinstance(entry, str):
            continue
        if not isinstance(entry, dict) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in entry.values()
        ):
            raise InvalidInput(f"audience[{i}]", 'a number or an object of texts {"to": …}')
        keys.update(dict.fromkeys(entry))
    header = tuple(keys)
    rows = tuple(
        (entry,) + ("",) * (len(header) - 1)
        if isinstance(entry, str)
        else tuple(str(entry.get(k, "")) for k in header)
        for entry in value
    )
    return header, rows


def parse_campaign_request(data: Any, default_sender: str, now: datetime) -> CampaignRequest:
    """Validate a decoded JSON body.

    Raises:
        InvalidInput: naming the field at fault (TemplateUnknownVariable when a list audience
            has no column for a field of the template).
    """
    if not isinstance(data, dict):
        raise InvalidInput("body", "the request body must be a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise InvalidInput(unknown[0], "unknown field")
    raw_template = data.get("template")
    if not isinstance(raw_template, str):
        raise InvalidInput("template", 'the message text, e.g. "Hi {{first_name}}, …"')
    template = Template.parse(raw_template)
    name = data.get("name", "")
    if not isinstance(name, str) or len(name) > 200:
        raise InvalidInput("name", "a text of at most 200 characters")
    raw_class = data.get("class", MessageClass.MARKETING.value)
    if raw_class != MessageClass.MARKETING.value:
        raise InvalidInput(
            "class", 'campaigns are "marketing" (OTP and transactional are sent one by one)'
        )
    validity = data.get("validity", DEFAULT_VALIDITY)
    if (
        isinstance(validity, bool)
        or not isinstance(validity, int)
        or not MIN_VALIDITY <= validity <= MAX_VALIDITY
    ):
        raise InvalidInput(
            "validity", f"must be a whole number of seconds from {MIN_VALIDITY} to {MAX_VALIDITY}"
        )
    header, rows = _audience(data.get("audience"))
    if header is not None:
        present = {c for j, c in enumerate(header) if any(r[j] for r in rows)}
        template.check_known(c for c in header if c in present)
    window = data.get("send_window")
    return CampaignRequest(
        name=name,
        template=template,
        sender=_sender(data.get("from"), default_sender),
        message_class=MessageClass.MARKETING,
        start_at=_start_at(data.get("start_at"), now),
        max_rate=_max_rate(data.get("max_rate")),
        send_window=SendWindow.parse(window) if window is not None else None,
        validity_seconds=validity,
        audience_header=header,
        audience_rows=rows,
    )
