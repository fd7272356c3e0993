"""Callback dispatcher alone: N events through the real HttpDispatcher to a receiver on
127.0.0.1 (a separate process, so its CPU is not counted), one POST per event and batched.

Prints callbacks/s and the dispatcher process's CPU ms per callback; the last line is JSON.
No database: the events are made in memory, as a task would have claimed them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from messaging import CallbackEvent, CallbackPolicy, parse_networks
from store import PendingCallback
from switchboard.embedded import free_port
from workers.callback_dispatcher import HttpDispatcher

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TASK_EVENTS = 500  # events per deliver() call, as one hand-off task
TASK_THREADS = 4  # concurrent tasks, as the callbacks worker's threads


def _serve(port: int) -> None:
    from aiohttp import web

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("receiver did not start")


def _events(count: int, url: str, batch: bool) -> list[PendingCallback]:
    return [
        PendingCallback(
            n,
            url,
            batch,
            1,
            T0,
            CallbackEvent(
                f"m{n:08d}",
                "delivered",
                None,
                "alpha",
                1,
                Decimal("0.030000"),
                "EUR",
                "+447911123456",
                T0,
                T0,
                T0,
                T0,
            ),
        )
        for n in range(count)
    ]


def _run(events: list[PendingCallback], args: argparse.Namespace) -> dict[str, Any]:
    dispatcher = HttpDispatcher(
        "bench-secret",
        per_host=args.per_host,
        total=args.total,
        batch_wait=0.1,
        policy=CallbackPolicy(parse_networks("127.0.0.1/32")),  # the receiver is on this host
    )
    try:
        dispatcher.deliver(events[:50], deadline=30)  # connections warm
        dispatcher.stats.posts = dispatcher.stats.events = 0
        tasks = [events[i : i + TASK_EVENTS] for i in range(0, len(events), TASK_EVENTS)]
        cpu, wall = time.process_time(), time.perf_counter()
        with ThreadPoolExecutor(TASK_THREADS) as pool:
            reports = list(pool.map(lambda t: dispatcher.deliver(t, deadline=100), tasks))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        failed = sum(len(r.failed) for r in reports)
        posts = dispatcher.stats.posts
    finally:
        dispatcher.close()
    return {
        "events": len(events),
        "posts": posts,
        "failed": failed,
        "seconds": round(wall, 3),
        "callbacks_per_s": round(len(events) / wall),
        "cpu_ms_per_callback": round(1000 * cpu / len(events), 4),
    }


def main() -> None:
    """Run the bench and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--per-host", type=int, default=16)
    parser.add_argument("--total", type=int, default=64)
    args = parser.parse_args()
    port = free_port()
    receiver = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
    receiver.start()
    try:
        _wait_for(port)
        url = f"http://127.0.0.1:{port}/hook"
        single = _run(_events(args.events, url, batch=False), args)
        print(f"one event per POST: {single}")
        batched = _run(_events(args.events, url, batch=True), args)
        print(f"batched (callback_batch): {batched}")
    finally:
        receiver.terminate()
        receiver.join(5)
    print(
        json.dumps(
            {
                "callbacks_per_s": single["callbacks_per_s"],
                "cpu_ms_per_callback": single["cpu_ms_per_callback"],
                "batched_callbacks_per_s": batched["callbacks_per_s"],
                "batched_cpu_ms_per_callback": batched["cpu_ms_per_callback"],
                "per_host": args.per_host,
                "events": args.events,
                "lost": single["failed"] + batched["failed"],
            }
        )
    )


if __name__ == "__main__":
    main()
