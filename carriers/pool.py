"""One SMPP session per carrier per worker process: bound lazily, rebound when lost, leased,
reconciled with the routes file in force, drained before it is closed.

Create the pool after Celery forks (a socket must not be shared across processes); the
worker bootstrap builds it on first use.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from carriers.receipts import Receipt
from carriers.smpp.session import Ack, SmppSession
from carriers.smpp.types import Endpoint, Mo, SubmitPart
from carriers.smpp.window import Clock
from messaging.errors import CarrierRemoved, Unbound

log = logging.getLogger(__name__)

PoolReceiptHandler = Callable[[str, Receipt, Ack], None]
PoolMoHandler = Callable[[str, Mo, Ack], None]
DRAIN_POLL = 0.01  # seconds between two looks at a draining session's window


class CarrierSession(Protocol):
    """What the pool and its callers need of a session (SmppSession, or a test twin)."""

    @property
    def bound(self) -> bool:
        """True while submits can go out."""
        ...

    @property
    def written_at(self) -> float:
        """Monotonic time the last write on the wire ended (inf: no wire to write on)."""
        ...

    @property
    def in_flight(self) -> int:
        """submit_sm sent and not yet answered."""
        ...

    def bind(self) -> None:
        """Connect and bind; raises Unbound."""
        ...

    def submit(
        self, part: SubmitPart, not_before: float | None = None, not_after: float | None = None
    ) -> Future[str]:
        """Send one part, not before monotonic `not_before` if given (and not at all past
        `not_after`: SlotMissed); the future holds the carrier message id."""
        ...

    def close(self) -> None:
        """Unbind and disconnect."""
        ...


LeaseT = TypeVar("LeaseT")


class BindLeaseStore(Protocol[LeaseT]):
    """Cluster-wide bind slots per carrier (`ratelimit.RedisBindLeases` is the real one; the
    pool cannot import it: carriers and ratelimit are sibling layers)."""

    def acquire(
        self, carrier: str, limit: int, ttl_seconds: float, holder: str = ""
    ) -> LeaseT | None:
        """One of `limit` slots for `ttl_seconds`, or None (full, or the store is down)."""
        ...

    def renew(self, lease: LeaseT, ttl_seconds: float) -> bool:
        """Extend `lease`; False means it is lost."""
        ...

    def release(self, lease: LeaseT) -> None:
        """Give the slot back."""
        ...


@dataclass(frozen=True)
class RebindBackoff:
    """Seconds to wait after the n-th failed bind in a row: first * 2**(n-1), capped, then
    spread by up to `jitter` of itself (so processes that lost a carrier together do not all
    come back in the same instant)."""

    first: float = 0.5
    cap: float = 10.0
    jitter: float = 0.0  # share of the wait drawn at random on top: 0.25 → wait times [1, 1.25)

    def after(self, failures: int, draw: float = 0.0) -> float:
        """The wait after `failures` consecutive failed binds (0 → no wait); `draw` in [0, 1)."""
        if failures <= 0:
            return 0.0
        wait = float(min(self.cap, self.first * 2 ** (failures - 1)))
        return wait * (1.0 + self.jitter * draw)


DEFAULT_BACKOFF = RebindBackoff(jitter=0.25)


@dataclass(frozen=True)
class CarrierLink:
    """How this process reaches one carrier: where and as whom, the window of one session,
    and how many binds the whole cluster may hold (the bind lease's limit)."""

    endpoint: Endpoint
    window: int = 10
    binds: int | None = None  # None: no cluster-wide cap, no lease taken
    enquire_link_interval: float | None = None  # None: the pool's default


@dataclass(frozen=True)
class Reconciled:
    """What a :meth:`CarrierPool.reconcile` changed."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()


@dataclass
class _Slot:
    """One carrier's session and its bind history; `lock` serialises binding."""

    link: CarrierLink
    lock: threading.Lock = field(default_factory=threading.Lock)
    session: CarrierSession | None = None
    lease: object | None = None
    failures: int = 0
    retry_at: float = 0.0
    last_error: Unbound | None = None
    retired: bool = False  # removed or replaced by a reconcile: never bound again


def _as_link(value: Endpoint | CarrierLink, window: int) -> CarrierLink:
    return value if isinstance(value, CarrierLink) else CarrierLink(value, window)


class CarrierPool:
    """Thread-safe, lazily bound sessions by carrier name.

    Receipt and MO handlers get the carrier's name first, since a receipt is matched on
    `(carrier, carrier_message_id)`. With `leases`, every bind first takes one of the
    carrier's `binds` cluster-wide slots and gives it back after unbind (fail closed: no
    lease, no bind); held leases are renewed every third of `lease_ttl` and a lease that
    cannot be renewed drops its bind.
    """

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint | CarrierLink],
        *,
        window: int = 10,
        response_timeout: float = 10.0,
        enquire_link_interval: float = 30.0,
        on_receipt: PoolReceiptHandler | None = None,
        on_mo: PoolMoHandler | None = None,
        backoff: RebindBackoff = DEFAULT_BACKOFF,
        clock: Clock = time.monotonic,
        session_factory: Callable[..., CarrierSession] = SmppSession,
        # Any: the pool only hands back what the store gave it (its lease type is the store's).
        leases: BindLeaseStore[Any] | None = None,
        lease_ttl: float = 15.0,
        holder: str = "",
        drain_timeout: float | None = None,
        receipt_linger: float = 1.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._window = window
        self._options = {
            "response_timeout": response_timeout,
            "enquire_link_interval": enquire_link_interval,
        }
        self._on_receipt = on_receipt
        self._on_mo = on_mo
        self._backoff = backoff
        self._clock = clock
        self._factory = session_factory
        self._leases = leases
        self._lease_ttl = lease_ttl
        self._holder = holder
        # A retired session's in-flight submits get their answer or their timeout by then.
        self._drain_timeout = response_timeout + 1.0 if drain_timeout is None else drain_timeout
        self._receipt_linger = receipt_linger
        self._jitter = jitter
        self._slots = {name: _Slot(_as_link(e, window)) for name, e in endpoints.items()}
        self._reconcile_lock = threading.Lock()
        self._drains: list[threading.Thread] = []
        self._closed = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.lease_refusals = 0  # binds not attempted: every lease of the carrier was held
        self.drained = 0  # retired sessions whose window emptied before they were closed

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        """The endpoint of every carrier in the pool now."""
        return {name: slot.link.endpoint for name, slot in self._slots.items()}

    def links(self) -> dict[str, CarrierLink]:
        """The link of every carrier in the pool now."""
        return {name: slot.link for name, slot in self._slots.items()}

    def session(self, name: str) -> CarrierSession:
        """The bound session for carrier `name`, binding (or rebinding) it if needed.

        Raises:
            CarrierRemoved: no carrier called `name` (any more): a reload removed it.
            Unbound: the bind failed now, or failed recently and the backoff has not passed,
                or no bind lease is free.
        """
        while True:
            slot = self._slots.get(name)
            if slot is None:
                raise CarrierRemoved(detail=f"{name}: not a configured carrier (routes reload?)")
            current = slot.session
            if current is not None and current.bound:
                return current
            with slot.lock:
                if slot.retired:
                    continue  # replaced meanwhile: look the carrier up again
                return self._bind(name, slot)

    def _bind(self, name: str, slot: _Slot) -> CarrierSession:
        """Under `slot.lock`: the bound session, binding one now if there is none."""
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
            slot.session = None
        try:
            self._take_lease(name, slot)
            session = self._new_session(name, slot.link)
            session.bind()
        except Unbound as exc:
            self._give_back_lease(slot)
            slot.failures += 1
            slot.retry_at = self._clock() + self._backoff.after(slot.failures, self._jitter())
            slot.last_error = exc
            log.warning("%s: bind failed (%d in a row): %s", name, slot.failures, exc)
            raise
        slot.failures, slot.retry_at, slot.last_error = 0, 0.0, None
        slot.session = session
        return session

    def _take_lease(self, name: str, slot: _Slot) -> None:
        """One of the carrier's cluster-wide bind slots, kept by a lost session or new."""
        leases, limit = self._leases, slot.link.binds
        if leases is None or limit is None:
            return
        if slot.lease is not None and leases.renew(slot.lease, self._lease_ttl):
            return
        slot.lease = leases.acquire(name, limit, self._lease_ttl, self._holder)
        if slot.lease is None:
            self.lease_refusals += 1
            raise Unbound(detail=f"{name}: no bind lease (all {limit} held, or Redis down)")
        self._start_renewer()

    def _give_back_lease(self, slot: _Slot) -> None:
        if self._leases is not None and slot.lease is not None:
            self._leases.release(slot.lease)
        slot.lease = None

    def bound(self) -> dict[str, bool]:
        """Bind state per carrier, without binding anything."""
        return {
            name: slot.session is not None and slot.session.bound
            for name, slot in list(self._slots.items())  # a reconcile may swap slots meanwhile
        }

    def drop(self, name: str) -> None:
        """Close carrier `name`'s session now; the next :meth:`session` binds a fresh one.

        What the carrier sent on the old bind and we never acknowledged, it re-delivers on the
        next (SMPP 3.4 §4.6.2): the way out when receipts cannot be handed off.
        """
        slot = self._slots.get(name)
        if slot is None:
            return
        with slot.lock:
            if slot.session is not None:
                log.warning("%s: dropping the bind", name)
                slot.session.close()
                slot.session = None
            self._give_back_lease(slot)

    def reconcile(self, links: Mapping[str, Endpoint | CarrierLink]) -> Reconciled:
        """Make the pool serve exactly `links`: new carriers are added (bound on first use),
        removed ones and changed ones (host, credentials, window, binds) retired — their
        session drains its window in the background, then unbinds — and a changed carrier's
        next :meth:`session` binds with its new link."""
        wanted = {name: _as_link(value, self._window) for name, value in links.items()}
        added: list[str] = []
        removed: list[str] = []
        changed: list[str] = []
        with self._reconcile_lock:
            for name, slot in list(self._slots.items()):
                if name not in wanted:
                    del self._slots[name]
                    removed.append(name)
                    self._retire(name, slot)
                elif wanted[name] != slot.link:
                    self._slots[name] = _Slot(wanted[name])
                    changed.append(name)
                    self._retire(name, slot)
            for name, link in wanted.items():
                if name not in self._slots:
                    self._slots[name] = _Slot(link)
                    added.append(name)
        result = Reconciled(tuple(added), tuple(removed), tuple(changed))
        if added or removed or changed:
            log.info("carrier pool reconciled: %s", result)
        return result

    def _retire(self, name: str, slot: _Slot) -> None:
        """Drain and close `slot`'s session on a thread of its own (never bound again)."""
        thread = threading.Thread(
            target=self._drain_slot, args=(name, slot), name=f"drain-{name}", daemon=True
        )
        self._drains = [t for t in self._drains if t.is_alive()] + [thread]
        thread.start()

    def _drain_slot(self, name: str, slot: _Slot) -> None:
        with slot.lock:
            slot.retired = True
            session, slot.session = slot.session, None
        if session is not None:
            self._drain(name, session, self._clock() + self._drain_timeout)
        with slot.lock:
            self._give_back_lease(slot)

    def _drain(self, name: str, session: CarrierSession, deadline: float) -> None:
        """Wait (until `deadline`) for the submits in flight to be answered and the receipts
        that follow them to come, then unbind."""
        if self._wait_empty(session, deadline):
            self.drained += 1
            self._linger(deadline)
        elif session.bound:
            log.warning("%s: closing with %d submit_sm unanswered", name, session.in_flight)
        session.close()

    def _wait_empty(self, session: CarrierSession, deadline: float) -> bool:
        """True once `session`'s window is empty (or it is gone); False at `deadline`."""
        while session.bound and session.in_flight:
            if self._clock() >= deadline:
                return False
            time.sleep(DRAIN_POLL)
        return True

    def _linger(self, deadline: float) -> None:
        """Stay bound `receipt_linger` (at most until `deadline`): receipts of the last
        submits arrive on this bind and are acknowledged on it."""
        end = min(deadline, self._clock() + self._receipt_linger)
        while self._clock() < end and not self._stop.is_set():
            time.sleep(DRAIN_POLL)

    def drain(self, seconds: float) -> int:
        """Graceful shutdown, first step: wait up to `seconds` for every session's window to
        empty, then linger for receipts (sessions stay bound, so receipts handed off
        meanwhile are still acknowledged). Returns how many sessions still had submits in
        flight at the deadline."""
        deadline = self._clock() + seconds
        busy = 0
        for slot in list(self._slots.values()):
            session = slot.session
            if session is not None and not self._wait_empty(session, deadline):
                busy += 1
        if not busy and seconds > 0:
            self._linger(deadline)
        return busy

    def close(self, drain: float = 0.0) -> None:
        """Unbind and close every session, each after its window drained for up to `drain`
        seconds (graceful shutdown); later calls to :meth:`session` raise Unbound."""
        if drain > 0:
            self.drain(drain)
        self._closed = True
        self._stop.set()
        for slot in list(self._slots.values()):
            with slot.lock:
                session, slot.session = slot.session, None
                if session is not None:
                    session.close()
                self._give_back_lease(slot)
        for thread in self._drains:
            thread.join(timeout=self._drain_timeout + self._receipt_linger + 2.0)

    # --- leases ---------------------------------------------------------------------------

    def _start_renewer(self) -> None:
        if self._renewer is None:
            self._renewer = threading.Thread(
                target=self._renew_loop, name="bind-lease-renewer", daemon=True
            )
            self._renewer.start()

    def _renew_loop(self) -> None:
        leases = self._leases
        assert leases is not None
        while not self._stop.wait(self._lease_ttl / 3):
            for name, slot in list(self._slots.items()):
                lease = slot.lease
                if lease is not None and not leases.renew(lease, self._lease_ttl):
                    log.warning("%s: bind lease lost; unbinding", name)
                    with slot.lock:
                        if slot.lease is lease:
                            slot.lease = None
                            if slot.session is not None:
                                slot.session.close()
                                slot.session = None

    def _new_session(self, name: str, link: CarrierLink) -> CarrierSession:
        on_receipt = self._on_receipt
        on_mo = self._on_mo
        options = dict(self._options)
        if link.enquire_link_interval is not None:
            options["enquire_link_interval"] = link.enquire_link_interval
        return self._factory(
            link.endpoint,
            window=link.window,
            on_receipt=functools.partial(on_receipt, name) if on_receipt else None,
            on_mo=functools.partial(on_mo, name) if on_mo else None,
            clock=self._clock,
            **options,
        )
