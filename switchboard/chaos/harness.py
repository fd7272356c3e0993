"""Run one fault against a started Stack under load and measure what it cost.

N messages go through the API (`switchboard.load.send_all`, which survives the API dying);
after a warm-up one fault is injected and undone; then the run waits, generously, for every
row to be final and every receipt the carriers sent to be acknowledged, and compares the
database with the carriers' own books (`/stats`, the submit audit).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy import text

from messaging import FINAL_STATUSES
from simulators import load_scenario
from store import NewMessage, new_id
from switchboard.chaos.faults import RECOVERY_SIGNAL, Fault, FaultTarget, Injected, inject
from switchboard.chaos.measure import (
    FaultReport,
    Sample,
    all_final_at,
    bounded_by,
    rate_before,
    recovery_seconds,
)
from switchboard.load import LoadResult, generated_messages, send_all
from switchboard.stack import Stack
from switchboard.wiring import utcnow

FINAL = frozenset(s.value for s in FINAL_STATUSES)
T = TypeVar("T")


@dataclass(frozen=True)
class ChaosPlan:
    """How one fault run goes."""

    messages: int = 10_000
    concurrency: int = 32  # HTTP requests in flight
    warmup_share: float = 0.05  # inject once this share of messages reached a carrier
    settle_timeout_s: float = 180.0  # after the fault: > stuck_sending_after (60 s) + requeue
    sample_every_s: float = 0.25
    carrier: str = "alpha"  # the carrier a carrier fault hits
    probe_rows: int = 20  # beat_holder: rows committed without a task after the backlog drained
    seed: int = 16


@dataclass
class _Run:
    """What the threads of one run share."""

    stack: Stack
    started: float = field(default_factory=time.monotonic)
    answered: int = 0
    samples: list[Sample] = field(default_factory=list)
    load: LoadResult | None = None
    load_error: BaseException | None = None
    load_done: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def now(self) -> float:
        return time.monotonic() - self.started


AUDIT_SETTLE_S = 1.5  # > 2 x the simulator's audit flush interval


def _retrying(call: Callable[[], T], timeout: float = 30.0) -> T:
    """`call()`, tried again for `timeout` s while the database is coming back."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except Exception:  # a restarted database's stale pooled connections fail once each
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _sample(run: _Run) -> Sample:
    progress: dict[str, int] = {"answered": run.answered}
    try:
        stats = run.stack.simulator_stats()
        carriers = {k: v for k, v in stats.items() if isinstance(v, dict)}
        progress["submits"] = sum(int(c["submits_accepted"]) for c in carriers.values())
        for name, counters in carriers.items():
            progress[f"submits:{name}"] = int(counters["submits_accepted"])
    except OSError:
        pass
    try:
        counts = run.stack.store.status_counts()
    except Exception:  # the database is down (the postgres fault): the sample says so
        progress["final"] = run.samples[-1].progress.get("final", 0) if run.samples else 0
        return Sample(round(run.now(), 2), progress, None, None)
    progress["final"] = sum(n for status, n in counts.items() if status in FINAL)
    waiting = counts.get("queued", 0) + counts.get("sending", 0)
    return Sample(round(run.now(), 2), progress, waiting, counts.get("sent", 0))


def _sampler(run: _Run, every: float) -> None:
    while not run.stop.wait(every):
        run.samples.append(_sample(run))


def _load(run: _Run, plan: ChaosPlan) -> None:
    def answered() -> None:
        run.answered += 1

    try:
        run.load = asyncio.run(
            send_all(
                run.stack.api_url,
                run.stack.api_key,
                generated_messages(plan.messages, seed=plan.seed),
                plan.concurrency,
                answered,
            )
        )
    except BaseException as exc:  # reported by run_fault; the load must never hang the run
        run.load_error = exc


def _insert_probe(stack: Stack, count: int) -> int:
    """Commit `count` rows without a task, as a lost publish leaves them: only a sweeper can
    send these (ARCHITECTURE.md invariant 1, the outbox)."""
    owner = stack.store.key_owner(stack.api_key)
    assert owner is not None
    now = utcnow()
    rows = [
        NewMessage(
            id=new_id(),
            account_id=owner.account_id,
            to=f"+4474001{90000 + i:05d}",
            sender="Switchboard",
            body=f"Switchboard chaos probe {i}",
            message_class="transactional",
            encoding="gsm7",
            segments=1,
            callback_url=None,
            created_at=now,
            valid_until=now + timedelta(hours=1),
        )
        for i in range(count)
    ]
    stack.store.insert_messages(rows)
    return count


def read_audit(path: Path) -> set[tuple[str, str]]:
    """(carrier, message id) of every submit_sm a carrier accepted (the simulator's audit)."""
    if not path.exists():
        return set()
    with path.open(encoding="utf-8") as lines:
        return {
            (entry["carrier"], str(entry["message_id"]).lower()) for entry in map(json.loads, lines)
        }


def phantom_delivered(stack: Stack, audit: set[tuple[str, str]]) -> int:
    """Messages `delivered` in the database none of whose delivered parts a carrier accepted.

    A read-only check of the books against the carriers', kept here with the harness rather
    than in the product's repository.
    """
    query = text(
        "SELECT m.id, p.carrier, p.carrier_message_id FROM messages m "
        "LEFT JOIN parts p ON p.message_id = m.id AND p.receipt_state = 'delivered' "
        "WHERE m.status = 'delivered'"
    )
    backed: dict[str, bool] = {}
    with stack.store.engine.connect() as conn:
        for message_id, carrier, carrier_message_id in conn.execute(query):
            seen = carrier is not None and (carrier, str(carrier_message_id).lower()) in audit
            backed[message_id] = backed.get(message_id, False) or seen
    return sum(1 for ok in backed.values() if not ok)


def _sending_now(stack: Stack) -> list[str]:
    """Ids of the rows in `sending` (a worker has them in hand)."""
    query = text("SELECT id FROM messages WHERE status = 'sending'")
    with stack.store.engine.connect() as conn:
        return [str(row[0]) for row in conn.execute(query)]


def _final_after(stack: Stack, ids: list[str], since: datetime) -> float | None:
    """Seconds from `since` until the last of `ids` became final; None if one never did."""
    rows = stack.store.report(ids)
    if any(status not in FINAL or final_at is None for status, _, _, final_at in rows):
        return None
    last = max((final_at for _, _, _, final_at in rows if final_at is not None), default=since)
    return round(max(0.0, (last - since).total_seconds()), 2)


def _waiting(run: _Run) -> int | None:
    return run.samples[-1].waiting if run.samples else None


def _submits(run: _Run) -> int:
    return run.samples[-1].progress.get("submits", 0) if run.samples else 0


def _settled(run: _Run, since: float) -> bool:
    last = run.samples[-1] if run.samples else None
    if last is None or last.t <= since or last.waiting != 0 or last.sent != 0:
        return False
    carriers = [v for v in run.stack.simulator_stats().values() if isinstance(v, dict)]
    return all(int(c["receipts_pending"]) == 0 for c in carriers)


def run_fault(
    stack: Stack, fault: Fault, plan: ChaosPlan, target: FaultTarget | None = None
) -> FaultReport:
    """Send `plan.messages` through `stack` while `fault` strikes once; measure it.

    The stack should be fresh (counters, audit and database are read whole).
    """
    target = target or FaultTarget(stack, carrier=plan.carrier)
    run = _Run(stack)
    threads = [
        threading.Thread(target=_sampler, args=(run, plan.sample_every_s), daemon=True),
        threading.Thread(target=_load, args=(run, plan), daemon=True),
    ]
    for thread in threads:
        thread.start()
    warm = max(20, int(plan.messages * plan.warmup_share))
    while run.now() < 120 and _submits(run) < warm:  # traffic flows: now strike
        time.sleep(0.05)
    in_flight = _retrying(lambda: _sending_now(stack))
    injected: Injected = inject(fault, target)
    ended_at = utcnow()
    fault_start, fault_end = injected.started - run.started, injected.ended - run.started
    threads[1].join()
    run.load_done = run.now()
    probe = 0
    if fault is Fault.BEAT_HOLDER:
        # Once the backlog drained: a running send task tops its batch up with queued rows of
        # its class, so only now is a sweeper the one thing that can send these.
        drained = time.monotonic() + plan.settle_timeout_s
        while time.monotonic() < drained and _waiting(run) != 0:
            time.sleep(0.25)
        probe = _insert_probe(stack, plan.probe_rows)
    settle_from = run.now()  # a sample from before the probe rows would read them as done
    deadline = time.monotonic() + plan.settle_timeout_s
    while time.monotonic() < deadline and not _settled(run, settle_from):
        time.sleep(0.5)
    run.stop.set()
    threads[0].join()
    run.samples.append(_retrying(lambda: _sample(run)))
    resolved = _retrying(lambda: _final_after(stack, in_flight, ended_at))
    figures = _report(run, fault, plan, target, (fault_start, fault_end), len(in_flight), probe)
    return replace(
        figures,
        in_flight_final_s=resolved,
        bounded_by=f"{bounded_by(figures, run.samples, fault_start)}; fault: {injected.detail}",
    )


def _report(
    run: _Run,
    fault: Fault,
    plan: ChaosPlan,
    target: FaultTarget,
    window: tuple[float, float],
    in_flight: int,
    probe: int,
) -> FaultReport:
    stack = run.stack
    if run.load is None:
        raise RuntimeError(f"the load generator failed: {run.load_error!r}")
    load = run.load
    accepted = load.accepted
    counts = _retrying(lambda: stack.store.status_counts(accepted))
    everything = _retrying(stack.store.status_counts)
    final = sum(n for status, n in counts.items() if status in FINAL)
    stats = {k: v for k, v in stack.simulator_stats().items() if isinstance(v, dict)}
    pending = sum(int(c["receipts_pending"]) for c in stats.values())
    sent_left = everything.get("sent", 0)
    stuck = everything.get("queued", 0) + everything.get("sending", 0)
    stuck += min(sent_left, pending)
    scenario = load_scenario(stack.simulator_file)
    # The simulator flushes its audit every 0.5 s: a submit made just before the last final
    # status may not be on disk yet (it read as a phantom delivery, 10 in 400 once).
    time.sleep(AUDIT_SETTLE_S)
    audit = read_audit(Path(scenario.audit_path)) if scenario.audit_path else set()
    fault_start, fault_end = window
    signal = RECOVERY_SIGNAL.get(fault, "submits").format(carrier=target.carrier)
    done_at = all_final_at(run.samples, since=max(run.load_done, fault_end))
    return FaultReport(
        fault=fault.value,
        database=stack.store.engine.dialect.name,
        messages=plan.messages,
        accepted=len(accepted),
        final=final,
        lost=len(accepted) - final,
        stuck=stuck,
        duplicates=sum(int(c["duplicates_seen"]) for c in stats.values()),
        in_flight_at_fault=in_flight,
        in_flight_final_s=None,
        phantom_delivered=_retrying(lambda: phantom_delivered(stack, audit)),
        recovery_s=recovery_seconds(run.samples, fault_end, signal),
        fault_s=round(fault_end - fault_start, 2),
        time_to_all_final_s=done_at,
        all_final_after_fault_s=round(done_at - fault_start, 2) if done_at is not None else None,
        http_500=load.statuses.get(500, 0),
        api_errors={str(k): v for k, v in sorted(load.statuses.items())},
        connection_errors=load.connection_errors,
        connection_lost=load.connection_lost,
        unacknowledged_rows=sum(everything.values()) - len(accepted) - probe,
        submit_rate_before_fault=round(rate_before(run.samples, fault_start), 1),
        carriers_ceiling=sum(c.mps for c in scenario.carriers),
        statuses=dict(sorted(everything.items())),
        receipts_pending=pending,
        probe_rows=probe,
    )
