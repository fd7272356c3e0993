"""A lean HTTP/1.1 load generator: keep-alive connections on asyncio protocols, no client library.

The load generator shares the machine's two cores with the server it measures, so it must cost
little per request: aiohttp's client spends about as much CPU per request as the server does.
Here a request is prebuilt bytes and a response is parsed only as far as its status and
`Content-Length` (our API never answers chunked). One request in flight per connection.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

_END = b"\r\n\r\n"


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `request` sends prebuilt bytes and waits for one response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(_END)
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
                break
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        status = int(head[9:12])
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        waiter, self.waiter = self.waiter, None
        waiter.set_result((status, body))

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request and return (status, body)."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


def build_request(
    method: str, path: str, host: str, api_key: str, body: bytes | None = None
) -> bytes:
    """The bytes of one keep-alive request with a bearer key (and a JSON body)."""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host}",
        f"Authorization: Bearer {api_key}",
    ]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


@dataclass
class LoadFigures:
    """What a timed run gave."""

    responses: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        """Responses per second."""
        return self.responses / self.seconds if self.seconds else 0.0


# next request of a connection, given the previous response (None at the start)
NextRequest = Callable[[tuple[int, bytes] | None], bytes]


async def run_load(
    host: str,
    port: int,
    connections: int,
    next_request: Callable[[int], NextRequest],
    seconds: float,
) -> LoadFigures:
    """`connections` clients each sending what `next_request(i)` makes, for `seconds`."""
    loop = asyncio.get_running_loop()
    figures = LoadFigures()
    opened = [
        (await loop.create_connection(_Connection, host, port))[1] for _ in range(connections)
    ]
    deadline = time.perf_counter() + seconds

    async def client(connection: _Connection, make: NextRequest) -> None:
        previous: tuple[int, bytes] | None = None
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            previous = await connection.request(make(previous))
            figures.latencies.append(time.perf_counter() - started)
            figures.statuses[previous[0]] += 1
            figures.responses += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(c, next_request(i)) for i, c in enumerate(opened)))
    figures.seconds = time.perf_counter() - started
    for connection in opened:
        assert connection.transport is not None
        connection.transport.close()
    return figures


@dataclass
class Answer:
    """One request's fate: status (0: connection error), body, wall-clock send and answer."""

    index: int
    status: int
    body: bytes
    sent_at: float
    answered_at: float


async def send_each(
    host: str,
    port: int,
    connections: int,
    requests: list[bytes],
    rate: float | None = None,
    on_answer: Callable[[Answer], None] | None = None,
) -> list[Answer]:
    """Send every request once over `connections` keep-alive connections; answers by index.

    With `rate` (requests per second) the load is open-loop: request i goes out no earlier
    than start + i / rate, however the server keeps up. A connection that breaks answers its
    request with status 0 and is opened again (the request is not retried).
    """
    loop = asyncio.get_running_loop()
    answers: list[Answer | None] = [None] * len(requests)
    cursor = iter(range(len(requests)))
    start = time.perf_counter()
    wall_start = time.time()

    async def open_one() -> _Connection:
        return (await loop.create_connection(_Connection, host, port))[1]

    async def client() -> None:
        connection: _Connection | None = None
        for index in cursor:
            if rate:
                wait = start + index / rate - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
            sent = wall_start + (time.perf_counter() - start)
            try:
                connection = connection or await open_one()
                status, body = await connection.request(requests[index])
            except OSError:
                status, body = 0, b""
                if connection is not None and connection.transport is not None:
                    connection.transport.close()
                connection = None
            answer = Answer(index, status, body, sent, wall_start + (time.perf_counter() - start))
            answers[index] = answer
            if on_answer is not None:
                on_answer(answer)
        if connection is not None and connection.transport is not None:
            connection.transport.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return [a for a in answers if a is not None]
