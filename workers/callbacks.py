"""Status callbacks on the wire: the JSON body of one event or a batch, and its signature.

Signature (like Stripe's and Twilio's): `X-Switchboard-Signature: v1=<hex>` where hex is
HMAC-SHA256(secret, f"{timestamp}.{body}") and `X-Switchboard-Timestamp` is the Unix time, so a
receiver can reject replays. Delivery is at-least-once; receivers dedupe on (`id`, `status`).

A body is one event, `{"id", "status", "error_code", "carrier", "segments", "cost",
"currency", "to", "created_at", "sent_at", "final_at", "at"}`, or, for messages sent with
`callback_batch`, `{"events": [event, ...]}`. Times are RFC 3339 in UTC; `cost` is a decimal
string, as in `GET /v1/messages/{id}`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from decimal import Decimal

import orjson

from messaging import CallbackEvent

CALLBACKS_QUEUE = "callbacks"
SIGNATURE_HEADER = "X-Switchboard-Signature"
TIMESTAMP_HEADER = "X-Switchboard-Timestamp"
USER_AGENT = "Switchboard-Callbacks/2"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `v1=` signature of a callback body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    """Constant-time check of a signature (what a receiver does; used in tests)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def _decimal(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not part of a callback body")


def render_event(event: CallbackEvent) -> bytes:
    """The body of a single-event callback (orjson writes the dataclass field by field)."""
    return orjson.dumps(event, default=_decimal)


def render_batch(events: Sequence[CallbackEvent]) -> bytes:
    """The body of a batched callback: `{"events": [...]}`."""
    return orjson.dumps({"events": list(events)}, default=_decimal)


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of a callback POST of `body` at `timestamp`."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
