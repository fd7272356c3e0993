"""Fixtures: the real carrier simulator on a background thread, a raw fake SMSC, polling."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from carriers.smpp import codec
from carriers.smpp.types import Endpoint
from simulators import CarrierSim, Scenario, SimulatorThread

SimFactory = Callable[..., SimulatorThread]
GOOD_PASSWORD = "alphapw"  # noqa: S105  (the simulator's test credential)
WRONG_PASSWORD = "wrong"  # noqa: S105  (refused on purpose)


def carrier(**overrides: Any) -> CarrierSim:
    """The simulated carrier `alpha` (password `alphapw`), receipts fast, no randomness."""
    fields: dict[str, Any] = {
        "name": "alpha",
        "system_id": "alpha",
        "password": GOOD_PASSWORD,
        "mps": 100_000,
        "receipt_delay_ms": 0,
        **overrides,
    }
    return CarrierSim(**fields)


def endpoint(port: int, password: str = GOOD_PASSWORD) -> Endpoint:
    """An endpoint for `alpha` on `port`."""
    return Endpoint("alpha", "127.0.0.1", port, "alpha", password)


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll `predicate` until it holds (condition-based, not a fixed sleep; it returns as soon
    as it holds, so the default deadline is generous for a loaded host)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.005)


@pytest.fixture
def start_sim() -> Iterator[SimFactory]:
    """Start simulators for carrier configs; every one is stopped after the test."""
    started: list[SimulatorThread] = []

    def start(*carriers: CarrierSim) -> SimulatorThread:
        thread = SimulatorThread(Scenario(seed=7, carriers=list(carriers)))
        thread.start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.stop()


class FakeSmsc:
    """A raw one-connection SMSC for what the simulator never sends: MO, odd PDUs, unbind."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._conn: socket.socket | None = None
        self._frames = codec.FrameBuffer()
        self._received: list[codec.Pdu] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        self._conn = conn
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            for frame in self._frames.feed(data):
                pdu = codec.decode(frame)
                with self._lock:
                    self._received.append(pdu)
                if pdu.command == "unbind":
                    self.send(codec.response("unbind_resp", pdu.sequence))
                if pdu.command == "bind_transceiver":
                    self.send(
                        codec.encode(
                            "bind_transceiver_resp", pdu.sequence, fields={"system_id": "fake"}
                        )
                    )

    def send(self, frame: bytes) -> None:
        """Write raw octets to the connected ESME."""
        assert self._conn is not None
        self._conn.sendall(frame)

    def received(self, command: str) -> list[codec.Pdu]:
        """PDUs of `command` the ESME sent so far."""
        with self._lock:
            return [p for p in self._received if p.command == command]

    def close(self) -> None:
        """Drop the connection and stop listening."""
        if self._conn is not None:
            self._conn.close()
        self._listener.close()
        self._thread.join(timeout=2)


@pytest.fixture
def fake_smsc() -> Iterator[FakeSmsc]:
    """A FakeSmsc, closed after the test."""
    smsc = FakeSmsc()
    yield smsc
    smsc.close()
