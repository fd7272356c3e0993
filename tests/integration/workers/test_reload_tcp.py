"""A routes reload while messages flow reconciles the worker's carrier pool, over TCP to the
simulator: an added carrier takes traffic at once, a removed one drains and unbinds, nothing
fails and nothing is lost."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from store import MessageStore
from tests.integration.carriers.conftest import SimFactory, wait_until
from tests.integration.store.test_repository import NOW
from tests.integration.workers.carrier_stack import (
    context,
    queue_messages,
    routes_text,
    send_all,
    sim_carrier,
    worker_settings,
)
from workers.context import WorkerContext

COUNTS = [1000, pytest.param(5000, marks=pytest.mark.slow)]


def _reload_now(ctx: WorkerContext) -> frozenset[str]:
    """What `switchboard routes reload` makes happen: the watcher takes the changed file now
    (unless the sending thread's own once-a-second check took it first, a moment before);
    the carriers of the table in force after it."""
    ctx.routes.poll()
    return frozenset(ctx.routes.holder.current.carriers)


def _stop(flow: threading.Thread | None, ctx: WorkerContext) -> None:
    """After a failed assertion too: let the sending thread end before the context closes
    under it (its connections would be left open, and their ResourceWarning fails whichever
    later test the garbage collector runs in)."""
    if flow is not None and flow.is_alive():
        flow.join(timeout=60)
    ctx.close()


def _error_codes(store: MessageStore, ids: list[str]) -> dict[str, int]:
    """Error codes of every attempt of these messages, counted."""
    account = store.ensure_account("acme", NOW)
    codes: dict[str, int] = {}
    for view in store.read_messages([(account, i) for i in ids]):
        assert view is not None
        for attempt in view.attempts:
            if attempt.error_code:
                codes[attempt.error_code] = codes.get(attempt.error_code, 0) + 1
    return codes


@pytest.mark.parametrize("count", COUNTS)
def test_a_carrier_added_by_a_reload_takes_traffic_and_no_message_fails(
    start_sim: SimFactory, tmp_path: Path, database_url: str, redis_url: str, count: int
) -> None:
    sim = start_sim(sim_carrier("alpha", mps=100_000), sim_carrier("beta", mps=100_000))
    ports = sim.simulator.ports
    settings = worker_settings(tmp_path, database_url, redis_url)
    settings.routes_file.write_text(routes_text({"alpha": ports["alpha"]}, mps=1000))
    ctx = context(settings)
    flow: threading.Thread | None = None
    try:
        ids = queue_messages(ctx.store, "hello", count)
        flow = threading.Thread(target=send_all, args=(ctx, ids))
        flow.start()
        wait_until(lambda: sim.stats()["alpha"]["submits_accepted"] >= count // 3, timeout=30)
        # beta is cheaper: least_cost moves the rest of the traffic to it
        settings.routes_file.write_text(
            routes_text({"alpha": ports["alpha"], "beta": ports["beta"]}, mps=1000)
        )
        assert _reload_now(ctx) == {"alpha", "beta"}
        flow.join()
        wait_until(lambda: ctx.store.status_counts() == {"delivered": count}, timeout=30)
        alpha, beta = sim.stats()["alpha"], sim.stats()["beta"]
        print(
            f"reload adding beta, {count} messages: alpha {alpha['submits_accepted']}, "
            f"beta {beta['submits_accepted']}, throttled {alpha['throttled'] + beta['throttled']}"
        )
        assert beta["submits_accepted"] > 0
        assert alpha["submits_accepted"] + beta["submits_accepted"] == count
        assert _error_codes(ctx.store, ids) == {}
    finally:
        _stop(flow, ctx)


@pytest.mark.parametrize("count", COUNTS)
def test_a_carrier_removed_by_a_reload_drains_and_unbinds_and_nothing_is_lost(
    start_sim: SimFactory, tmp_path: Path, database_url: str, redis_url: str, count: int
) -> None:
    sim = start_sim(
        sim_carrier("alpha", mps=100_000),
        sim_carrier("beta", mps=100_000, submit_latency_ms=20),  # a window always in flight
    )
    ports = sim.simulator.ports
    settings = worker_settings(tmp_path, database_url, redis_url)
    settings.routes_file.write_text(
        routes_text({"alpha": ports["alpha"], "beta": ports["beta"]}, mps=1000)
    )
    ctx = context(settings)
    flow: threading.Thread | None = None
    try:
        ids = queue_messages(ctx.store, "hello", count)
        flow = threading.Thread(target=send_all, args=(ctx, ids))
        flow.start()
        wait_until(lambda: sim.stats()["beta"]["submits_accepted"] >= count // 3, timeout=30)
        settings.routes_file.write_text(routes_text({"alpha": ports["alpha"]}, mps=1000))
        assert _reload_now(ctx) == {"alpha"}
        flow.join()
        wait_until(lambda: sim.stats()["beta"]["binds"] == 0, timeout=15)
        wait_until(lambda: ctx.store.status_counts() == {"delivered": count}, timeout=30)
        alpha, beta = sim.stats()["alpha"], sim.stats()["beta"]
        codes = _error_codes(ctx.store, ids)
        pool = ctx.pool()
        print(
            f"reload removing beta, {count} messages: alpha {alpha['submits_accepted']}, "
            f"beta {beta['submits_accepted']}, failed over {codes}, drained {pool.drained}"
        )
        assert beta["receipts_pending"] == 0  # every receipt of beta's taken and acknowledged
        assert alpha["submits_accepted"] + beta["submits_accepted"] == count
        assert alpha["submits_accepted"] > 0
        assert set(codes) <= {"carrier_removed", "unbound"}
        assert pool.drained == 1 and "beta" not in pool.endpoints
    finally:
        _stop(flow, ctx)
