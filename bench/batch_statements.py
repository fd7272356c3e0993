"""The send path's batch statements alone on a throwaway PostgreSQL: client and server CPU per row.

`insert_messages`, `insert_attempts`, `insert_parts`, `update_outcomes` (store/batch_writes) and
the `sent` callback events (`store.callback_outbox.add_events`) in `--batch`-row groups,
`--rounds` times; then what psycopg costs to bind one 100-element array
as a Python list against the same array as one literal (store/pg_arrays). Prints µs of this
process's CPU per row (per execute for the binding figures); the last line is JSON. To compare
commits, run it from each one's tree with `PYTHONPATH` set to that tree.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse

import psycopg
from sqlalchemy import Connection, text

from bench.cpu import cpu_seconds, postmaster_pid
from store import NewMessage, StatusChange, make_engine, new_id, upgrade
from store import batch_writes as bw
from store.callback_outbox import add_events
from switchboard.embedded import start_postgres

STEPS = ("insert_messages", "insert_attempts", "insert_parts", "update_outcomes", "add_events")


def _statements(
    conn: Connection, batch: int, rounds: int, server: dict[int, str]
) -> tuple[dict[str, float], dict[str, float]]:
    """µs of this process's and of PostgreSQL's CPU per row, by step."""
    now = datetime.now(UTC)
    client = dict.fromkeys(STEPS, 0.0)
    backend = dict.fromkeys(STEPS, 0.0)

    def timed(step: str, run: Any, *args: Any) -> Any:
        pg, began = cpu_seconds(server)["pg"], time.process_time()
        result = run(conn, *args)
        client[step] += time.process_time() - began
        backend[step] += cpu_seconds(server)["pg"] - pg
        return result

    for _ in range(rounds):
        rows = [
            NewMessage(
                new_id(),
                "a",
                "+447700900123",
                "Acme",
                "hello there",
                "marketing",
                "gsm7",
                1,
                "http://127.0.0.1:9/h",
                now,
                now + timedelta(hours=1),
            )
            for _ in range(batch)
        ]
        attempts = [
            bw.AttemptRow(m.id, 1, "alpha", "r", Decimal("0.0125"), "EUR", "accepted", None)
            for m in rows
        ]
        outcomes = [bw.OutcomeRow(m.id, "sent", None, 1, now, None, None) for m in rows]
        changes = [StatusChange(m.id, "sent", m.callback_url, "a", None, "alpha") for m in rows]
        with conn.begin():
            timed("insert_messages", bw.insert_messages, rows)
        with conn.begin():
            ids = timed("insert_attempts", bw.insert_attempts, attempts, now)
            parts = [
                bw.PartRow(i, m.id, "alpha", 1, f"{i:x}") for i, m in zip(ids, rows, strict=True)
            ]
            timed("insert_parts", bw.insert_parts, parts)
            timed("update_outcomes", bw.update_outcomes, outcomes, now)
            # update_outcomes moves only rows a claim holds (`sending`); these were never
            # claimed, so make them `sent` as the outcome would have (not timed)
            conn.execute(
                text("UPDATE messages SET status = 'sent' WHERE id = ANY(:ids)"),
                {"ids": [m.id for m in rows]},
            )
            written = timed("add_events", add_events, changes, now)
            assert all(c.callback is not None for c in written), "an event was not written"
    per_row = batch * rounds
    return (
        {name: round(1e6 * seconds / per_row, 1) for name, seconds in client.items()},
        {name: round(1e6 * seconds / per_row, 1) for name, seconds in backend.items()},
    )


def _binding(url: str, executes: int = 2000) -> dict[str, float]:
    ids = [f"{i:032x}" for i in range(100)]
    cases: list[tuple[str, str, Any]] = [
        ("list of 100 strings", "SELECT cardinality(%s::varchar[])", [ids]),
        ("one literal of 100 strings", "SELECT cardinality(%s::varchar[])", [_literal(ids)]),
        ("list of 100 ints", "SELECT cardinality(%s::int[])", [list(range(100))]),
        (
            "list of 100 datetimes",
            "SELECT cardinality(%s::timestamp[])",
            [[datetime(2026, 1, 1)] * 100],
        ),
        ("no parameter", "SELECT 1", None),
    ]
    out: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        for name, query, params in cases:
            for _ in range(100):  # prepared after five, warm
                cursor.execute(query, params)
            began = time.process_time()
            for _ in range(executes):
                cursor.execute(query, params)
            out[name] = round(1e6 * (time.process_time() - began) / executes, 1)
    return out


def _literal(values: list[str]) -> str:
    return "{" + ",".join(f'"{v}"' for v in values) + "}"


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=60, help="rows per statement")
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    cluster = start_postgres()
    try:
        url = cluster.create_database("batchbench")
        upgrade(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO accounts (id, name, created_at) VALUES ('a', 'a', now())")
            )
        server = {postmaster_pid(cluster.directory / "data"): "pg"}
        with engine.connect() as conn:
            per_row, server_per_row = _statements(conn, args.batch, args.rounds, server)
        engine.dispose()
        binding = _binding(url.replace("postgresql+psycopg", "postgresql"))
    finally:
        cluster.stop()
    for name, us in per_row.items():
        print(
            f"{name:18} {us:6.1f} µs of client CPU, {server_per_row[name]:6.1f} of server, per row"
        )
    for name, us in binding.items():
        print(f"bind {name:28} {us:6.1f} µs per execute")
    print(
        json.dumps(
            {
                "client_us_per_row": per_row,
                "server_us_per_row": server_per_row,
                "bind_us_per_execute": binding,
            }
        )
    )


if __name__ == "__main__":
    main()
