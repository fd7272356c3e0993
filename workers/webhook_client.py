"""A lean pooled keep-alive HTTP/1.1 client for webhook POSTs, on asyncio and httptools.

The callback path POSTs one small JSON body per status change, thousands a second, from the
send workers. aiohttp's client spent ~0.116 ms of CPU on each (request object, header
multidicts, auto headers, payload writer, response object); this client writes one pre-built
request and parses the answer with httptools (llhttp, C), which is all a webhook needs.

- One pool of idle connections per origin (scheme, host, port); a connection is reused while
  the server keeps it alive and it was idle less than `keepalive` seconds.
- A request on a reused connection that the server had closed meanwhile (no byte of answer)
  is tried once more on a new connection, as browsers and aiohttp do.
- Host names are resolved through the caller's resolver (the SSRF guard checks every address
  there) and the connection goes to an address it returned; literal addresses are not resolved
  (the caller checks them before). HTTPS uses the system's trust store and the host name.
- Redirects are not followed (the status is returned as is); the answer's body is read and
  dropped, and one larger than `max_body` closes the connection.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import httptools
from aiohttp.abc import AbstractResolver
from yarl import URL

from messaging import numeric_host


class WebhookError(OSError):
    """The POST did not get a complete HTTP answer (connection, protocol or size)."""


@dataclass(frozen=True)
class _Target:
    origin: tuple[str, str, int]  # scheme, host, port
    head: bytes  # request line and Host header
    literal: bool  # the host is an address: connect to it without resolving


def _target(url: str) -> _Target:
    parsed = URL(url)
    scheme, host = parsed.scheme, parsed.raw_host
    if scheme not in ("http", "https") or not host:
        raise WebhookError(f"not an http(s) URL: {url!r}")
    port = parsed.port or (443 if scheme == "https" else 80)
    default = port == (443 if scheme == "https" else 80)
    literal = numeric_host(host) is not None
    shown = f"[{host}]" if ":" in host else host
    authority = shown if default else f"{shown}:{port}"
    path = parsed.raw_path_qs or "/"
    head = f"POST {path} HTTP/1.1\r\nHost: {authority}\r\n".encode("ascii")
    return _Target((scheme, host, port), head, literal)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer parsed by httptools."""

    def __init__(self, max_body: int) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._max_body = max_body
        self._body = 0
        self._status = 0
        self._answer: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = False
        self.used = False  # has answered a request before: may have been closed by the server
        self.idle_since = 0.0
        self.heard = False  # some byte of the current answer arrived

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._answer is None:  # bytes nobody asked for: the stream cannot be trusted
            self.close()
            return
        self.heard = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(WebhookError(f"bad HTTP answer: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._status and self._answer is not None and not self._answer.done():
            self._answer.set_result(self._status)  # a body delimited by the close
        self._fail(WebhookError("connection closed before the answer"))

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body += len(body)
        if self._body > self._max_body:
            self._fail(WebhookError("answer body too large"))

    def on_message_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(self._parser.get_status_code())

    def _fail(self, error: WebhookError) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)
        self.close()

    def close(self) -> None:
        """Close the socket (the pool drops a closed connection)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def request(self, data: bytes, deadline: float) -> int:
        """Write `data` (a whole request) and wait for the answer's status until `deadline`
        (loop time; a timer, cheaper than a timeout scope per request)."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._answer = loop.create_future()
        self._body = self._status = 0
        self.heard = self.keep_alive = False
        timer = loop.call_at(deadline, self._expire)
        self.transport.write(data)
        try:
            return await self._answer
        finally:
            timer.cancel()
            self._answer = None
            self.used = True

    def _expire(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(TimeoutError("no answer in time"))
        self.close()


class WebhookClient:
    """POSTs bodies to URLs over pooled keep-alive connections; one instance per event loop."""

    def __init__(
        self,
        resolver: AbstractResolver,
        timeout: float = 10.0,
        keepalive: float = 30.0,
        max_body: int = 1 << 20,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`resolver` resolves host names (the SSRF guard wraps it); `timeout` bounds a whole
        POST (connect, write, answer); `tls` checks HTTPS servers (the system's trust store by
        default)."""
        self._resolver = resolver
        self._timeout = timeout
        self._keepalive = keepalive
        self._max_body = max_body
        self._idle: dict[tuple[str, str, int], list[_Connection]] = defaultdict(list)
        self._targets: dict[str, _Target] = {}
        self._tls = tls

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= 4096:  # many distinct URLs: start the cache again
                self._targets.clear()
            target = self._targets[url] = _target(url)
        return target

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST `body` with `headers` (Content-Type and the like: only Host and Content-Length
        are added) to `url`; the answer's status code.

        Raises:
            WebhookError: no complete answer (connection refused or lost, bad HTTP, too large).
            TimeoutError: no answer within the timeout.
            OSError: resolution or connection errors (the guard's refusals included).
        """
        target = self._target(url)
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        data = b"".join(
            (
                target.head,
                f"Content-Length: {len(body)}\r\n{extra}\r\n".encode("latin-1"),
                body,
            )
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while True:
            conn = self._idle_connection(target)
            if conn is None:
                async with asyncio.timeout_at(deadline):
                    conn = await self._connect(target)
            reused = conn.used
            try:
                status = await conn.request(data, deadline)
            except WebhookError:
                if reused and not conn.heard:
                    continue  # closed by the server while idle: once more on a new one
                raise
            except BaseException:
                conn.close()  # timed out or cancelled mid-answer: the socket is unusable
                raise
            if conn.keep_alive and not conn.closed:
                conn.idle_since = time.monotonic()
                self._idle[target.origin].append(conn)
            else:
                conn.close()
            return status

    def _idle_connection(self, target: _Target) -> _Connection | None:
        idle = self._idle[target.origin]
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self._keepalive:
                return conn
            conn.close()
        return None

    async def _connect(self, target: _Target) -> _Connection:
        scheme, host, port = target.origin
        addresses = [host]
        if not target.literal:
            resolved = await self._resolver.resolve(host, port, socket.AF_UNSPEC)
            addresses = [r["host"] for r in resolved]
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if scheme == "https" else None
        error: OSError = WebhookError(f"{host} resolved to no address")
        for address in addresses:  # each checked by the resolver: the first that answers
            try:
                _, conn = await loop.create_connection(
                    lambda: _Connection(self._max_body),
                    address,
                    port,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
            except OSError as failed:
                error = failed
                continue
            return conn
        raise error

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def close(self) -> None:
        """Close every idle connection."""
        for pool in self._idle.values():
            for conn in pool:
                conn.close()
        self._idle.clear()
