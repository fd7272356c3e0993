"""The frames `/v1/stream` sends after its WebSocket handshake, as TypedDicts.

OpenAPI 3.1 has no words for the messages of a WebSocket: the document describes the
handshake (`GET` answered `101`) and lists these frames' schemas under the 101 answer's
`x-websocket-frames` (each frame is one JSON text message; `type` tells them apart). The
handlers build them (mypy checks the keys), as `api/wire.py`'s bodies.
"""

from __future__ import annotations

from typing import Literal

from pydantic import with_config
from typing_extensions import TypedDict

from api.wire import CLOSED


@with_config(CLOSED)
class ReadyFrame(TypedDict):
    """First frame of the status stream: subscribed, events from now on follow."""

    type: Literal["ready"]
    account: str


@with_config(CLOSED)
class StatusEventJson(TypedDict):
    """One status change of one of the account's messages."""

    id: str
    status: str
    at: float  # Unix seconds when the writer published it


@with_config(CLOSED)
class StatusFrame(TypedDict):
    """The status changes one writer published together."""

    type: Literal["status"]
    events: list[StatusEventJson]


@with_config(CLOSED)
class CarrierFigures(TypedDict):
    """One carrier's live figures (the operator feed)."""

    name: str
    mps: int
    paced_rate: float
    bucket_fill: float
    health: float
    circuit: str
    rate: float
    throttled_per_s: float
    throttled: int
    submitted: int
    delivery_ratio: float | None


@with_config(CLOSED)
class FiguresFrame(TypedDict):
    """`?feed=operator` (admin key), each second: the cluster's live figures."""

    type: Literal["figures"]
    at: float
    window_s: float
    carriers: list[CarrierFigures]
    queues: dict[str, int]
    backlog: int
    otp_p99_ms: float | None


@with_config(CLOSED)
class CampaignLiveJson(TypedDict):
    """One running or paused campaign as the dashboard shows it."""

    id: str
    name: str
    state: str
    total: int
    sent: int
    delivered: int
    failed: int
    skipped: int
    remaining: int
    rate: float
    max_rate: float | None
    eta_seconds: int | None
    held: int
    held_zones: int
    held_until: str | None
    start_at: str
    send_window: str | None


@with_config(CLOSED)
class CampaignsFrame(TypedDict):
    """`?feed=campaigns` (and the operator feed): the account's live campaigns, each tick."""

    type: Literal["campaigns"]
    at: float
    campaigns: list[CampaignLiveJson]


StreamFrame = ReadyFrame | StatusFrame | FiguresFrame | CampaignsFrame
