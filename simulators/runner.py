"""Run a simulator in the foreground until SIGINT/SIGTERM, printing a rates line per second."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Callable

from simulators.scenario import Scenario
from simulators.server import Simulator

Stats = dict[str, dict[str, int]]
_RATE_COLUMNS = (("submits_accepted", "ok/s"), ("throttled", "thr/s"), ("receipts_sent", "dlr/s"))


def rates_line(before: Stats, after: Stats, seconds: float) -> str:
    """One line: per carrier, accepted / throttled / receipts per second, binds and backlog."""
    parts = []
    for name, now in after.items():
        then = before.get(name, {})
        rates = " ".join(
            f"{label} {(now[key] - then.get(key, 0)) / seconds:7.0f}"
            for key, label in _RATE_COLUMNS
        )
        parts.append(f"{name}: {rates} binds {now['binds']} pending {now['receipts_pending']}")
    return " | ".join(parts)


def listening_lines(simulator: Simulator) -> list[str]:
    """Where each carrier (and the control endpoint) listens."""
    lines = []
    for carrier in simulator.scenario.carriers:
        lines.append(
            f"{carrier.name}: smpp://{simulator.host}:{simulator.ports[carrier.name]}"
            f" system_id={carrier.system_id} mps={carrier.mps}"
        )
    if simulator.control_port is not None:
        lines.append(f"control: http://{simulator.host}:{simulator.control_port}/stats")
    return lines


async def serve(
    scenario: Scenario,
    echo: Callable[[str], None],
    *,
    host: str = "127.0.0.1",
    rates: bool = True,
    stop: asyncio.Event | None = None,
) -> Stats:
    """Start, report, and stop cleanly on SIGINT/SIGTERM (or `stop`); returns the final stats."""
    simulator = Simulator(scenario, host)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(signum, stop.set)
    await simulator.start()
    try:
        for line in listening_lines(simulator):
            echo(line)
        before, then = simulator.stats(), loop.time()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            if rates and not stop.is_set():
                now = loop.time()
                after = simulator.stats()
                echo(rates_line(before, after, now - then))
                before, then = after, now
    finally:
        await simulator.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
    final = simulator.stats()
    echo(json.dumps(final))
    return final
