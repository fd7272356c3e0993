"""One SMPP 3.4 transceiver connection: a window of in-flight PDUs, one reader thread.

Threads, not asyncio: Celery workers call :meth:`SmppSession.submit` from plain threads.
The reader thread owns every socket read, matches responses to requests by sequence number
(SMPP 3.4 §3.2), expires requests past their timeout, sends enquire_link when the link is
idle and answers the carrier's own requests. Writes come from any thread, one whole PDU at a
time under a lock. Receipt and MO callbacks run on a separate dispatcher thread so a slow
hand-off never stalls submit_sm_resp handling.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass

from carriers.receipts import Receipt, parse_receipt
from carriers.slot_wait import SlotMissed, precise_switching, wait_until
from carriers.smpp import codec
from carriers.smpp.callbacks import CallbackThread
from carriers.smpp.inbound import is_receipt, to_mo
from carriers.smpp.types import Endpoint, Mo, SubmitPart
from carriers.smpp.window import Clock, InFlightWindow
from carriers.status import error_for
from messaging.errors import (
    CarrierError,
    CarrierSystemError,
    InvalidInput,
    ResponseTimeout,
    Unbound,
)

log = logging.getLogger(__name__)

# Sends deliver_sm_resp for one deliver_sm, at most once, from any thread; a no-op once the
# connection is gone (the carrier then resends the PDU, SMPP 3.4 §4.6.2). `acks_sent` counts.
Ack = Callable[[], None]
ReceiptHandler = Callable[[Receipt, Ack], None]
MoHandler = Callable[[Mo, Ack], None]

TICK = 0.02  # seconds: resolution of timeouts and enquire_link scheduling
UNBIND_WAIT = 1.0  # seconds close() waits for unbind_resp
RECV_SIZE = 1 << 16
CLOSED_BY_US = "closed by us"

ESME_RX_P_APPN = 0x65  # SMPP 3.4 §5.1.3: "permanent app error": do not resend this one
ESME_RUNKNOWNERR = 0xFF


@dataclass
class SessionStats:
    """Counters for health scoring and benchmarks (read with :meth:`SmppSession.stats`)."""

    submitted: int = 0
    submit_ok: int = 0
    submit_failed: int = 0
    timeouts: int = 0
    late_responses: int = 0
    malformed: int = 0
    nacks_sent: int = 0
    receipts: int = 0
    acks_sent: int = 0
    receipts_malformed: int = 0
    mo: int = 0
    enquire_links_sent: int = 0


def _settle_result(future: Future[str], value: str) -> None:
    # The caller may have cancelled the future; that is theirs to decide, not an error here.
    with contextlib.suppress(InvalidStateError):
        future.set_result(value)


def _settle_error(future: Future[str], error: BaseException) -> None:
    with contextlib.suppress(InvalidStateError):
        future.set_exception(error)


def failed_future(error: BaseException) -> Future[str]:
    """A future that has already failed with `error`."""
    future: Future[str] = Future()
    future.set_exception(error)
    return future


class SmppSession:
    """A bind_transceiver session with a window of in-flight submit_sm.

    A session binds once; after the connection is lost or closed, make a new one (the
    :class:`~carriers.pool.CarrierPool` does). Futures' done-callbacks run on the reader
    thread: keep them short and never block them on :meth:`submit`.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        window: int = 10,
        response_timeout: float = 10.0,
        bind_timeout: float | None = None,
        enquire_link_interval: float = 30.0,
        on_receipt: ReceiptHandler | None = None,
        on_mo: MoHandler | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if window < 1:
            raise InvalidInput("window", "must be >= 1")
        bind_timeout = response_timeout if bind_timeout is None else bind_timeout
        if min(response_timeout, enquire_link_interval, bind_timeout) <= 0:
            raise InvalidInput("response_timeout", "timeouts must be > 0")
        self.endpoint = endpoint
        self.window = window
        self.response_timeout = response_timeout
        # Connect + bind_resp; a carrier may take longer to bind than to answer a submit_sm.
        self.bind_timeout = bind_timeout
        self.enquire_link_interval = enquire_link_interval
        self._on_receipt = on_receipt
        self._on_mo = on_mo
        self._clock = clock
        self._window = InFlightWindow(window, clock)
        self._started = threading.Lock()  # held for good once bind() begins: one bind per session
        self._closing = False
        self._write_lock = threading.Lock()
        self._written_at = float("-inf")  # when the last write ended (read after sendall)
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._callbacks = CallbackThread(f"smpp-callbacks-{endpoint.name}")
        self._last_heard = 0.0
        self._enquire_pending = False
        self._stats = SessionStats()
        self._requests: Mapping[str, Callable[[codec.Pdu], None]] = {
            "enquire_link": self._on_enquire_link,
            "unbind": self._on_unbind,
            "deliver_sm": self._on_deliver_sm,
            "alert_notification": self._ignore,  # SMPP 3.4 §4.12.1: has no response
        }

    # --- public surface ---------------------------------------------------------------------

    @property
    def bound(self) -> bool:
        """True while the session is bound and its connection is up."""
        return self._window.accepting

    @property
    def lost_reason(self) -> str | None:
        """Why the connection ended, or None while it is up (or not yet opened)."""
        return self._window.closed_reason

    @property
    def in_flight(self) -> int:
        """submit_sm sent and not yet answered (or expired)."""
        return self._window.in_flight

    @property
    def written_at(self) -> float:
        """Monotonic time the last write ended, read right after its `sendall` (before any
        Python of the caller's could be preempted by another thread): a paced lane counts its
        next gap from here, not from when `submit` returned."""
        return self._written_at

    def stats(self) -> dict[str, int]:
        """A snapshot of the counters."""
        return dict(vars(self._stats))

    def bind(self) -> None:
        """Connect and bind_transceiver (SMPP 3.4 §4.1.5).

        Raises:
            Unbound: connection refused or failed, bind refused (with the carrier's status),
                no bind_resp within the response timeout, or this session was used before.
        """
        if not self._started.acquire(blocking=False):
            raise Unbound(detail=f"{self.endpoint.name}: a session binds once")
        endpoint = self.endpoint
        try:
            sock = socket.create_connection(
                (endpoint.host, endpoint.port), timeout=self.bind_timeout
            )
        except OSError as exc:
            self._window.close(f"connect failed: {exc}")
            where = f"{endpoint.host}:{endpoint.port}"
            raise Unbound(detail=f"{endpoint.name}: connect {where}: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        precise_switching()  # this process paces PDUs onto this socket
        sock.settimeout(self.response_timeout)  # bounds a sendall to a peer that stopped reading
        self._sock = sock
        self._last_heard = self._clock()
        self._reader = threading.Thread(
            target=self._read_loop, name=f"smpp-reader-{endpoint.name}", daemon=True
        )
        self._reader.start()
        self._callbacks.start()
        response: Future[codec.Pdu] = self._request(
            "bind_transceiver", lambda seq: codec.bind_transceiver(seq, endpoint), self.bind_timeout
        )
        try:
            response.result(timeout=self.bind_timeout + 1.0)
        except CarrierError as exc:
            self._lose(f"bind failed: {exc}")
            raise Unbound(exc.status, f"{endpoint.name}: bind refused: {exc}") from exc
        except TimeoutError as exc:  # the reader should have expired it; belt and braces
            self._lose("bind timed out")
            raise Unbound(detail=f"{endpoint.name}: no bind_transceiver_resp") from exc
        self._window.accept()
        if not self._window.accepting:
            raise Unbound(detail=f"{endpoint.name}: connection lost while binding")
        log.info("bound to %s at %s:%d", endpoint.name, endpoint.host, endpoint.port)

    def submit(
        self, part: SubmitPart, not_before: float | None = None, not_after: float | None = None
    ) -> Future[str]:
        """Send one submit_sm (SMPP 3.4 §4.4.1); blocks only while the window is full, and
        with `not_before` (this session's clock) until then: the wait ends right before the
        write, after the encoding, so a paced PDU leaves at its slot to the ~10 µs. A wait
        that ends after `not_after` writes nothing (raises SlotMissed).

        Returns:
            A future of the carrier message id. It fails with the status table's error
            (Throttled, CarrierSystemError, PermanentCarrierError…), ResponseTimeout, or
            Unbound when the session is not bound or the connection is lost.

        Raises:
            InvalidInput: the part cannot be encoded (e.g. short_message over 254 octets).
            SlotMissed: the wait for `not_before` ended after `not_after`.
        """
        template = codec.submit_sm(1, part)  # encode outside the lock, number it below
        if not_before is not None:
            ended = wait_until(not_before, self._clock, time.sleep)
            if not_after is not None and ended > not_after:
                raise SlotMissed(f"{self.endpoint.name}: {ended - not_after:.6f} s past the slot")
        future: Future[str] = Future()
        try:
            sequence = self._window.register(
                "submit_sm",
                self.response_timeout,
                lambda pdu: self._submit_answered(future, pdu),
                lambda error: self._submit_failed(future, error),
                counted=True,
            )
        except Unbound:
            return failed_future(self._unbound_error())
        self._stats.submitted += 1
        self._send(codec.with_sequence(template, sequence))
        return future

    def close(self) -> None:
        """Unbind (waiting briefly for unbind_resp), close, fail what is in flight with Unbound."""
        was_bound = self._window.accepting
        self._closing = True
        self._window.stop_accepting()  # no submit_sm after unbind (SMPP 3.4 §4.2)
        if was_bound:
            response = self._request("unbind", lambda seq: codec.request("unbind", seq))
            with contextlib.suppress(CarrierError, TimeoutError):
                response.result(timeout=min(UNBIND_WAIT, self.response_timeout))
        self._lose(CLOSED_BY_US)
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=2.0)
        self._callbacks.join(timeout=2.0)

    def __enter__(self) -> SmppSession:
        self.bind()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- requests and responses -------------------------------------------------------------

    def _unbound_error(self) -> Unbound:
        reason = self._window.closed_reason or "not bound"
        return Unbound(detail=f"{self.endpoint.name}: {reason}")

    def _request(
        self, command: str, build: Callable[[int], bytes], timeout: float | None = None
    ) -> Future[codec.Pdu]:
        """Send a non-submit request and return a future of its response PDU (expired after
        `timeout`, by default the response timeout)."""
        future: Future[codec.Pdu] = Future()

        def resolve(pdu: codec.Pdu) -> None:
            with contextlib.suppress(InvalidStateError):
                future.set_result(pdu)

        def fail(error: CarrierError) -> None:
            with contextlib.suppress(InvalidStateError):
                future.set_exception(error)

        try:
            sequence = self._window.register(
                command, timeout or self.response_timeout, resolve, fail, counted=False
            )
        except Unbound:
            fail(self._unbound_error())
            return future
        self._send(build(sequence))
        return future

    def _submit_answered(self, future: Future[str], pdu: codec.Pdu) -> None:
        self._stats.submit_ok += 1
        _settle_result(future, pdu.text("message_id"))

    def _submit_failed(self, future: Future[str], error: CarrierError) -> None:
        self._stats.submit_failed += 1
        _settle_error(future, error)

    def _send(self, frame: bytes) -> bool:
        """Write one whole PDU; on failure the connection is declared lost."""
        try:
            with self._write_lock:
                sock = self._sock
                if sock is None or self._window.closed_reason is not None:
                    return False
                sock.sendall(frame)
                self._written_at = self._clock()
        except OSError as exc:
            self._lose(f"write failed: {exc}")
            return False
        return True

    def _on_response(self, pdu: codec.Pdu) -> None:
        entry = self._window.take(pdu.sequence)
        if entry is None:
            self._stats.late_responses += 1  # answered after we gave up on it
            log.debug("%s: response to unknown sequence %d", self.endpoint.name, pdu.sequence)
            return
        if pdu.command == "generic_nack" or pdu.status != codec.ESME_ROK:
            status = pdu.status or ESME_RUNKNOWNERR
            entry.fail(error_for(status, f"{self.endpoint.name}: {pdu.command}"))
        else:
            entry.resolve(pdu)

    def _lose(self, reason: str) -> None:
        """The connection is over: fail everything in flight with Unbound, wake all waiters."""
        pending = self._window.close(reason)
        if pending is None:
            return  # already lost
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # unblocks a sendall stuck in another thread
            with self._write_lock, contextlib.suppress(OSError):
                sock.close()
        self._callbacks.stop()
        if reason != CLOSED_BY_US:
            log.warning("%s: connection lost: %s", self.endpoint.name, reason)
        error = Unbound(detail=f"{self.endpoint.name}: {reason}")
        for entry in pending:
            entry.fail(error)

    # --- the reader thread ------------------------------------------------------------------

    def _read_loop(self) -> None:
        sock = self._sock
        assert sock is not None
        frames = codec.FrameBuffer()
        next_housekeeping = self._clock() + TICK
        # A selector (epoll) rather than select(): worker processes may hold > 1024 fds.
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            while self._window.closed_reason is None:
                try:
                    readable = selector.select(TICK)
                    data = sock.recv(RECV_SIZE) if readable else None
                except (OSError, ValueError) as exc:  # ValueError: closed under us
                    self._lose(f"read failed: {exc}")
                    return
                if not self._handle_received(data, frames):
                    return
                now = self._clock()
                if now >= next_housekeeping:
                    self._housekeeping(now)
                    next_housekeeping = now + TICK

    def _handle_received(self, data: bytes | None, frames: codec.FrameBuffer) -> bool:
        """Frame and dispatch what arrived; False once the connection is over."""
        if data is None:
            return True
        if not data:
            self._lose(CLOSED_BY_US if self._closing else "connection closed by the carrier")
            return False
        self._last_heard = self._clock()
        try:
            whole = frames.feed(data)
        except CarrierSystemError as exc:
            # SMPP 3.4 §3.2: a bad command_length leaves nothing to resynchronise on.
            self._stats.malformed += 1
            self._send(codec.response("generic_nack", 0, codec.ESME_RINVCMDLEN))
            self._lose(f"malformed stream: {exc}")
            return False
        for frame in whole:
            self._dispatch(frame)
        return True

    def _dispatch(self, frame: bytes) -> None:
        header = codec.peek_header(frame)
        try:
            pdu = codec.decode(frame)
        except CarrierSystemError as exc:
            self._stats.malformed += 1
            log.warning("%s: malformed PDU: %s", self.endpoint.name, exc)
            if header.is_response:
                entry = self._window.take(header.sequence)
                if entry is not None:
                    entry.fail(exc)
            else:
                # SMPP 3.4 §4.3: generic_nack answers a PDU we cannot use.
                self._nack(header.sequence, exc.status or codec.ESME_RINVCMDID)
            return
        if pdu.is_response:
            self._on_response(pdu)
        else:
            self._requests.get(pdu.command, self._on_unknown_request)(pdu)

    def _housekeeping(self, now: float) -> None:
        for entry in self._window.expire(now):
            self._stats.timeouts += 1
            entry.fail(
                ResponseTimeout(
                    detail=f"{self.endpoint.name}: no {entry.command}_resp "
                    f"in {self.response_timeout}s"
                )
            )
        idle = now - self._last_heard
        if self.bound and not self._enquire_pending and idle >= self.enquire_link_interval:
            self._enquire_link()

    def _enquire_link(self) -> None:
        """SMPP 3.4 §4.11: probe an idle link; no answer in time means the link is dead."""
        self._enquire_pending = True
        self._stats.enquire_links_sent += 1

        def answered(pdu: codec.Pdu) -> None:
            self._enquire_pending = False

        def unanswered(error: CarrierError) -> None:
            self._enquire_pending = False
            if isinstance(error, ResponseTimeout):
                self._lose("enquire_link unanswered")

        try:
            sequence = self._window.register(
                "enquire_link", self.response_timeout, answered, unanswered, counted=False
            )
        except Unbound:
            return
        self._send(codec.request("enquire_link", sequence))

    # --- the carrier's requests -------------------------------------------------------------

    def _nack(self, sequence: int, status: int) -> None:
        self._stats.nacks_sent += 1
        self._send(codec.response("generic_nack", sequence, status))

    def _on_enquire_link(self, pdu: codec.Pdu) -> None:
        self._send(codec.response("enquire_link_resp", pdu.sequence))

    def _on_unbind(self, pdu: codec.Pdu) -> None:
        # SMPP 3.4 §4.2: answer, then the carrier closes; nothing in flight will be answered.
        self._send(codec.response("unbind_resp", pdu.sequence))
        self._lose("unbound by the carrier")

    def _ignore(self, pdu: codec.Pdu) -> None:
        return None

    def _on_unknown_request(self, pdu: codec.Pdu) -> None:
        log.info("%s: unsupported request %s", self.endpoint.name, pdu.command)
        self._nack(pdu.sequence, codec.ESME_RINVCMDID)

    def _on_deliver_sm(self, pdu: codec.Pdu) -> None:
        ack = self._make_ack(pdu.sequence)
        if is_receipt(pdu):
            self._on_receipt_pdu(pdu, ack)
            return
        self._stats.mo += 1
        handler = self._on_mo
        if handler is None:
            return  # unanswered: the carrier resends it once someone listens
        mo = to_mo(pdu)
        self._callbacks.put(lambda: handler(mo, ack))

    def _on_receipt_pdu(self, pdu: codec.Pdu, ack: Ack) -> None:
        self._stats.receipts += 1
        try:
            receipt = parse_receipt(pdu.octets("short_message"), pdu.fields)
        except InvalidInput as exc:
            # Resending cannot make it parse: refuse it for good, and count it.
            self._stats.receipts_malformed += 1
            log.warning("%s: unreadable receipt: %s", self.endpoint.name, exc)
            self._send(codec.response("deliver_sm_resp", pdu.sequence, ESME_RX_P_APPN))
            return
        handler = self._on_receipt
        if handler is None:
            return  # not acknowledged: the carrier keeps it and resends (ARCHITECTURE.md)
        self._callbacks.put(lambda: handler(receipt, ack))

    def _make_ack(self, sequence: int) -> Ack:
        """deliver_sm_resp for `sequence`, sent at most once, from any thread."""
        once = threading.Lock()

        def ack() -> None:
            if self._window.closed_reason is not None or not once.acquire(blocking=False):
                return
            if self._send(codec.response("deliver_sm_resp", sequence)):
                self._stats.acks_sent += 1

        return ack
