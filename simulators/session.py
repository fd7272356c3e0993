"""One ESME connection to a simulated carrier: an asyncio protocol that moves PDUs.

Behaviour (limits, ids, receipts) belongs to :class:`~simulators.carrier.CarrierRuntime`;
this module frames bytes, checks the bind state against a table and batches writes: all
answers to one read go out in one ``transport.write``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Final, Protocol

from simulators.arrivals import ArrivalQueue, StampedReader, enable_kernel_stamps
from simulators.carrier import CarrierRuntime, Deliverable
from simulators.faults import SUBMIT_FAULT_STATUS, Mode
from simulators.pdu import (
    BIND_COMMANDS,
    HEADER,
    HEADER_SIZE,
    RESPONSE_BIT,
    Bind,
    BindResp,
    Cmd,
    CommandStatus,
    Pdu,
    PduError,
    ShortMessage,
    Tag,
    decode,
    encode,
    header_only,
    message_id_resp,
    split_frames,
)

log = logging.getLogger(__name__)


class AuditHook(Protocol):
    """Records one accepted submit_sm; `ago`: seconds since it arrived."""

    def __call__(
        self, carrier: str, message: ShortMessage, message_id: str, ago: float = 0.0
    ) -> None: ...


class BindState(Enum):
    """SMPP 3.4 §2.2 session states, seen from the SMSC."""

    OPEN = "open"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    CLOSED = "closed"


_ALWAYS = frozenset(
    {Cmd.ENQUIRE_LINK, Cmd.ENQUIRE_LINK_RESP, Cmd.GENERIC_NACK}  # §4.11: any time
)
_BOUND = _ALWAYS | {Cmd.UNBIND, Cmd.UNBIND_RESP}

# SMPP 3.4 §2.3 (Table 2-1): which ESME-originated commands each state accepts.
ALLOWED: Final[Mapping[BindState, frozenset[int]]] = {
    BindState.OPEN: _ALWAYS | BIND_COMMANDS,
    BindState.BOUND_TX: _BOUND | {Cmd.SUBMIT_SM},
    BindState.BOUND_RX: _BOUND | {Cmd.DELIVER_SM_RESP},
    BindState.BOUND_TRX: _BOUND | {Cmd.SUBMIT_SM, Cmd.DELIVER_SM_RESP},
    BindState.CLOSED: frozenset(),
}

BIND_TARGET: Final[Mapping[int, BindState]] = {
    Cmd.BIND_TRANSMITTER: BindState.BOUND_TX,
    Cmd.BIND_RECEIVER: BindState.BOUND_RX,
    Cmd.BIND_TRANSCEIVER: BindState.BOUND_TRX,
}
RECEIVING: Final = frozenset({BindState.BOUND_RX, BindState.BOUND_TRX})
BOUND: Final = frozenset({BindState.BOUND_TX, BindState.BOUND_RX, BindState.BOUND_TRX})
_SC_INTERFACE_VERSION: Final = {Tag.SC_INTERFACE_VERSION: b"\x34"}  # §5.3.2.25: we speak 3.4


class Session(asyncio.Protocol):
    """An SMPP session on one TCP connection to carrier `runtime`."""

    def __init__(
        self,
        runtime: CarrierRuntime,
        audit: AuditHook | None = None,
        on_close: Callable[[Session], None] | None = None,
        arrivals: ArrivalQueue | None = None,
    ) -> None:
        """With `arrivals`, the session reads its socket itself, stamping each PDU with its
        kernel receive time (:mod:`simulators.arrivals`), and decides it in arrival order
        with every other session of that queue; without, PDUs are stamped when handled."""
        self.runtime = runtime
        self.state = BindState.OPEN
        self.system_id = ""
        self._audit = audit
        self._on_close = on_close
        self._buffer = bytearray()
        self._out: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._sequence = 0
        self._in_flight: dict[int, Deliverable] = {}
        self._window = runtime.config.receipt_window
        self._window_opened = False
        self._write_paused = False
        self._enquire_pending: set[int] = set()
        self._next_enquire = 0.0
        self._arrivals = arrivals
        self._reader: StampedReader | None = None
        self._reader_sock: socket.socket | None = None  # a dup of the transport's socket
        self._reading = False
        self._arrived_at: float | None = None  # of the PDU being handled
        self._handlers: Mapping[int, Callable[[Pdu], None]] = {
            Cmd.BIND_TRANSMITTER: self._bind,
            Cmd.BIND_RECEIVER: self._bind,
            Cmd.BIND_TRANSCEIVER: self._bind,
            Cmd.SUBMIT_SM: self._submit,
            Cmd.DELIVER_SM_RESP: self._deliver_resp,
            Cmd.ENQUIRE_LINK: self._enquire_link,
            Cmd.UNBIND: self._unbind,
            Cmd.ENQUIRE_LINK_RESP: self._enquire_link_resp,
            Cmd.UNBIND_RESP: self._ignore,
            Cmd.GENERIC_NACK: self._ignore,
        }

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport; nothing is sent until the ESME binds."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        high_water = self.runtime.config.write_high_water
        transport.set_write_buffer_limits(high=high_water)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Cap the kernel's share too: autotuned, it would hide megabytes from the mark.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, high_water)
            if self._arrivals is not None and enable_kernel_stamps(sock):
                self._read_stamped_from(transport, sock.fileno())

    def _read_stamped_from(self, transport: asyncio.Transport, fileno: int) -> None:
        """Read this connection with a :class:`StampedReader` instead of the transport.

        The reader gets a dup of the socket (the loop refuses a second reader on the
        transport's own descriptor); the transport still writes and closes.
        """
        transport.pause_reading()
        # CPython 3.11.0-3.11.2 (Debian 12's) registers a new transport's reader one callback
        # after connection_made even when connection_made paused it (fixed in 3.11.3: the
        # transport's _add_reader checks is_reading()); it would then read the submits this
        # reader must stamp. The toggle below runs after that registration and removes it; a
        # read already queued for it is cancelled with it (the loop cancels its handle).
        asyncio.get_running_loop().call_soon(_keep_paused, transport)
        self._reader_sock = socket.socket(fileno=os.dup(fileno))
        self._reader_sock.setblocking(False)
        self._reader = StampedReader(self._reader_sock, self.runtime.clock)
        self._resume_stamped()

    def _resume_stamped(self) -> None:
        if self._reader_sock is not None and not self._reading:
            asyncio.get_running_loop().add_reader(self._reader_sock.fileno(), self._read_ready)
            self._reading = True

    def _pause_stamped(self) -> None:
        if self._reader_sock is not None and self._reading:
            asyncio.get_running_loop().remove_reader(self._reader_sock.fileno())
            self._reading = False

    def _read_ready(self) -> None:
        reader, arrivals = self._reader, self._arrivals
        assert reader is not None and arrivals is not None
        for frame, at in reader.read():
            arrivals.put(self, frame, at)
        if reader.closed or reader.bad_length is not None:
            self._pause_stamped()
            if reader.bad_length is not None:
                arrivals.put(self, reader.bad_length, float("inf"))  # after what came before
            else:
                arrivals.put(self, b"", float("inf"))

    def take_frame(self, frame: bytes, at: float) -> None:
        """Handle one PDU that arrived at `at` (from the arrival queue, in arrival order); an
        empty frame is the peer's end of stream, a short one a broken command_length."""
        if self.state is BindState.CLOSED:
            return
        if not frame:
            if self._transport is not None:
                self._transport.close()
            return
        if len(frame) < HEADER_SIZE or HEADER.unpack_from(frame)[0] != len(frame):
            self._buffer += frame
            self._frame_round(self._buffer)  # frames nothing: answers the bad length
            return
        self._arrived_at = at
        try:
            self._handle(frame)
        finally:
            self._arrived_at = None

    def after_frames(self) -> None:
        """This round's PDUs are handled: answer them in one write, refill the window."""
        self._answer_round()

    def pause_writing(self) -> None:
        """The client stopped reading: stop reading its submits and sending it receipts.

        Every PDU read makes an answer, so reading on would only grow the buffer without bound.
        """
        self._write_paused = True
        self.runtime.write_pauses += 1
        if self._reader is not None:
            self._pause_stamped()
        elif self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        """The buffer drained below the low-water mark: read and deliver again."""
        self._write_paused = False
        if self._transport is not None and not self._transport.is_closing():
            if self._reader is not None:
                self._resume_stamped()
            else:
                self._transport.resume_reading()
        if self.state in RECEIVING and self.runtime.ready:
            self.runtime.pump()

    def data_received(self, data: bytes) -> None:
        """Frame, handle every whole PDU, answer in one write."""
        buffer = self._buffer
        buffer += data
        self._frame_round(buffer)
        self._answer_round()

    def _frame_round(self, buffer: bytearray) -> None:
        frames, bad_length = split_frames(buffer)
        for frame in frames:
            self._handle(frame)
            if self.state is BindState.CLOSED:
                break
        if bad_length is not None and self.state is not BindState.CLOSED:
            # SMPP 3.4 §3.2: command_length frames the stream; once it is wrong nothing after
            # it can be trusted, so answer generic_nack ESME_RINVCMDLEN and drop the link.
            self.runtime.malformed += 1
            sequence = HEADER.unpack_from(buffer)[3] if len(buffer) >= HEADER_SIZE else 0
            log.warning("%s: bad command_length %d, closing", self.runtime.name, bad_length)
            self._out.append(header_only(Cmd.GENERIC_NACK, CommandStatus.ESME_RINVCMDLEN, sequence))
            self._close_after_flush()

    def _answer_round(self) -> None:
        self.flush()
        if self._window_opened:
            # Acks freed window slots: refill them once per read, not once per ack.
            self._window_opened = False
            if self.runtime.ready:
                self.runtime.pump()

    def connection_lost(self, exc: Exception | None) -> None:
        """Unregister, and put receipts that were never acknowledged back in the queue."""
        self._leave()
        self.state = BindState.CLOSED
        self._transport = None
        self._pause_stamped()
        if self._reader_sock is not None:
            self._reader_sock.close()
            self._reader_sock = None
        if self._on_close is not None:
            self._on_close(self)

    # --- writing --------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything queued, in one call."""
        if self._out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(self._out))
        self._out.clear()

    def write_later(self, delay: float, data: bytes) -> None:
        """Write `data` after `delay` seconds (submit latency)."""

        def send() -> None:
            if self._transport is not None and not self._transport.is_closing():
                self._transport.write(data)

        asyncio.get_running_loop().call_later(delay, send)

    def close(self) -> None:
        """Drop the connection (server stop)."""
        if self._transport is not None:
            self._transport.close()

    def _close_after_flush(self) -> None:
        self.flush()
        self._leave()
        self.state = BindState.CLOSED
        if self._transport is not None:
            self._transport.close()  # asyncio sends what is buffered before closing

    # --- dispatch -------------------------------------------------------------------------

    def _handle(self, frame: bytes) -> None:
        try:
            pdu = decode(frame)
        except PduError as exc:
            self._malformed(frame, exc)
            return
        command_id = pdu.command_id
        if command_id not in ALLOWED[self.state]:
            self._wrong_state(pdu)
            return
        self._handlers[command_id](pdu)

    def _malformed(self, frame: bytes, exc: PduError) -> None:
        self.runtime.malformed += 1
        _, command_id, _, sequence = HEADER.unpack_from(frame)
        log.info("%s: malformed PDU 0x%08X: %s", self.runtime.name, command_id, exc.detail)
        # SMPP 3.4 §4.3: generic_nack answers a PDU whose header or body cannot be used.
        self._out.append(header_only(Cmd.GENERIC_NACK, exc.status, sequence))

    def _wrong_state(self, pdu: Pdu) -> None:
        self.runtime.errors += 1
        # §5.1.3: a second bind is ESME_RALYBND, anything else out of state ESME_RINVBNDSTS.
        bind = pdu.command_id in BIND_COMMANDS
        status = CommandStatus.ESME_RALYBND if bind else CommandStatus.ESME_RINVBNDSTS
        if pdu.command_id & RESPONSE_BIT:
            self._out.append(header_only(Cmd.GENERIC_NACK, status, pdu.sequence))
        else:
            self._out.append(header_only(pdu.command_id | RESPONSE_BIT, status, pdu.sequence))

    # --- handlers -------------------------------------------------------------------------

    def _bind(self, pdu: Pdu) -> None:
        body = pdu.body
        assert isinstance(body, Bind)
        config = self.runtime.config
        resp_id = pdu.command_id | RESPONSE_BIT
        if body.system_id != config.system_id:
            status = CommandStatus.ESME_RINVSYSID
        elif body.password != config.password:
            status = CommandStatus.ESME_RINVPASWD
        elif self.runtime.mode is Mode.DOWN or len(self.runtime.bound) >= config.max_binds:
            status = CommandStatus.ESME_RBINDFAIL
        else:
            status = CommandStatus.ESME_ROK
        if status != CommandStatus.ESME_ROK:
            self.runtime.errors += 1
            # §4.1.2: the bind_resp body is not returned when command_status is non-zero.
            self._out.append(header_only(resp_id, status, pdu.sequence))
            return
        self.state = BIND_TARGET[pdu.command_id]
        self.system_id = body.system_id
        self.runtime.bound.append(self)
        if config.enquire_link_s is not None:
            self._next_enquire = self.runtime.clock() + config.enquire_link_s
        if self.state in RECEIVING:
            self.runtime.receivers.append(self)
        resp = Pdu(resp_id, pdu.sequence, body=BindResp("simulator", dict(_SC_INTERFACE_VERSION)))
        self._out.append(encode(resp))
        if self.state in RECEIVING and self.runtime.ready:
            self.flush()  # the bind_resp must precede queued receipts
            self.runtime.pump()

    def _submit(self, pdu: Pdu) -> None:
        runtime = self.runtime
        if runtime.mode in SUBMIT_FAULT_STATUS:
            runtime.errors += 1
            status = SUBMIT_FAULT_STATUS[runtime.mode]
            if status is not None:
                self._out.append(header_only(Cmd.SUBMIT_SM_RESP, status, pdu.sequence))
            return
        body = pdu.body
        assert isinstance(body, ShortMessage)
        rule = runtime.rule_for(body.destination_addr) if runtime.rules else None
        if rule is not None and rule.submit_status is not None:
            runtime.errors += 1
            self._out.append(header_only(Cmd.SUBMIT_SM_RESP, rule.submit_status, pdu.sequence))
            return
        if runtime.queues:
            delay = runtime.admit_queued() + runtime.submit_delay()
        elif runtime.admit(self, self._arrived_at):
            delay = runtime.submit_delay()
        else:
            self._out.append(header_only(Cmd.SUBMIT_SM_RESP, runtime.throttle_status, pdu.sequence))
            return
        message_id = runtime.ids.next()
        resp = message_id_resp(Cmd.SUBMIT_SM_RESP, pdu.sequence, message_id.encode("ascii"))
        if self._audit is not None:
            arrived = self._arrived_at
            ago = 0.0 if arrived is None else max(0.0, runtime.clock() - arrived)
            self._audit(runtime.name, body, message_id, ago)
        # Before the resp is queued: a receipt that races ahead goes out first (on this link).
        runtime.accept(body, message_id, delay, rule, self if self.state in RECEIVING else None)
        if delay:
            self.write_later(delay, resp)
        else:
            self._out.append(resp)

    def _deliver_resp(self, pdu: Pdu) -> None:
        item = self._in_flight.pop(pdu.sequence, None)
        if item is None:
            return  # an answer to nothing we sent (late, or duplicated): nothing to do
        if pdu.status == CommandStatus.ESME_ROK:
            self.runtime.acked(item)
        else:
            self.runtime.refused(item)
        self._window_opened = True

    def _enquire_link(self, pdu: Pdu) -> None:
        self._out.append(header_only(Cmd.ENQUIRE_LINK_RESP, CommandStatus.ESME_ROK, pdu.sequence))

    def _enquire_link_resp(self, pdu: Pdu) -> None:
        self._enquire_pending.discard(pdu.sequence)

    def enquire_if_due(self, now: float) -> None:
        """Send the SMSC's own enquire_link (SMPP 3.4 §4.11) when the interval has passed.

        One still unanswered from the interval before is counted as unanswered.
        """
        interval = self.runtime.config.enquire_link_s
        if interval is None or self.state not in BOUND or now < self._next_enquire:
            return
        self._next_enquire = now + interval
        runtime = self.runtime
        if self._enquire_pending:
            runtime.enquire_links_unanswered += len(self._enquire_pending)
            self._enquire_pending.clear()
        sequence = self._next_sequence()
        self._enquire_pending.add(sequence)
        runtime.enquire_links_sent += 1
        self._out.append(header_only(Cmd.ENQUIRE_LINK, CommandStatus.ESME_ROK, sequence))
        self.flush()

    def _unbind(self, pdu: Pdu) -> None:
        self.runtime.unbinds += 1
        self._out.append(header_only(Cmd.UNBIND_RESP, CommandStatus.ESME_ROK, pdu.sequence))
        self._close_after_flush()

    def _ignore(self, pdu: Pdu) -> None:
        return None

    # --- receipts (ReceiptSink) -----------------------------------------------------------

    def has_room(self) -> bool:
        """True while fewer than the receipt window are awaiting deliver_sm_resp."""
        return (
            len(self._in_flight) < self._window
            and self._transport is not None
            and not self._write_paused
        )

    def send_deliver(self, item: Deliverable, done_at: float) -> None:
        """Queue a deliver_sm for `item` with this session's next sequence number."""
        sequence = self._next_sequence()
        self._in_flight[sequence] = item
        self._out.append(encode(item.to_pdu(done_at, sequence)))

    def _next_sequence(self) -> int:
        self._sequence = self._sequence % 0x7FFFFFFF + 1  # §3.2: 0x00000001..0x7FFFFFFF
        return self._sequence

    def _leave(self) -> None:
        """Stop counting as a bind; unacknowledged receipts go back to the carrier."""
        runtime = self.runtime
        if self in runtime.bound:
            runtime.bound.remove(self)
        if self in runtime.receivers:
            runtime.receivers.remove(self)
        if self._in_flight:
            runtime.requeue(list(self._in_flight.values()))
            self._in_flight.clear()


def _keep_paused(transport: asyncio.Transport) -> None:
    """Take the transport's reader off the loop again, whatever registered it since."""
    if not transport.is_closing():
        transport.resume_reading()
        transport.pause_reading()
