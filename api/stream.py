"""`/v1/stream` (WebSocket) and `/dashboard` (the operator page).

Any key's stream carries its own account's status events: the API subscribes to that account's
Redis channel (`messaging.channel_for`) while a client of it is connected, one pub/sub
connection per API process, and relays each published batch as one frame
`{"type": "status", "events": [{"id", "status", "at"}, ...]}`. An admin key may ask for
`?feed=operator`: a `{"type": "figures", ...}` frame each second (`switchboard.live.Figures`,
computed once per process however many dashboards watch), and the `{"type": "campaigns", ...}`
frames of its own account (`api.campaign_feed`); any key may ask for `?feed=campaigns`: those
campaign frames only, of its own account.

Browsers cannot set an `Authorization` header on a WebSocket, so the key may also come as the
second subprotocol: `new WebSocket(url, ["switchboard", key])` (the server answers
`switchboard`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiohttp import WSMsgType, web

from api.campaign_feed import CampaignTicker
from api.campaigns_api import CAMPAIGNS
from api.contract import Answer, Operation, Param, operation
from api.problems import ApiProblem
from api.services import OWNER, SERVICES
from api.stream_wire import ReadyFrame, StatusFrame, StreamFrame
from messaging import CHANNEL_PREFIX, InvalidInput, channel_for, decode_events
from store import KeyOwner

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
SUBPROTOCOL = "switchboard"
CLIENT_QUEUE = 1000  # frames a slow client may fall behind before it is dropped
FIGURES_EVERY = 1.0  # seconds between operator frames


def websocket_bearer(request: web.Request) -> str:
    """`Bearer <key>` from `Sec-WebSocket-Protocol: switchboard, <key>` ('' if not there)."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if len(offered) == 2 and offered[0] == SUBPROTOCOL and offered[1]:
        return f"Bearer {offered[1]}"
    return ""


class StreamHub:
    """One Redis pub/sub connection per API process, subscribed to the accounts listened to."""

    def __init__(self, redis_url: str) -> None:
        self._url = redis_url
        self._clients: dict[str, set[asyncio.Queue[bytes | None]]] = defaultdict(set)
        self._redis: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def join(self, account_id: str) -> asyncio.Queue[bytes | None]:
        """A queue of this account's frames, subscribed before it is returned."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(CLIENT_QUEUE)
        async with self._lock:
            if self._pubsub is None:
                self._redis = aioredis.Redis.from_url(self._url)
                self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            if not self._clients[account_id]:
                await self._pubsub.subscribe(channel_for(account_id))
            self._clients[account_id].add(queue)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.get_running_loop().create_task(self._relay())
        return queue

    async def leave(self, account_id: str, queue: asyncio.Queue[bytes | None]) -> None:
        """Stop relaying to `queue`; unsubscribe when the account's last client left."""
        async with self._lock:
            self._clients[account_id].discard(queue)
            if not self._clients[account_id]:
                del self._clients[account_id]
                if self._pubsub is not None:
                    await self._pubsub.unsubscribe(channel_for(account_id))

    async def _relay(self) -> None:
        while self._clients:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except Exception as exc:  # Redis went away: clients stay, we try again
                log.warning("status stream: Redis pub/sub failed: %s", exc)
                await asyncio.sleep(1.0)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"].decode()
            account_id = channel.removeprefix(CHANNEL_PREFIX)
            try:
                events = decode_events(message["data"])
            except (ValueError, KeyError, TypeError):
                log.warning("status stream: malformed message on %s dropped", channel)
                continue
            status: StatusFrame = {
                "type": "status",
                "events": [{"id": e.id, "status": e.status, "at": e.at} for e in events],
            }
            frame = orjson.dumps(status)
            for queue in list(self._clients.get(account_id, ())):
                try:
                    queue.put_nowait(frame)
                except asyncio.QueueFull:  # too slow: close it rather than grow without bound
                    self._clients[account_id].discard(queue)
                    queue.get_nowait()
                    queue.put_nowait(None)

    async def close(self) -> None:
        """Stop relaying and close the connection."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()


class FiguresTicker:
    """Computes the operator figures once a second while anyone watches; shares the latest."""

    def __init__(self, figures: Callable[[], dict[str, Any]]) -> None:
        self._figures = figures
        self._watchers: set[asyncio.Queue[bytes]] = set()
        self._task: asyncio.Task[None] | None = None

    def watch(self) -> asyncio.Queue[bytes]:
        """A queue of figure frames (the newest only: an old figure is worth nothing)."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(1)
        self._watchers.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return queue

    def unwatch(self, queue: asyncio.Queue[bytes]) -> None:
        """Stop sending to `queue`."""
        self._watchers.discard(queue)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._watchers:
            try:
                frame = orjson.dumps(await loop.run_in_executor(None, self._figures))
            except Exception:
                log.exception("operator figures failed")
                frame = b""
            for queue in list(self._watchers):
                if frame:
                    if queue.full():
                        queue.get_nowait()
                    queue.put_nowait(frame)
            await asyncio.sleep(FIGURES_EVERY)

    async def close(self) -> None:
        """Stop the ticker."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


HUB = web.AppKey("stream_hub", StreamHub)
TICKER = web.AppKey("figures_ticker", FiguresTicker)
CAMPAIGN_TICKER = web.AppKey("campaign_ticker", CampaignTicker)


async def _pump(ws: web.WebSocketResponse, queue: asyncio.Queue[Any]) -> None:
    while True:
        frame = await queue.get()
        if frame is None:
            await ws.close(code=1013, message=b"too slow")
            return
        await ws.send_str(frame.decode())


FEEDS = ("campaigns", "operator")


@operation(
    Operation(
        "Live status events of your own messages (WebSocket; ?feed=campaigns: your campaigns'"
        " progress; an admin key may ask ?feed=operator)",
        answers={
            101: Answer(
                "switching to the WebSocket protocol (RFC 6455); then one JSON text message per"
                " frame, schemas under `x-websocket-frames`",
                headers=("Upgrade", "Connection", "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol"),
                frames=StreamFrame,
            )
        },
        problems={
            403: ("admin_required",),
            404: ("not_found",),  # this API runs without Redis (or without that feed)
            426: ("websocket_upgrade_required",),
        },
        query=(
            Param(
                "feed",
                {"type": "string", "enum": list(FEEDS)},
                "none: your messages' status events; `campaigns`: your campaigns' progress;"
                " `operator` (admin key): the cluster's figures and your campaigns",
            ),
        ),
        tag="operations",
        description="A WebSocket handshake (RFC 6455 §4): send `Connection: Upgrade`, "
        "`Upgrade: websocket`, `Sec-WebSocket-Key` and `Sec-WebSocket-Version: 13`. A browser, "
        "which cannot set `Authorization` on a WebSocket, may offer the key as the second "
        "subprotocol instead: `Sec-WebSocket-Protocol: switchboard, <key>` (answered "
        "`switchboard`). Without the upgrade the answer is 426.",
    )
)
async def stream(request: web.Request) -> web.WebSocketResponse:
    """GET /v1/stream: this account's status events; `?feed=operator` (admin): live figures."""
    owner: KeyOwner = request[OWNER]
    feed = request.query.get("feed")
    if feed is not None and feed not in FEEDS:
        raise InvalidInput("feed", f"feed must be one of {', '.join(FEEDS)} (or absent)")
    if feed == "campaigns":
        return await _campaign_stream(request, owner)
    operator = feed == "operator"
    if operator and not owner.is_admin:
        raise ApiProblem(403, "admin_required", "Forbidden", "the operator feed needs an admin key")
    if operator and TICKER not in request.app:
        raise ApiProblem(404, "not_found", "Not found", "no operator feed on this API")
    if not operator and HUB not in request.app:
        raise ApiProblem(404, "not_found", "Not found", "no status stream on this API (no Redis)")
    ws = await _accept(request)
    if operator:
        ticker = request.app[TICKER]
        figures = ticker.watch()
        pumps = [asyncio.ensure_future(_pump(ws, figures))]
        campaigns = request.app.get(CAMPAIGN_TICKER)
        progress = campaigns.watch(owner.account_id) if campaigns is not None else None
        if progress is not None:
            pumps.append(asyncio.ensure_future(_pump(ws, progress)))
        try:
            await _until_closed(ws)
        finally:
            for pump in pumps:
                pump.cancel()
            ticker.unwatch(figures)
            if campaigns is not None and progress is not None:
                campaigns.unwatch(owner.account_id, progress)
        return ws
    hub = request.app[HUB]
    queue = await hub.join(owner.account_id)
    ready: ReadyFrame = {"type": "ready", "account": owner.account_name}
    await ws.send_str(orjson.dumps(ready).decode())
    pump = asyncio.ensure_future(_pump(ws, queue))
    try:
        await _until_closed(ws)
    finally:
        pump.cancel()
        await hub.leave(owner.account_id, queue)
    return ws


async def _campaign_stream(request: web.Request, owner: KeyOwner) -> web.WebSocketResponse:
    """`?feed=campaigns`: the campaign frames of the key's own account."""
    if CAMPAIGN_TICKER not in request.app:
        raise ApiProblem(404, "not_found", "Not found", "no campaign feed on this API")
    ticker = request.app[CAMPAIGN_TICKER]
    ws = await _accept(request)
    progress = ticker.watch(owner.account_id)
    pump = asyncio.ensure_future(_pump(ws, progress))
    try:
        await _until_closed(ws)
    finally:
        pump.cancel()
        ticker.unwatch(owner.account_id, progress)
    return ws


async def _accept(request: web.Request) -> web.WebSocketResponse:
    """The WebSocket of `request`, handshake answered; 426 problem+json when it asks none.

    RFC 9110 §15.5.22: a 426 names the protocol to switch to in `Upgrade`. (aiohttp's own
    refusal, from `prepare`, is a 400 that the problems middleware can only call `http_error`.)
    """
    ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), heartbeat=30)
    if not ws.can_prepare(request).ok:
        raise ApiProblem(
            426,
            "websocket_upgrade_required",
            "Upgrade required",
            "this is a WebSocket endpoint: send a WebSocket handshake (RFC 6455 §4.1)",
            headers={"Upgrade": "websocket", "Connection": "Upgrade"},
        )
    await ws.prepare(request)
    return ws


async def _until_closed(ws: web.WebSocketResponse) -> None:
    async for message in ws:  # clients send nothing we need; pings are answered by aiohttp
        if message.type == WSMsgType.ERROR:
            return


@operation(
    Operation(
        "The operator dashboard page (it asks for an admin key itself)",
        answers={200: Answer("the page", str, content_type="text/html")},
        public=True,
        tag="operations",
    )
)
async def dashboard(_request: web.Request) -> web.FileResponse:
    """GET /dashboard: the operator page (it asks for an admin key, kept in the tab only)."""
    return web.FileResponse(STATIC / "dashboard.html")


def add_stream_routes(app: web.Application) -> None:
    """/v1/stream, /dashboard and its static files; the hub and ticker live with the app."""
    services = app[SERVICES]

    if services.redis_url:
        app[HUB] = StreamHub(services.redis_url)  # connects on the first client
    if services.live_figures is not None:
        app[TICKER] = FiguresTicker(services.live_figures)  # ticks only while watched
    if CAMPAIGNS in app:  # the campaign routes come first (api.app)
        app[CAMPAIGN_TICKER] = CampaignTicker(app[CAMPAIGNS], services.clock)

    async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
        yield
        if HUB in app:
            await app[HUB].close()
        if TICKER in app:
            await app[TICKER].close()
        if CAMPAIGN_TICKER in app:
            await app[CAMPAIGN_TICKER].close()

    app.cleanup_ctx.append(_lifecycle)
    app.router.add_get("/v1/stream", stream)
    app.router.add_get("/dashboard", dashboard)
    app.router.add_static("/dashboard/static", STATIC)
