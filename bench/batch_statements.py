"""The send path's batch statements alone on a throwaway PostgreSQL: client CPU per row.

`insert_messages`, `insert_attempts`, `insert_parts` and `update_outcomes` (store/batch_writes)
in `--batch`-row groups, `--rounds` times; then what psycopg costs to bind one 100-element array
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

from store import NewMessage, make_engine, new_id, upgrade
from store import batch_writes as bw
from switchboard.embedded import start_postgres


def _statements(conn: Connection, batch: int, rounds: int) -> dict[str, float]:
    now = datetime.now(UTC)
    total = dict.fromkeys(
        ("insert_messages", "insert_attempts", "insert_parts", "update_outcomes"), 0.0
    )
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
        with conn.begin():
            began = time.process_time()
            bw.insert_messages(conn, rows)
            total["insert_messages"] += time.process_time() - began
        with conn.begin():
            began = time.process_time()
            ids = bw.insert_attempts(conn, attempts, now)
            total["insert_attempts"] += time.process_time() - began
            parts = [
                bw.PartRow(i, m.id, "alpha", 1, f"{i:x}") for i, m in zip(ids, rows, strict=True)
            ]
            began = time.process_time()
            bw.insert_parts(conn, parts)
            total["insert_parts"] += time.process_time() - began
            began = time.process_time()
            bw.update_outcomes(conn, outcomes, now)
            total["update_outcomes"] += time.process_time() - began
    return {name: round(1e6 * seconds / (batch * rounds), 1) for name, seconds in total.items()}


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
        with engine.connect() as conn:
            per_row = _statements(conn, args.batch, args.rounds)
        engine.dispose()
        binding = _binding(url.replace("postgresql+psycopg", "postgresql"))
    finally:
        cluster.stop()
    for name, us in per_row.items():
        print(f"{name:18} {us:6.1f} µs of client CPU per row")
    for name, us in binding.items():
        print(f"bind {name:28} {us:6.1f} µs per execute")
    print(json.dumps({"client_us_per_row": per_row, "bind_us_per_execute": binding}))


if __name__ == "__main__":
    main()
