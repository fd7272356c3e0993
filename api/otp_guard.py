"""The SMS-pumping guard's I/O side: blocks cached per process, assessments after sends.

The decision itself is the pure `otp.pumping.assess`; this class only fetches the counts,
records a block, and keeps the block list a few seconds fresh in every API process.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime, timedelta

from otp import Block, PrefixStats, PumpingConfig, assess, windows
from store.otp_repository import BlockRecord, OtpStore

log = logging.getLogger(__name__)


class PumpingGuard:
    """Blocked prefixes cached per process (reloaded every few seconds) and assessed after sends."""

    def __init__(
        self, store: OtpStore, config: PumpingConfig, metrics: Counter[str], refresh_seconds: float
    ) -> None:
        self._store = store
        self._config = config
        self._metrics = metrics
        self._refresh_seconds = refresh_seconds
        self._blocks: dict[str, Block] = {}
        self._loaded_at = -1e18
        self._assessed_at: dict[str, float] = {}

    def _reload(self) -> None:
        records = self._store.blocks()
        self._blocks = {r.prefix: as_block(r) for r in records}
        self._loaded_at = time.monotonic()

    def blocked(self, prefix: str, now: datetime) -> Block | None:
        """The active block on `prefix`, if any (blocking I/O when the cache is stale)."""
        if time.monotonic() - self._loaded_at > self._refresh_seconds:
            self._reload()
        found = self._blocks.get(prefix)
        return found if found is not None and found.active(now) else None

    def assess_after_send(self, prefix: str, now: datetime) -> bool:
        """Assess `prefix` (at most every `evaluate_every` s per process); True if blocked."""
        config = self._config
        if not config.enabled:
            return False
        last = self._assessed_at.get(prefix)
        if last is not None and time.monotonic() - last < config.evaluate_every:
            return False
        self._assessed_at[prefix] = time.monotonic()
        previous = self._blocks.get(prefix)
        bounds = windows(now, config, previous.lifted_at if previous else None)
        counts = self._store.prefix_counts(
            prefix, bounds.recent_start, bounds.settled_before, bounds.baseline_start
        )
        stats = PrefixStats(
            counts.recent_sends, counts.baseline_sends, counts.settled, counts.approved
        )
        verdict = assess(stats, config)
        if not verdict.block:
            return False
        until = now + timedelta(seconds=config.block_seconds)
        if self._store.block(prefix, now, until, verdict.reason):
            self._metrics["otp_pumping_blocks_total"] += 1
            log.warning(
                "pumping guard blocked %s until %s: %s", prefix, until.isoformat(), verdict.reason
            )
        self._reload()
        return True

    def lift(self, prefix: str, now: datetime) -> bool:
        """Lift the block on `prefix`; True when one was active."""
        lifted = self._store.lift(prefix, now)
        self._reload()
        return lifted


def as_block(r: BlockRecord) -> Block:
    return Block(r.prefix, r.blocked_at, r.until, r.reason, r.lifted_at)
