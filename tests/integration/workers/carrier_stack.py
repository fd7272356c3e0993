"""A send worker's real parts in the test process: WorkerContext over the simulator (TCP),
real Redis, the backend-parametrised database. For tests of the carrier side of a worker."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from messaging import segment
from simulators import CarrierSim
from store import MessageStore, NewMessage, new_id
from switchboard.settings import Settings
from tests.integration.carriers.conftest import carrier
from tests.integration.store.test_repository import NOW
from workers.context import WorkerContext

CARRIER = """
[carriers.{name}]
host = "127.0.0.1"
port = {port}
system_id = "{name}"
password = "{name}pw"
mps = {mps}
window = {window}
{extra}
"""
PRICES = """
[prices.{name}]
currency = "EUR"
"+44" = {price}
"""
ROUTE = """
[[routes]]
name = "default"
strategy = "least_cost"
carriers = {carriers}
"""


def routes_text(
    carriers: dict[str, int], extra: str = "", mps: int = 1000, window: int = 10
) -> str:
    """A routes file of these carriers (name → simulator port), each cheaper than the one
    before it (the last listed takes least-cost traffic)."""
    parts = [
        CARRIER.format(name=n, port=p, mps=mps, window=window, extra=extra)
        for n, p in carriers.items()
    ]
    parts += [PRICES.format(name=n, price=f"0.0{9 - i}") for i, n in enumerate(carriers)]
    parts.append(ROUTE.format(carriers=str(list(carriers)).replace("'", '"')))
    return "".join(parts)


def sim_carrier(name: str, **overrides: Any) -> CarrierSim:
    """A simulated carrier `name` whose password is `<name>pw` (as `routes_text` writes)."""
    return carrier(name=name, system_id=name, password=name + "pw", **overrides)


def send_all(ctx: WorkerContext, ids: list[str], threads: int = 2, chunk: int = 100) -> None:
    """Send `ids` in batches of `chunk` from `threads` threads, each batch by a Sender of its
    own (as each Celery task has); a batch that raises fails the caller's join."""
    chunks = [ids[i : i + chunk] for i in range(0, len(ids), chunk)]
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not chunks:
                    return
                batch = chunks.pop(0)
            ctx.sender().send(batch)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def worker_settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    """Settings of a worker on these servers, its routes in `tmp_path/routes.toml`."""
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        routes_file=tmp_path / "routes.toml",
        var_dir=tmp_path / "var",
    )


def context(settings: Settings) -> WorkerContext:
    """A WorkerContext whose post-receipt hook does nothing."""
    return WorkerContext(settings, lambda result: None)


def queue_messages(
    store: MessageStore, body: str, count: int, message_class: str = "marketing"
) -> list[str]:
    """`count` messages of `body` (marketing unless said), committed `queued`; their ids."""
    account = store.ensure_account("acme", NOW)
    seg = segment(body)
    rows = [
        NewMessage(
            id=new_id(),
            account_id=account,
            to="+447911123456",
            sender="Acme",
            body=body,
            message_class=message_class,
            encoding=seg.encoding.value,
            segments=seg.segments,
            callback_url=None,
            created_at=NOW,
            valid_until=NOW.replace(year=2099),
        )
        for _ in range(count)
    ]
    store.insert_messages(rows)
    return [r.id for r in rows]
