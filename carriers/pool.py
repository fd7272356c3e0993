"""One SMPP session per carrier per worker process: bound lazily, rebound when lost.

Create the pool after Celery forks (a socket must not be shared across processes); the
worker bootstrap builds it on first use.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from carriers.receipts import Receipt
from carriers.smpp.session import Ack, SmppSession
from carriers.smpp.types import Endpoint, Mo, SubmitPart
from carriers.smpp.window import Clock
from messaging.errors import Unbound

log = logging.getLogger(__name__)

PoolReceiptHandler = Callable[[str, Receipt, Ack], None]
PoolMoHandler = Callable[[str, Mo, Ack], None]


class CarrierSession(Protocol):
    """What the pool and its callers need of a session (SmppSession, or a test twin)."""

    @property
    def bound(self) -> bool:
        """True while submits can go out."""
        ...

    def bind(self) -> None:
        """Connect and bind; raises Unbound."""
        ...

    def submit(self, part: SubmitPart) -> Future[str]:
        """Send one part; the future holds the carrier message id."""
        ...

    def close(self) -> None:
        """Unbind and disconnect."""
        ...


@dataclass(frozen=True)
class RebindBackoff:
    """Seconds to wait after the n-th failed bind in a row: first * 2**(n-1), capped."""

    first: float = 0.5
    cap: float = 10.0

    def after(self, failures: int) -> float:
        """The wait after `failures` consecutive failed binds (0 → no wait)."""
        if failures <= 0:
            return 0.0
        return float(min(self.cap, self.first * 2 ** (failures - 1)))


DEFAULT_BACKOFF = RebindBackoff()


class _Slot:
    """One carrier's session and its bind history; `lock` serialises binding."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session: CarrierSession | None = None
        self.failures = 0
        self.retry_at = 0.0
        self.last_error: Unbound | None = None


class CarrierPool:
    """Thread-safe, lazily bound sessions by carrier name.

    Receipt and MO handlers get the carrier's name first, since a receipt is matched on
    `(carrier, carrier_message_id)`.
    """

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        *,
        window: int = 10,
        response_timeout: float = 10.0,
        enquire_link_interval: float = 30.0,
        on_receipt: PoolReceiptHandler | None = None,
        on_mo: PoolMoHandler | None = None,
        backoff: RebindBackoff = DEFAULT_BACKOFF,
        clock: Clock = time.monotonic,
        session_factory: Callable[..., CarrierSession] = SmppSession,
    ) -> None:
        self.endpoints = dict(endpoints)
        self._options = {
            "window": window,
            "response_timeout": response_timeout,
            "enquire_link_interval": enquire_link_interval,
        }
        self._on_receipt = on_receipt
        self._on_mo = on_mo
        self._backoff = backoff
        self._clock = clock
        self._factory = session_factory
        self._slots = {name: _Slot() for name in self.endpoints}
        self._closed = False

    def session(self, name: str) -> CarrierSession:
        """The bound session for carrier `name`, binding (or rebinding) it if needed.

        Raises:
            KeyError: no endpoint called `name`.
            Unbound: the bind failed now, or failed recently and the backoff has not passed.
        """
        slot = self._slots[name]
        current = slot.session
        if current is not None and current.bound:
            return current
        with slot.lock:
            if self._closed:
                raise Unbound(detail=f"{name}: carrier pool closed")
            current = slot.session
            if current is not None and current.bound:
                return current
            now = self._clock()
            if now < slot.retry_at and slot.last_error is not None:
                raise Unbound(
                    slot.last_error.status,
                    f"{name}: rebind in {slot.retry_at - now:.1f}s after: {slot.last_error}",
                )
            if current is not None:
                current.close()  # lost: make sure its threads are gone before replacing it
            session = self._new_session(name)
            try:
                session.bind()
            except Unbound as exc:
                slot.failures += 1
                slot.retry_at = self._clock() + self._backoff.after(slot.failures)
                slot.last_error = exc
                slot.session = None
                log.warning("%s: bind failed (%d in a row): %s", name, slot.failures, exc)
                raise
            slot.failures, slot.retry_at, slot.last_error = 0, 0.0, None
            slot.session = session
            return session

    def bound(self) -> dict[str, bool]:
        """Bind state per carrier, without binding anything."""
        return {
            name: slot.session is not None and slot.session.bound
            for name, slot in self._slots.items()
        }

    def drop(self, name: str) -> None:
        """Close carrier `name`'s session now; the next :meth:`session` binds a fresh one.

        What the carrier sent on the old bind and we never acknowledged, it re-delivers on the
        next (SMPP 3.4 §4.6.2): the way out when receipts cannot be handed off.
        """
        slot = self._slots[name]
        with slot.lock:
            if slot.session is not None:
                log.warning("%s: dropping the bind", name)
                slot.session.close()
                slot.session = None

    def close(self) -> None:
        """Unbind and close every session; later calls to :meth:`session` raise Unbound."""
        self._closed = True
        for slot in self._slots.values():
            with slot.lock:
                if slot.session is not None:
                    slot.session.close()
                    slot.session = None

    def _new_session(self, name: str) -> CarrierSession:
        on_receipt = self._on_receipt
        on_mo = self._on_mo
        return self._factory(
            self.endpoints[name],
            on_receipt=functools.partial(on_receipt, name) if on_receipt else None,
            on_mo=functools.partial(on_mo, name) if on_mo else None,
            clock=self._clock,
            **self._options,
        )
