"""What each carrier showed of how it reports concatenated messages, learnt and shared in Redis.

A carrier whose `segment_receipts` is `"auto"` either sends a receipt per segment or one per
message (for its first or its last segment). The receipt path and the sweep report evidence
per multipart attempt (`ReceiptBatchResult.segment_evidence`): `"each"` when two or more of
its segments got a receipt, `"one"` when exactly one did — its first or last — and no other
came within the sweep's grace. After `LEARN_AFTER` one-receipt messages in a row the carrier
is taken to send one per message: from then on the first receipt of an attempt settles every
part (as with `segment_receipts = "one"`), without the grace. A single message whose segments
got two receipts turns that back (a carrier that changed, or that lost receipts for a while).

Counters live in one Redis hash per carrier (`sb:segment-receipts:<carrier>`, kept
`EVIDENCE_TTL` after the last evidence), so every worker reads what any of them learnt.
Fails OPEN: Redis down means nothing learnt (receipts wait for every segment, and the sweep
settles on what came, as before) — counted and logged, never raised.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import redis

log = logging.getLogger(__name__)

LEARN_AFTER = 3  # one-receipt multipart messages in a row before one receipt settles a message
EVIDENCE_TTL = 7 * 24 * 3600  # seconds a carrier's evidence is kept after the last of it

Evidence = tuple[str, str]  # (carrier, "each" | "one")


@dataclass(frozen=True)
class SegmentLearning:
    """What one carrier showed: multipart messages with one receipt, with two or more, and
    the one-receipt ones since the last with two."""

    one: int = 0
    each: int = 0
    streak: int = 0

    @property
    def one_per_message(self) -> bool:
        """Learnt: the carrier sends one receipt per concatenated message."""
        return self.streak >= LEARN_AFTER

    def describe(self) -> str:
        """One line for `routes explain --live`."""
        if self.one_per_message:
            verdict = "one receipt per message (the first settles it)"
        elif self.one or self.each:
            verdict = "a receipt per segment (waits for every one)"
        else:
            verdict = "nothing yet (waits for every segment's receipt)"
        return f"{verdict}; seen {self.one} with one receipt, {self.each} with several"


def learn(state: SegmentLearning, ones: int, eaches: int) -> SegmentLearning:
    """`state` after one report of `ones` one-receipt and `eaches` several-receipt messages
    (a report is one batch or one sweep: its order says nothing; several receipts win)."""
    streak = 0 if eaches else state.streak + ones
    return replace(state, one=state.one + ones, each=state.each + eaches, streak=streak)


def _tally(evidence: Iterable[Evidence]) -> dict[str, tuple[int, int]]:
    counts = Counter(evidence)
    carriers = {carrier for carrier, _ in counts}
    return {c: (counts[(c, "one")], counts[(c, "each")]) for c in carriers}


class SegmentLearner(Protocol):
    """Per-carrier evidence of how concatenated messages are reported, shared by the cluster."""

    def record(self, evidence: Sequence[Evidence]) -> None:
        """Add one report's evidence (never raises)."""
        ...

    def learnt(self, carriers: Iterable[str]) -> dict[str, SegmentLearning]:
        """What each carrier showed so far (nothing when unreadable)."""
        ...


class RedisSegmentLearner:
    """SegmentLearner on one Redis hash per carrier. Fails open (see the module)."""

    def __init__(self, client: redis.Redis, prefix: str = "sb:segment-receipts:") -> None:
        self._client = client
        self._prefix = prefix
        self.failures = 0

    def record(self, evidence: Sequence[Evidence]) -> None:
        """HINCRBY the counters; several receipts zero the streak. A Redis error is logged."""
        if not evidence:
            return
        try:
            pipe = self._client.pipeline(transaction=True)  # a report lands whole
            for carrier, (ones, eaches) in _tally(evidence).items():
                key = self._prefix + carrier
                pipe.hincrby(key, "one", ones)
                pipe.hincrby(key, "each", eaches)
                if eaches:
                    pipe.hset(key, "streak", 0)
                else:
                    pipe.hincrby(key, "streak", ones)
                pipe.expire(key, EVIDENCE_TTL)
            pipe.execute()
        except redis.RedisError as exc:
            self.failures += 1
            log.warning("segment receipt evidence not recorded (Redis unavailable): %s", exc)

    def learnt(self, carriers: Iterable[str]) -> dict[str, SegmentLearning]:
        """Every carrier's counters in one pipeline; none when Redis cannot be read."""
        names = list(carriers)
        try:
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.hmget(self._prefix + name, "one", "each", "streak")
            rows = pipe.execute()
        except redis.RedisError as exc:
            self.failures += 1
            log.warning("segment receipt evidence unreadable (Redis unavailable): %s", exc)
            return {}
        return {
            name: SegmentLearning(*(int(v or 0) for v in row))
            for name, row in zip(names, rows, strict=True)
        }


class MemorySegmentLearner:
    """In-process twin of :class:`RedisSegmentLearner`, for unit tests."""

    def __init__(self) -> None:
        self._states: dict[str, SegmentLearning] = {}
        self._lock = threading.Lock()

    def record(self, evidence: Sequence[Evidence]) -> None:
        """Add one report's evidence."""
        with self._lock:
            for carrier, (ones, eaches) in _tally(evidence).items():
                state = self._states.get(carrier, SegmentLearning())
                self._states[carrier] = learn(state, ones, eaches)

    def learnt(self, carriers: Iterable[str]) -> dict[str, SegmentLearning]:
        """What each carrier showed so far."""
        with self._lock:
            return {c: self._states.get(c, SegmentLearning()) for c in carriers}
