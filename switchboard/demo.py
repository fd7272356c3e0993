"""`switchboard demo`: the whole gateway on one machine, 1,000 messages, a report, all stopped."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from messaging import FINAL_STATUSES
from switchboard.load import generated_messages, percentile, send_all
from switchboard.settings import Settings
from switchboard.stack import Stack, stack_from_settings


def run_load(
    stack: Stack, count: int, timeout: float, console: Console, concurrency: int = 64
) -> dict[str, Any]:
    """Send `count` messages through the API and wait for final statuses; return the figures."""
    bodies = generated_messages(count)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        accepting = progress.add_task("accepted by the API", total=count)
        result = asyncio.run(
            send_all(
                stack.api_url,
                stack.api_key,
                bodies,
                concurrency,
                lambda: progress.advance(accepting),
            )
        )
        final_task = progress.add_task("in a final status", total=len(result.accepted))
        deadline = time.monotonic() + timeout
        done = 0
        while time.monotonic() < deadline:
            counts = stack.store.status_counts(result.accepted)
            done = sum(
                n for status, n in counts.items() if status in {s.value for s in FINAL_STATUSES}
            )
            progress.update(final_task, completed=done)
            if done >= len(result.accepted):
                break
            time.sleep(0.25)
    rows = stack.store.report(result.accepted)
    statuses = Counter(row[0] for row in rows)
    per_carrier = Counter(row[1] for row in rows if row[1])
    latencies = [
        (final - created).total_seconds()
        for status, _, created, final in rows
        if status == "delivered" and final
    ]
    first_accept = min((row[2] for row in rows), default=None)
    last_final = max((row[3] for row in rows if row[3]), default=None)
    span = (last_final - first_accept).total_seconds() if first_accept and last_final else 0.0
    try:
        sim = stack.simulator_stats()
        throttled = sum(int(c.get("throttled", 0)) for c in sim.values() if isinstance(c, dict))
    except OSError:
        throttled = -1
    final = sum(n for s, n in statuses.items() if s in {f.value for f in FINAL_STATUSES})
    return {
        "accepted": len(result.accepted),
        "rejected_by_api": result.rejected,
        "delivered": statuses.get("delivered", 0),
        "undelivered": statuses.get("undelivered", 0),
        "expired": statuses.get("expired", 0),
        "failed": statuses.get("failed", 0),
        "lost": len(result.accepted) - final,
        "per_carrier": dict(sorted(per_carrier.items())),
        "carrier_throttled": throttled,
        "api_accepted_per_s": round(result.accepted_per_second, 1),
        "end_to_end_msg_per_s": round(final / span, 1) if span else 0.0,
        "p50_accept_to_delivered_ms": _ms(percentile(latencies, 50)),
        "p99_accept_to_delivered_ms": _ms(percentile(latencies, 99)),
    }


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1000, 1) if seconds is not None else None


def summary_table(figures: dict[str, Any]) -> Table:
    """The demo's closing table."""
    table = Table(title="Switchboard demo", show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        shown = (
            ", ".join(f"{k}: {v}" for k, v in value.items())
            if isinstance(value, dict)
            else str(value)
        )
        table.add_row(key, shown)
    return table


def demo(
    messages: int = typer.Option(1000, help="messages to send"),
    timeout: float = typer.Option(120.0, help="seconds to wait for final statuses"),
    var_dir: Path | None = typer.Option(
        None, help="where the demo keeps its files (default var/demo)"
    ),
) -> None:
    """Start Redis, simulated carriers, Celery workers and the API; send; report; stop."""
    console = Console(stderr=True)
    settings = Settings()
    stack = stack_from_settings(settings, var_dir, supervised=True)
    console.print(
        f"[bold]Starting[/] embedded Redis, simulator and `switchboard run` in {stack.var_dir} …"
    )
    with stack:
        console.print(f"API on {stack.api_url}; sending {messages} messages")
        figures = run_load(stack, messages, timeout, console)
    console.print(summary_table(figures))
    print(json.dumps(figures))  # the last line: one JSON object
    if figures["lost"]:
        raise typer.Exit(1)
