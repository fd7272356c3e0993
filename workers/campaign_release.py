"""The campaign release: one slice of scheduled campaign messages made `queued`, then enqueued.

Run by the elected sweeper on each sweep (`workers.sweeping.sweep_once`), so schedules,
quiet-hour deferrals and pacing live in the database — never as Celery ETAs, which a broker
loses or replays past its visibility timeout. Each slice: the marketing backlog is topped up
to what the carriers can send in `lookahead` seconds (`campaigns.slice_budget`), shared
fairly between running campaigns (`campaigns.fair_share`) within each one's max rate (paced
from a mark that moves by what was released, `campaigns.advance_mark`, so rounding and short
slices do not lose rate); each campaign releases only recipients whose local window is open
now (`campaigns.is_open`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol

from sqlalchemy import Engine

from campaigns import (
    CarrierCapacity,
    SendWindow,
    advance_mark,
    fair_share,
    is_open,
    rate_allowance,
    slice_budget,
    zones_of_key,
)
from messaging import MessageClass
from routing import RoutesWatcher, RoutingTable
from store import CampaignRecord, CampaignStore
from workers.config import WorkerSettings

log = logging.getLogger(__name__)


class ReleaseOutbox(Protocol):
    """Where released ids go: send tasks on the queue of their class."""

    def enqueue(self, message_class: str, ids: Sequence[str]) -> None:
        """Send tasks for these ids."""
        ...


DEFAULT_LOOKAHEAD = 4.0  # seconds of carrier capacity the marketing queue may hold (>= 2 slices)


@dataclass(frozen=True)
class ReleaseCounts:
    """What one slice did."""

    campaigns: int = 0
    budget: int = 0
    queued: int = 0
    opted_out: int = 0
    completed: int = 0


def capacities_of(table: RoutingTable) -> dict[str, CarrierCapacity]:
    """The marketing throughput of each carrier a marketing message may be routed to (a route
    for any class or for marketing lists it), from the routes file in force. A carrier only
    OTP routes reach is not counted: its MPS would lengthen the marketing queue by what no
    campaign message can use."""
    reachable = {
        carrier
        for route in table.routes
        if route.match.message_class in (None, MessageClass.MARKETING)
        for carrier in route.carriers
    }
    return {
        name: CarrierCapacity(spec.mps)
        for name, spec in table.carriers.items()
        if name in reachable
    }


def open_zones(campaign: CampaignRecord, now: datetime) -> list[str]:
    """The campaign's zone keys whose send window is open now (all of them without a window)."""
    window = SendWindow.parse(campaign.send_window) if campaign.send_window else None
    return [key for key in campaign.zones if is_open(window, zones_of_key(key), now)]


def release_slice(
    store: CampaignStore,
    outbox: ReleaseOutbox,
    capacities: Callable[[], Mapping[str, CarrierCapacity]],
    now: datetime,
    slice_seconds: float,
    lookahead: float = DEFAULT_LOOKAHEAD,
) -> ReleaseCounts:
    """Release one slice of every running campaign and enqueue what became `queued`."""
    running = store.running(now)
    if not running:
        return ReleaseCounts()
    budget = slice_budget(capacities(), store.marketing_backlog(now), lookahead, slice_seconds)
    zones = {c.id: open_zones(c, now) for c in running}
    demands: dict[str, int] = {}
    for c in running:
        allowance = rate_allowance(c.max_rate, c.last_release_at, now, slice_seconds)
        left = max(0, c.recipients - c.released)
        demands[c.id] = min(budget, left) if allowance is None else min(budget, left, allowance)
        if not zones[c.id]:
            demands[c.id] = 0
    shares = fair_share(budget, demands)
    queued = opted_out = completed = 0
    for c in running:
        released = store.release(
            c.id,
            zones[c.id],
            shares[c.id],
            now,
            partial(
                advance_mark, c.max_rate, c.last_release_at, now=now, slice_seconds=slice_seconds
            ),
        )
        if released.queued:
            outbox.enqueue(MessageClass.MARKETING.value, list(released.queued))
        queued += len(released.queued)
        opted_out += len(released.opted_out)
        completed += released.completed
    if queued or completed:
        log.info("campaign release: %d queued, %d opted out, %d done", queued, opted_out, completed)
    return ReleaseCounts(len(running), budget, queued, opted_out, completed)


def campaign_releaser(
    engine: Engine, settings: WorkerSettings, outbox: ReleaseOutbox
) -> Callable[[datetime], dict[str, int]]:
    """What the sweeper calls each sweep: one release slice over `engine`, with the carriers'
    capacity from the routes file in force (re-read when it changes)."""
    watcher = RoutesWatcher(settings.routes_file, time.monotonic)
    store = CampaignStore(engine)

    def release(now: datetime) -> dict[str, int]:
        counts = release_slice(
            store, outbox, lambda: capacities_of(watcher.current()), now, settings.sweep_interval
        )
        return dict(vars(counts))

    return release
