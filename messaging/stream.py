"""The status stream's wire (pure): one Redis channel per account, a batch of events per message.

Writers of status changes (the send workers' outcome and receipt writes, the sweep's expiries)
publish each committed batch, grouped by account, as one JSON message on `channel_for(account)`;
the API relays them to that account's WebSocket clients. Nobody else's channel is ever read for a
key, so a client sees only its own account's messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

CHANNEL_PREFIX = "sb:stream:"


@dataclass(frozen=True)
class StatusEvent:
    """One status change of one message, as the stream carries it."""

    id: str
    status: str
    at: float  # Unix seconds when the writer published it


def channel_for(account_id: str) -> str:
    """The Redis channel of an account's status events."""
    return f"{CHANNEL_PREFIX}{account_id}"


def encode_events(events: Iterable[StatusEvent]) -> bytes:
    """One channel message: a JSON array of events."""
    return json.dumps(
        [{"id": e.id, "status": e.status, "at": round(e.at, 3)} for e in events],
        separators=(",", ":"),
    ).encode()


def decode_events(payload: bytes | str) -> list[StatusEvent]:
    """The events of one channel message (raises ValueError on a malformed one)."""
    data = json.loads(payload)
    if not isinstance(data, list):
        raise ValueError("a stream message is a JSON array")
    return [StatusEvent(str(d["id"]), str(d["status"]), float(d["at"])) for d in data]
