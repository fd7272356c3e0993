"""Per-process worker resources, built lazily after Celery forks (sockets never cross a fork)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis

from carriers import (
    CarrierPool,
    Endpoint,
    HealthView,
    Receipt,
    RedisHealthStore,
    message_id_variants,
)
from ratelimit import RedisTokenBuckets
from routing import CarrierHealth, Circuit, RoutesWatcher, Snapshot
from store import MessageStore, make_engine, share_niceness
from workers.config import WorkerSettings
from workers.receipts import ReceiptForwarder
from workers.refreshing import Refreshing
from workers.sending import Sender

log = logging.getLogger(__name__)

# Health counts live in 5-s buckets and a circuit opens after several failures: half a second
# of staleness changes no routing decision that matters, and saves a Redis read per batch.
HEALTH_REFRESH_SECONDS = 0.5


def utcnow() -> datetime:
    """Aware UTC now (the one clock the workers read)."""
    return datetime.now(UTC)


def receipt_payload(carrier: str, receipt: Receipt) -> dict[str, Any]:
    """JSON-safe form of a receipt for the reconcile task."""
    return {
        "carrier": carrier,
        "ids": list(message_id_variants(receipt.carrier_message_id)),
        "state": str(receipt.state),
        "err": receipt.error_code,
        "seen": time.time(),
    }


class WorkerContext:
    """Store, routes, buckets, carrier sessions and the receipt forwarder of one process."""

    def __init__(
        self, settings: WorkerSettings, publish_receipts: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        self.settings = settings
        self.engine = make_engine(settings.resolved_database_url())
        share_niceness(self.engine)  # a niced bulk worker's queries run niced too
        self.store = MessageStore(self.engine)
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.buckets = RedisTokenBuckets(self.redis)
        self.routes = RoutesWatcher(settings.routes_file, time.monotonic)
        self.health = RedisHealthStore(self.redis)
        # Read by every batch; refreshed in the background so no OTP waits for that read.
        self._snapshot = Refreshing(self._read_snapshot, HEALTH_REFRESH_SECONDS, "health-snapshot")
        self._publish_receipts = publish_receipts
        self._pool: CarrierPool | None = None
        self._account_names: dict[str, str] = {}
        self._forwarder: ReceiptForwarder | None = None
        self._lock = threading.Lock()

    @property
    def forwarder(self) -> ReceiptForwarder:
        """The receipt forwarder (started on first use)."""
        with self._lock:
            if self._forwarder is None:
                self._forwarder = ReceiptForwarder(
                    self._publish_receipts, flush_seconds=self.settings.receipt_flush_ms / 1000
                )
            return self._forwarder

    def pool(self) -> CarrierPool:
        """This process's SMPP sessions, one pool over every carrier of the routing table."""
        with self._lock:
            if self._pool is None:
                table = self.routes.current()
                endpoints = {
                    name: Endpoint(
                        name, spec.host, spec.port, spec.system_id, spec.password, spec.system_type
                    )
                    for name, spec in table.carriers.items()
                }
                windows = {spec.window for spec in table.carriers.values()}
                self._pool = CarrierPool(
                    endpoints,
                    window=max(windows) if windows else 10,
                    response_timeout=self.settings.response_timeout,
                    on_receipt=self._on_receipt,
                )
            return self._pool

    def _on_receipt(self, carrier: str, receipt: Receipt, ack: Callable[[], None]) -> None:
        self.forwarder.add(receipt_payload(carrier, receipt), ack)

    def sender(self) -> Sender:
        """A Sender wired to this process's real adapters."""
        pool = self.pool()
        return Sender(
            self.store,
            self.routes.current,
            self.buckets,
            pool.session,
            utcnow,
            time.sleep,
            response_timeout=self.settings.response_timeout,
            token_wait_max=self.settings.token_wait_max,
            retry_backoff=self.settings.retry_backoff,
            batch_max=self.settings.send_batch_max,
            health=self.health,
            snapshot=self.snapshot,
            account_names=self._account_names,
        )

    def snapshot(self) -> Snapshot:
        """Carrier health as every worker sees it, at most HEALTH_REFRESH_SECONDS old."""
        return self._snapshot.get()

    def _read_snapshot(self) -> Snapshot:
        views = self.health.views(self.routes.current().carriers)
        return Snapshot.of({name: _routing_health(view) for name, view in views.items()})

    def close(self) -> None:
        """Unbind sessions, flush receipts, close connections."""
        self._snapshot.close()
        if self._pool is not None:
            self._pool.close()
        if self._forwarder is not None:
            self._forwarder.close()
        self.redis.close()
        self.engine.dispose()


def _routing_health(view: HealthView) -> CarrierHealth:
    return CarrierHealth(score=view.score, circuit=Circuit(view.circuit.value))
