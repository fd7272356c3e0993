"""A real callback receiver for tests: an aiohttp server on 127.0.0.1 in a thread of its own.

It records every POST (body, timestamp, signature), can answer slowly or with an error, can go
down (the port closed: connections refused) and come back up on the same port, and counts the
most POSTs it had in flight at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from switchboard.embedded import free_port


@dataclass(frozen=True)
class Received:
    """One POST the receiver got."""

    path: str
    body: bytes
    timestamp: str
    signature: str
    at: float  # monotonic

    def json(self) -> Any:
        """The decoded body."""
        return orjson.loads(self.body)


class CallbackReceiver:
    """Start with `start()`, stop with `stop()`; only ever listens on 127.0.0.1."""

    def __init__(self, delay: float = 0.0, status: int = 204, location: str | None = None) -> None:
        self.port = free_port()
        self.delay = delay
        self.status = status
        self.location = location  # sent as `Location` (to answer with a redirect)
        self.hits = 0  # every request, whatever the answer
        self.received: list[Received] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/hooks/sms") -> str:
        """A URL on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        with self._lock:
            self.hits += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            body = await request.read()
            if self.delay:
                await asyncio.sleep(self.delay)
            if 200 <= self.status < 300:
                with self._lock:
                    self.received.append(
                        Received(
                            request.path,
                            body,
                            request.headers.get("X-Switchboard-Timestamp", ""),
                            request.headers.get("X-Switchboard-Signature", ""),
                            time.monotonic(),
                        )
                    )
            headers = {"Location": self.location} if self.location else None
            return web.Response(status=self.status, headers=headers)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _up(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def _down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _call(self, coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def start(self) -> CallbackReceiver:
        """Start the thread and listen."""
        self._thread.start()
        self._call(self._up())
        return self

    def down(self) -> None:
        """Close the port: callbacks now fail to connect."""
        self._call(self._down())

    def up(self) -> None:
        """Listen again on the same port."""
        self._call(self._up())

    def stop(self) -> None:
        """Close the port and stop the thread."""
        self._call(self._down())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def events(self) -> list[dict[str, Any]]:
        """Every event received, single or batched, in arrival order."""
        out: list[dict[str, Any]] = []
        with self._lock:
            received = list(self.received)
        for r in received:
            body = r.json()
            out.extend(body.get("events", [body]))
        return out
