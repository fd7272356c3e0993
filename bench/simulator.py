"""Simulator throughput: submit_sm/s from a windowed raw client over 127.0.0.1.

The simulator runs as its own process (`python -m simulators`), so client and server do not
share a GIL. Each run binds `--connections` transceivers, keeps `--window` submit_sm in flight
on each, and answers every receipt. Printed: submit_sm/s with receipts off and on (and the
receipts/s seen in the second run). The last line is one JSON object.

    .venv/bin/python bench/simulator.py [--messages 100000] [--window 100] [--connections 1]
"""

from __future__ import annotations

import argparse
import json
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from simulators.pdu import Bind, Cmd, Pdu, ShortMessage, encode

ROOT = Path(__file__).resolve().parent.parent
HEADER = struct.Struct(">IIII")

SCENARIO = """seed = 1

[[carriers]]
name = "alpha"
port = 0
system_id = "alpha"
password = "alphapw"
max_binds = 64
mps = 100000000
receipts = {receipts}
receipt_delay_ms = 0
receipt_window = 1000
"""


@dataclass
class Run:
    """Figures of one run."""

    messages: int
    seconds: float
    receipts: int
    receipts_seconds: float
    refused: int

    @property
    def submits_per_second(self) -> float:
        """submit_sm answered per second."""
        return self.messages / self.seconds

    @property
    def receipts_per_second(self) -> float:
        """Receipts received per second (0 when off)."""
        return self.receipts / self.receipts_seconds if self.receipts else 0.0


class Connection:
    """One bound transceiver with a window of submit_sm in flight."""

    def __init__(self, port: int, quota: int, window: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(encode(Pdu(Cmd.BIND_TRANSCEIVER, 1, body=Bind("alpha", "alphapw"))))
        self.buffer = b""
        while len(self.buffer) < 16 or len(self.buffer) < HEADER.unpack_from(self.buffer)[0]:
            self.buffer += self.sock.recv(4096)
        length, _, status, _ = HEADER.unpack_from(self.buffer)
        assert status == 0, f"bind failed: 0x{status:08X}"
        self.buffer = self.buffer[length:]
        self.sock.setblocking(False)
        template = encode(
            Pdu(
                Cmd.SUBMIT_SM,
                0,
                body=ShortMessage(
                    "Switchboard", "447700900123", b"Your code is 123456", registered_delivery=1
                ),
            )
        )
        self.head, self.tail = template[:12], template[16:]  # sequence patched per PDU
        self.quota = quota
        self.window = window
        self.sent = 0
        self.answered = 0
        self.refused = 0
        self.receipts = 0
        self.sequence = 1
        self.last_receipt = 0.0

    def fill(self) -> None:
        """Send submit_sm until the window is full or the quota is spent."""
        count = min(self.window - (self.sent - self.answered), self.quota - self.sent)
        if count <= 0:
            return
        parts = []
        head, tail = self.head, self.tail
        for _ in range(count):
            self.sequence += 1
            parts.append(head + self.sequence.to_bytes(4, "big") + tail)
        self.sock.sendall(b"".join(parts))
        self.sent += count

    def read(self) -> None:
        """Consume responses and receipts; acknowledge receipts in one write."""
        try:
            chunk = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        if not chunk:
            raise ConnectionError("simulator closed the connection")
        data = self.buffer + chunk
        pos, end = 0, len(data)
        acks = []
        while end - pos >= 16:
            length, command_id, status, sequence = HEADER.unpack_from(data, pos)
            if end - pos < length:
                break
            if command_id == Cmd.SUBMIT_SM_RESP:
                self.answered += 1
                self.refused += status != 0
            elif command_id == Cmd.DELIVER_SM:
                self.receipts += 1
                acks.append(HEADER.pack(17, Cmd.DELIVER_SM_RESP, 0, sequence) + b"\x00")
            pos += length
        self.buffer = data[pos:]
        if acks:
            self.last_receipt = time.perf_counter()
            self.sock.setblocking(True)
            self.sock.sendall(b"".join(acks))
            self.sock.setblocking(False)


def start_simulator(receipts: bool, directory: Path) -> tuple[subprocess.Popen[str], int]:
    """Start `python -m simulators` on an ephemeral port; returns the process and the port."""
    scenario = directory / f"bench-{receipts}.toml"
    scenario.write_text(SCENARIO.format(receipts=str(receipts).lower()))
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "simulators", "--scenario", str(scenario), "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    match = re.match(r"alpha: smpp://127\.0\.0\.1:(\d+) ", process.stdout.readline())
    if not match:
        process.kill()
        raise RuntimeError("simulator did not start")
    return process, int(match.group(1))


def stop_simulator(process: subprocess.Popen[str]) -> dict[str, dict[str, int]]:
    """SIGTERM, wait, and return its final stats."""
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    stats: dict[str, dict[str, int]] = json.loads(out.strip().splitlines()[-1])
    return stats


def drive(port: int, messages: int, window: int, connections: int, receipts: bool) -> Run:
    """Submit `messages` split over `connections`, each with `window` in flight."""
    per = messages // connections
    clients = [Connection(port, per, window) for _ in range(connections)]
    selector = selectors.DefaultSelector()
    for client in clients:
        selector.register(client.sock, selectors.EVENT_READ, client)
    total = per * connections
    start = time.perf_counter()
    for client in clients:
        client.fill()
    submits_done = 0.0
    deadline = start + 120
    while time.perf_counter() < deadline:
        for key, _ in selector.select(timeout=1.0):
            client = key.data
            client.read()
            client.fill()
        answered = sum(c.answered for c in clients)
        if answered == total and not submits_done:
            submits_done = time.perf_counter()
        if submits_done and (not receipts or sum(c.receipts for c in clients) >= total):
            break
    got = sum(c.receipts for c in clients)
    last = max(c.last_receipt for c in clients)
    for client in clients:
        client.sock.close()
    refused = sum(c.refused for c in clients)
    return Run(total, submits_done - start, got, (last - start) if got else 0.0, refused)


def main() -> None:
    """Run receipts off, then on, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--connections", type=int, default=1)
    args = parser.parse_args()
    results: dict[str, object] = {
        "messages": args.messages,
        "window": args.window,
        "connections": args.connections,
    }
    with tempfile.TemporaryDirectory() as directory:
        for receipts in (False, True):
            process, port = start_simulator(receipts, Path(directory))
            try:
                drive(port, min(5000, args.messages), args.window, args.connections, receipts)
                run = drive(port, args.messages, args.window, args.connections, receipts)
            finally:
                stats = stop_simulator(process)
            label = "receipts_on" if receipts else "receipts_off"
            print(
                f"{label:13s} submit_sm/s {run.submits_per_second:9.0f}"
                f"  receipts/s {run.receipts_per_second:9.0f}"
                f"  ({run.messages} submits, {run.refused} refused, {run.receipts} receipts,"
                f" simulator acked {stats['alpha']['receipts_acked']})"
            )
            results[f"{label}_submit_sm_per_s"] = round(run.submits_per_second)
            results[f"{label}_refused"] = run.refused
            if receipts:
                results["receipts_per_s"] = round(run.receipts_per_second)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
