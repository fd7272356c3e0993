"""The API's HTTP server: aiohttp's, plus a deadline for a request's line and headers.

aiohttp closes a connection that sends nothing for `keepalive_timeout` (75 s, from its open or
from its last response), and our handlers answer 408 to a body slower than
`api.accept.BODY_TIMEOUT`; but a client that starts a request and then dribbles its request
line and headers, a byte every few seconds ("slowloris"), holds its connection for the whole
75 s, and a few thousand of them hold every descriptor. So each connection gets a deadline:
from the first byte of a request while the server waits for one, the headers must be complete
within `header_timeout` seconds, or the connection is closed (no answer: there is no request
to answer). A keep-alive client idle between requests sends no byte, so it has no deadline
but aiohttp's keepalive; a request whose headers are in is past it, so a slow body still gets
its 408. The check costs a comparison per `data_received` and one timer per request whose
headers do not come in one read (most come whole in the first packet: no timer at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

KEEPALIVE_TIMEOUT = 75.0  # aiohttp's run_app default, kept
SHUTDOWN_TIMEOUT = 60.0  # seconds open requests may take to finish on SIGTERM (run_app's)


class HeaderDeadline(asyncio.Protocol):
    """One connection: aiohttp's `RequestHandler`, closed when a request's headers are late.

    "Headers complete" is aiohttp's parser producing a message (the handler's `_request_count`
    moving); "waiting for the next request" is the handler's `_waiter` pending (it handled
    every message it parsed). Both are aiohttp internals: the tests that cut a slow
    client off and keep a normal one would fail if an aiohttp release renamed them.
    """

    def __init__(
        self, inner: RequestHandler, timeout: float, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._inner = inner
        self._timeout = timeout
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        # past a request's headers until the handler waits for the next one (a new
        # connection's first bytes are headers: its handler's task may not have started yet)
        self._in_request = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Hand the connection to aiohttp's handler."""
        self._transport = cast(asyncio.Transport, transport)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        """Feed aiohttp; start the deadline on a request's first byte, end it on its headers."""
        waiter = getattr(self._inner, "_waiter", None)
        if waiter is not None and not waiter.done():
            self._in_request = False  # the handler waits for the next request
        before = getattr(self._inner, "_request_count", 0)
        self._inner.data_received(data)
        if self._in_request:
            return  # a body, a WebSocket frame, or bytes while a response is written
        if getattr(self._inner, "_request_count", 0) != before:
            self._in_request = True  # the headers are in
            self._stop()
        elif self._deadline is None:
            self._deadline = self._loop.call_later(self._timeout, self._expire)

    def _stop(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self._transport is not None and not self._transport.is_closing():
            log.debug("closing a connection whose request headers took over %g s", self._timeout)
            self._transport.close()

    def eof_received(self) -> bool | None:
        """As aiohttp's handler (which keeps the transport open: its writer may still write)."""
        self._inner.eof_received()
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        """End the deadline, then aiohttp's handler."""
        self._stop()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        """Flow control, to aiohttp's handler."""
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        """Flow control, to aiohttp's handler."""
        self._inner.resume_writing()


class _DeadlineFactory:
    """aiohttp's `Server`, each connection's protocol wrapped in a `HeaderDeadline`."""

    def __init__(self, server: web.Server, timeout: float) -> None:
        self._server = server
        self._timeout = timeout

    def __call__(self) -> HeaderDeadline:
        return HeaderDeadline(self._server(), self._timeout, asyncio.get_running_loop())

    def __getattr__(self, name: str) -> Any:  # connections, pre_shutdown, shutdown, …
        return getattr(self._server, name)


class DeadlineRunner(web.AppRunner):
    """An `AppRunner` whose connections have a header deadline (none when `timeout` is 0)."""

    def __init__(self, app: web.Application, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout = header_timeout

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        if self._header_timeout <= 0:
            return server
        return cast(web.Server, _DeadlineFactory(server, self._header_timeout))


def run_api(
    app: web.Application,
    *,
    host: str,
    port: int,
    reuse_port: bool,
    header_timeout: float,
    loop: asyncio.AbstractEventLoop,
    announce: Callable[[str], None],
) -> None:
    """Serve `app` until SIGTERM or SIGINT, as `web.run_app` does (same keepalive and
    shutdown timeouts, same drain), with the header deadline."""

    async def serve() -> None:
        runner = DeadlineRunner(
            app,
            header_timeout,
            handle_signals=True,
            access_log=None,
            keepalive_timeout=KEEPALIVE_TIMEOUT,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
            await site.start()
            announce(f"======== Running on {site.name} ========")
            while True:
                await asyncio.sleep(3600)
        finally:
            await runner.cleanup()

    asyncio.set_event_loop(loop)
    main = loop.create_task(serve())
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        if not main.done():
            main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main)
        rest = asyncio.all_tasks(loop)
        for task in rest:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
