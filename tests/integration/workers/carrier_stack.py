"""A send worker's real parts in the test process: WorkerContext over the simulator (TCP),
real Redis, the backend-parametrised database. For tests of the carrier side of a worker."""

from __future__ import annotations

from pathlib import Path

from messaging import segment
from store import MessageStore, NewMessage, new_id
from switchboard.settings import Settings
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
    """A routes file of these carriers (name → simulator port), cheapest first by name."""
    parts = [
        CARRIER.format(name=n, port=p, mps=mps, window=window, extra=extra)
        for n, p in carriers.items()
    ]
    parts += [PRICES.format(name=n, price=f"0.0{i + 1}") for i, n in enumerate(carriers)]
    parts.append(ROUTE.format(carriers=str(list(carriers)).replace("'", '"')))
    return "".join(parts)


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


def queue_messages(store: MessageStore, body: str, count: int) -> list[str]:
    """`count` marketing messages of `body`, committed `queued`; their ids."""
    account = store.ensure_account("acme", NOW)
    seg = segment(body)
    rows = [
        NewMessage(
            id=new_id(),
            account_id=account,
            to="+447911123456",
            sender="Acme",
            body=body,
            message_class="marketing",
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
