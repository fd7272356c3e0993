"""Status callbacks: a signed JSON POST to the client's `callback_url` for every status change.

Signature (like Stripe's and Twilio's): `X-Switchboard-Signature: v1=<hex>` where hex is
HMAC-SHA256(secret, f"{timestamp}.{body}") and `X-Switchboard-Timestamp` is the Unix time, so a
receiver can reject replays. Delivery is at-least-once with backoff; receivers dedupe on
(`id`, `status`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

from store import StatusChange

CALLBACKS_QUEUE = "callbacks"
SIGNATURE_HEADER = "X-Switchboard-Signature"
TIMESTAMP_HEADER = "X-Switchboard-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `v1=` signature of a callback body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    """Constant-time check of a signature (what a receiver does; used in tests)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def payloads(changes: Sequence[StatusChange], now: float) -> list[tuple[str, dict[str, Any]]]:
    """(url, body) for every change whose message asked for callbacks."""
    return [
        (c.callback_url, {"id": c.message_id, "status": c.status, "at": now})
        for c in changes
        if c.callback_url
    ]


def post(url: str, payload: dict[str, Any], secret: str, timeout: float = 5.0) -> int:
    """POST one signed callback; returns the HTTP status.

    Raises:
        OSError: the receiver could not be reached or answered an error (the task retries).
    """
    body = json.dumps(payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked by the API
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Switchboard-Callbacks/1",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        },
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return int(response.status)
