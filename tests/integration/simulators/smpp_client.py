"""A tiny blocking SMPP client for tests, built on the simulator's own codec."""

from __future__ import annotations

import socket
import struct
from types import TracebackType

from simulators.pdu import (
    Bind,
    Cmd,
    CommandStatus,
    Pdu,
    ShortMessage,
    decode,
    encode,
    header_only,
)


class RawClient:
    """One TCP connection; send PDUs, read PDUs, nothing clever."""

    def __init__(self, port: int, timeout: float = 5.0, receive_buffer: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:  # before connect, so the TCP window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""
        self._sequence = 0

    def next_sequence(self) -> int:
        """A fresh sequence number."""
        self._sequence += 1
        return self._sequence

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are."""
        self.sock.sendall(data)

    def send(self, pdu: Pdu) -> None:
        """Encode and write one PDU."""
        self.sock.sendall(encode(pdu))

    def _read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the simulator")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def read(self) -> Pdu:
        """The next PDU from the simulator."""
        head = self._read_exact(4)
        (length,) = struct.unpack(">I", head)
        return decode(head + self._read_exact(length - 4))

    def closed_by_peer(self) -> bool:
        """True when the simulator has closed the connection (after any buffered data)."""
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False

    def bind(self, system_id: str, password: str, command_id: int = Cmd.BIND_TRANSCEIVER) -> Pdu:
        """Send a bind and return its response."""
        self.send(Pdu(command_id, self.next_sequence(), body=Bind(system_id, password)))
        return self.read()

    def submit(
        self, destination: str = "447700900123", text: bytes = b"hello", **fields: int
    ) -> Pdu:
        """Send one submit_sm (receipt requested unless told otherwise) and return the PDU sent."""
        body = ShortMessage("Switchboard", destination, text, registered_delivery=1)
        for name, value in fields.items():
            setattr(body, name, value)
        pdu = Pdu(Cmd.SUBMIT_SM, self.next_sequence(), body=body)
        self.send(pdu)
        return pdu

    def ack(self, deliver: Pdu, status: int = CommandStatus.ESME_ROK) -> None:
        """Answer a deliver_sm."""
        self.send(Pdu(Cmd.DELIVER_SM_RESP, deliver.sequence, status))

    def enquire_link(self) -> Pdu:
        """Round-trip one enquire_link."""
        self.send_raw(header_only(Cmd.ENQUIRE_LINK, 0, self.next_sequence()))
        return self.read()

    def close(self) -> None:
        """Close the socket without unbinding (a dropped session)."""
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
