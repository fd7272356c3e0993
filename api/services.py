"""What the handlers share: the services object and the request/app keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from api.committer import GroupCommitter
from api.limits import Limiter
from api.reader import GroupReader, OptOutScreen
from messaging import CallbackPolicy
from routing import RoutingTable
from store import KeyOwner, MessageStore


@dataclass
class ApiServices:
    """What the handlers use; built by the composition root."""

    store: MessageStore
    committer: GroupCommitter
    clock: Callable[[], datetime]
    default_sender: str = "Switchboard"
    validity_seconds: int = 24 * 3600
    key_cache_seconds: float = 30.0
    # seconds a lone opt-out screen waits for others to share its query (api.reader.GroupLookup)
    opt_out_linger: float = 0.0
    routes: Callable[[], RoutingTable] | None = None  # the routes file in force (hot-reloaded)
    callback_policy: CallbackPolicy = field(default_factory=CallbackPolicy)  # public hosts only
    # host name → its addresses; None: the system resolver (tests pass a stub: no real lookups)
    resolve: Callable[[str], Awaitable[list[str]]] | None = None
    # /metrics: this API family's multiprocess directory (None: in-process values) and the
    # collectors read at scrape time (queue depths, carrier buckets, circuits: switchboard.live)
    metrics_dir: Path | None = None
    live_collectors: tuple[Any, ...] = ()
    # /v1/stream: the operator feed's figures (None: no operator feed) and the status hub's Redis
    live_figures: Callable[[], dict[str, Any]] | None = None
    redis_url: str = ""
    limiter: Limiter | None = None  # rate limits and backpressure (api/limits.py); None: none


SERVICES = web.AppKey("services", ApiServices)
OWNER = web.RequestKey("owner", KeyOwner)
READER = web.AppKey("reader", GroupReader)  # GET /v1/messages/{id}, grouped
OPT_OUTS = web.AppKey("opt_outs", OptOutScreen)  # marketing recipients screened, grouped
READ_POOL = web.AppKey("read_pool", ThreadPoolExecutor)  # list pages and key lookups
