"""Status callbacks on the wire: the JSON body of one event or a batch, and its signature.

Signature (like Stripe's and Twilio's): `X-Switchboard-Signature: v1=<hex>` where hex is
HMAC-SHA256(secret, f"{timestamp}.{body}") and `X-Switchboard-Timestamp` is the Unix time, so a
receiver can reject replays. The secret is the account's own (`POST /v1/webhook-secret`, shown
once), or the deployment's `secret_key` for an account that never asked for one. For a grace
period after a rotation the header carries one signature per valid secret, newest first,
`v1=<new>,v1=<old>` (as Stripe does): a receiver accepts the body when any one matches.
Delivery is at-least-once; receivers dedupe on (`id`, `status`).

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


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """`X-Switchboard-Signature`: one `v1=` signature per secret, comma-separated."""
    return ",".join(sign(secret, timestamp, body) for secret in secrets)


def verify(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    """Constant-time check that one of the header's signatures is `secret`'s (what a receiver
    does; used in tests)."""
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in signature.split(","))


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


def signed_headers(secrets: Sequence[str], timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of a callback POST of `body` at `timestamp`, signed with each secret."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(secrets, timestamp, body),
    }
