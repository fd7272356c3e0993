"""A status-callback receiver for benches: its own process, on 127.0.0.1, recording every event.

`POST /cb` takes one event (`{"id", "status", ...}`) or a batch (`{"events": [...]}`) and answers
204; each event is kept as (id, status, wall-clock seconds it arrived). `GET /stats` gives the
counts (events, messages with a final event); `GET /events` gives them all. Run by bench/e2e.py:

    .venv/bin/python bench/receiver.py --port 18080

It stands in for a client's web server, whose CPU a client pays, not us: like the load
generator (`bench/rawhttp.py`) it is a lean HTTP/1.1 keep-alive server on asyncio's protocol
API (uvloop), ~3 times less CPU per POST than aiohttp's server, so more of the two cores
measure the gateway. It speaks only what the dispatcher sends: `Content-Length` bodies, no
chunked encoding, no pipelining beyond what arrives in order.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import orjson

FINAL = frozenset({"delivered", "undelivered", "expired", "failed", "rejected", "canceled"})
NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


class Book:
    """Every event received, and the messages with a final one."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, float]] = []
        self.finals: set[str] = set()

    def record(self, body: bytes, arrived: float) -> None:
        data = orjson.loads(body)
        events = data["events"] if isinstance(data, dict) and "events" in data else [data]
        for event in events:
            self.events.append((event["id"], event["status"], arrived))
            if event["status"] in FINAL:
                self.finals.add(event["id"])


def _json(status: str, payload: object) -> bytes:
    body = orjson.dumps(payload)
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Receiver(asyncio.Protocol):
    """One keep-alive connection: requests parsed as they arrive, answered in order."""

    def __init__(self, book: Book) -> None:
        self.book = book
        self.buffer = b""
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.answer(head.split(b" ", 2), body)

    def answer(self, request_line: list[bytes], body: bytes) -> None:
        assert self.transport is not None
        method, path = request_line[0], request_line[1] if len(request_line) > 1 else b""
        if method == b"POST" and path == b"/cb":
            self.book.record(body, time.time())
            self.transport.write(NO_CONTENT)
        elif method == b"GET" and path == b"/stats":
            stats = {"events": len(self.book.events), "final_messages": len(self.book.finals)}
            self.transport.write(_json("200 OK", stats))
        elif method == b"GET" and path == b"/events":
            self.transport.write(_json("200 OK", self.book.events))
        else:
            self.transport.write(_json("404 Not Found", {"error": "not found"}))


async def serve(port: int) -> None:
    """Serve on 127.0.0.1:`port` until cancelled."""
    book = Book()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Receiver(book), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency
        pass
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
