"""Live campaign progress for `/v1/stream`: the dashboard's campaigns panel, tenant-scoped.

Each account with a client watching gets a `{"type": "campaigns", ...}` frame every
`CAMPAIGNS_EVERY` seconds: its running, paused and scheduled campaigns (`campaigns.progress`
shapes each one). The cost is one grouped query per watched account per tick
(`CampaignStore.live`: an index-only count over the live campaigns' messages, ~0.3-1 µs per
message: 30-100 ms for 100,000 on this machine, `bench/campaign_live.py`), shared by every
client of that account on this API process — not one per campaign, nor per client. Since that
grows with the audience, the tick stretches to `COST_FACTOR` times the last round's query time
(a million-recipient campaign refreshes every ~10-20 s rather than every 2), so the panel never
takes more than ~1/COST_FACTOR of a database core. The current rate comes from the
differences between this process's own ticks, so it costs no query of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime

import orjson

from api.stream_wire import CampaignLiveJson, CampaignsFrame
from campaigns import RATE_WINDOW, eta_seconds, quiet_hold, rate, shown_state, tally
from store import CampaignStore, LiveCampaign

log = logging.getLogger(__name__)

CAMPAIGNS_EVERY = 2.0  # seconds between campaign frames (each one query per watched account)
COST_FACTOR = 20.0  # a round waits at least 20x its own query time: <= 5% of a database core


def campaign_view(
    live: LiveCampaign,
    now: datetime,
    history: deque[tuple[float, int]],
    opens_at: dict[tuple[str, str], datetime | None],
) -> CampaignLiveJson:
    """One campaign as the dashboard shows it (JSON-ready); `history` holds its earlier
    (monotonic time, done) samples, the newest already appended."""
    counts = tally(live.by_status, live.skipped)
    hold = quiet_hold(live.send_window, live.scheduled_by_zone, now, opens_at)
    current = rate(history)
    state = shown_state(live.state, live.start_at, now)
    moving = state == "running"
    return {
        "id": live.id,
        "name": live.name,
        "state": state,
        "total": counts.total,
        "sent": counts.sent,
        "delivered": counts.delivered,
        "failed": counts.failed,
        "skipped": counts.skipped,
        "remaining": counts.remaining,
        "rate": round(current, 1),
        "max_rate": live.max_rate,
        "eta_seconds": eta_seconds(counts.remaining, hold.held, current, live.max_rate)
        if moving
        else None,
        "held": hold.held,
        "held_zones": hold.zones,
        "held_until": hold.until.isoformat() if hold.until else None,
        "start_at": live.start_at.isoformat(),
        "send_window": live.send_window,
    }


def pause(every: float, spent: float) -> float:
    """Seconds until the next round: `every`, or `COST_FACTOR` times what the last one took."""
    return max(every, COST_FACTOR * spent)


class CampaignTicker:
    """Reads each watched account's live campaigns once a tick; shares the frame."""

    def __init__(
        self,
        store: CampaignStore,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        every: float = CAMPAIGNS_EVERY,
    ) -> None:
        self._store = store
        self._clock = clock
        self._monotonic = monotonic
        self._every = every
        self._watchers: dict[str, set[asyncio.Queue[bytes]]] = defaultdict(set)
        self._history: dict[str, deque[tuple[float, int]]] = {}
        self._opens_at: dict[tuple[str, str], datetime | None] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, account_id: str) -> asyncio.Queue[bytes]:
        """A queue of this account's campaign frames (the newest only)."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(1)
        self._watchers[account_id].add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return queue

    def unwatch(self, account_id: str, queue: asyncio.Queue[bytes]) -> None:
        """Stop sending to `queue`."""
        self._watchers[account_id].discard(queue)
        if not self._watchers[account_id]:
            del self._watchers[account_id]

    def frame(self, account_id: str) -> CampaignsFrame:
        """One tick of one account: its query, then every live campaign's view."""
        lives = self._store.live(account_id)
        now, at = self._clock(), self._monotonic()
        views = []
        for live in lives:
            history = self._history.setdefault(live.id, deque())
            history.append((at, tally(live.by_status, live.skipped).done))
            while len(history) > 2 and at - history[1][0] >= RATE_WINDOW:
                history.popleft()
            views.append(campaign_view(live, now, history, self._opens_at))
        return {"type": "campaigns", "at": time.time(), "campaigns": views}

    def _forget(self, live_ids: set[str]) -> None:
        for gone in set(self._history) - live_ids:
            del self._history[gone]
        if len(self._opens_at) > 10_000:
            self._opens_at.clear()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._watchers:
            live_ids: set[str] = set()
            started = self._monotonic()
            for account_id in list(self._watchers):
                try:
                    body = await loop.run_in_executor(None, self.frame, account_id)
                except Exception:
                    log.exception("campaign progress failed")
                    continue
                live_ids.update(c["id"] for c in body["campaigns"])
                frame = orjson.dumps(body)
                for queue in list(self._watchers.get(account_id, ())):
                    if queue.full():
                        queue.get_nowait()
                    queue.put_nowait(frame)
            self._forget(live_ids)
            await asyncio.sleep(pause(self._every, self._monotonic() - started))

    async def close(self) -> None:
        """Stop the ticker."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
