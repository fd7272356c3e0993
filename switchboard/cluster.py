"""The cluster's live state in Redis: every `switchboard run` registers itself; `status` reads.

A run writes `switchboard:run:<host>:<pid>` (JSON: its children, their pids and restarts)
every `HEARTBEAT_SECONDS`, with a TTL of `REGISTRY_TTL`: a host that dies drops out of the
status within seconds. `read_cluster` adds what the workers write themselves — the sweeper
lock (`workers.leader`) and the binds per carrier (`workers.bind_report`) — and the depth of
every Celery queue. Writes fail open (a log line per outage): the registry is a report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import redis

from workers import (
    CALLBACKS_QUEUE,
    CLASS_QUEUES,
    RECEIPTS_QUEUE,
    FailOpenWrites,
    RedisSweeperLock,
    SweeperStatus,
    read_binds,
)

log = logging.getLogger(__name__)

RUN_PREFIX = "switchboard:run:"
HEARTBEAT_SECONDS = 2.0
REGISTRY_TTL = 10  # seconds: five missed heartbeats
QUEUES = (*CLASS_QUEUES, RECEIPTS_QUEUE, CALLBACKS_QUEUE)
# kombu's Redis transport keeps a queue's messages of priority > 0 in lists of their own
# (`<queue>\x06\x16<priority>`, the default priority steps 0, 3, 6, 9).
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


@dataclass(frozen=True)
class ChildState:
    """One supervised child as the registry shows it."""

    name: str
    role: str
    pid: int | None
    restarts: int
    alive: bool


@dataclass(frozen=True)
class RunRecord:
    """One `switchboard run` (one host, usually)."""

    host: str
    pid: int
    since: str
    beat: bool
    children: tuple[ChildState, ...] = ()
    state: str = "running"  # or "draining"

    def encode(self) -> str:
        """The registry value."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, raw: bytes | str) -> RunRecord | None:
        """A record from the registry (None if unreadable: another version, say)."""
        try:
            data = json.loads(raw)
            children = tuple(ChildState(**c) for c in data.pop("children", ()))
            return cls(**data, children=children)
        except (ValueError, TypeError):
            return None

    @property
    def key(self) -> str:
        """Its registry key."""
        return f"{RUN_PREFIX}{self.host}:{self.pid}"


class RunRegistry:
    """Writes this run's record; every call fails open."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.writes = FailOpenWrites("run registry", "status will miss this host")

    def write(self, record: RunRecord) -> None:
        """Register (again) for `REGISTRY_TTL` seconds."""
        self.writes.attempt(lambda: self.client.set(record.key, record.encode(), ex=REGISTRY_TTL))

    def remove(self, record: RunRecord) -> None:
        """Leave the registry (on a clean stop)."""
        self.writes.attempt(lambda: self.client.delete(record.key))


@dataclass(frozen=True)
class ClusterState:
    """What `switchboard status` prints."""

    runs: tuple[RunRecord, ...]
    sweeper: SweeperStatus
    binds: dict[str, list[str]]
    queues: dict[str, int]
    unacked: int

    def beat_run(self) -> RunRecord | None:
        """The run whose child holds the sweeper lock, if a registered one does."""
        holder = self.sweeper.holder
        if holder is None:
            return None
        for run in self.runs:
            if run.host == holder.host and any(c.pid == holder.pid for c in run.children):
                return run
        return None

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready view (`switchboard status --json`)."""
        holder = self.sweeper.holder
        return {
            "runs": [asdict(r) for r in self.runs],
            "sweeper": {
                "holder": None if holder is None else {"host": holder.host, "pid": holder.pid},
                "since": None if holder is None else holder.since,
                "ttl_ms": self.sweeper.ttl_ms,
                "last_sweep": self.sweeper.last_sweep,
            },
            "binds": self.binds,
            "queues": self.queues,
            "unacked": self.unacked,
        }

    def describe(self) -> str:
        """Lines for an operator."""
        lines = []
        beat = self.beat_run()
        if not self.runs:
            lines.append("hosts: no `switchboard run` registered (processes started by hand)")
        for run in self.runs:
            role = (
                "beat: holds the sweeper lock"
                if run is beat
                else ("beat: standby" if run.beat else "beat: off")
            )
            lines.append(f"{run.host} run pid {run.pid} since {run.since} ({run.state}; {role})")
            for c in run.children:
                shown = "down" if not c.alive else f"pid {c.pid}"
                lines.append(f"  {c.name:<22} {shown:<12} restarts {c.restarts}")
        lines.append(self.sweeper.describe())
        if self.binds:
            lines.append("binds per carrier:")
            for carrier, holders in self.binds.items():
                held_by = f" ({', '.join(holders)})" if holders else ""
                lines.append(f"  {carrier}: {len(holders)}{held_by}")
        else:
            lines.append("binds per carrier: none reported")
        depths = ", ".join(f"{q} {n}" for q, n in self.queues.items())
        lines.append(f"queues: {depths}; reserved by workers: {self.unacked}")
        return "\n".join(lines)


def queue_depths(client: redis.Redis) -> dict[str, int]:
    """Messages waiting in each Celery queue (every priority list of it)."""
    pipe = client.pipeline(transaction=False)
    for queue in QUEUES:
        for suffix in _PRIORITY_SUFFIXES:
            pipe.llen(queue + suffix)
    counts = pipe.execute()
    step = len(_PRIORITY_SUFFIXES)
    return {q: sum(int(n) for n in counts[i * step : (i + 1) * step]) for i, q in enumerate(QUEUES)}


def read_runs(client: redis.Redis) -> tuple[RunRecord, ...]:
    """Every registered run, by host and pid."""
    keys = sorted(client.scan_iter(match=RUN_PREFIX + "*", count=100))
    values = client.mget(keys) if keys else []
    records = [RunRecord.decode(v) for v in values if v]
    return tuple(sorted((r for r in records if r), key=lambda r: (r.host, r.pid)))


def read_cluster(client: redis.Redis, carriers: Iterable[str] = ()) -> ClusterState:
    """The whole live state, read from Redis (raises RedisError if it cannot be read);
    `carriers` (of the routes file) are shown with their binds even when they have none."""
    binds: dict[str, list[str]] = {name: [] for name in carriers} | read_binds(client)
    return ClusterState(
        runs=read_runs(client),
        sweeper=RedisSweeperLock(client).status(),
        binds=dict(sorted(binds.items())),
        queues=queue_depths(client),
        unacked=int(client.hlen("unacked")),
    )
