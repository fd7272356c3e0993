"""The webhook HTTP client against real servers on 127.0.0.1 that answer as scripted."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from workers.webhook_client import WebhookClient, WebhookError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HEADERS = {"Content-Type": "application/json", "X-Test": "1"}


class LocalResolver(AbstractResolver):
    """Every name is 127.0.0.1 (counts its lookups)."""

    def __init__(self) -> None:
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        return [
            ResolveResult(hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET,
                          proto=0, flags=socket.AI_NUMERICHOST)
        ]  # fmt: skip

    async def close(self) -> None:
        pass


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """One request's head and body, or None at the end of the stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


class Server:
    """Accepts connections and answers each request with `answer(n)` (n counts requests)."""

    def __init__(self, answer: Callable[[int], bytes | None], close_after: bool = False) -> None:
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.handlers: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while (request := await _read_request(reader)) is not None:
                self.requests.append(request)
                reply = self.answer(len(self.requests))
                if reply is None:  # hang: never answer
                    await asyncio.sleep(30)
                    return
                if not reply:  # close without a word, as a server timing out an idle one
                    return
                writer.write(reply)
                await writer.drain()
                if self.close_after:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        """End every connection's handler (the client has closed its side)."""
        await asyncio.sleep(0.02)
        for task in self.handlers:
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)


OK = b"HTTP/1.1 204 No Content\r\n\r\n"


def _run(server: Server, body: Callable[[WebhookClient, str], Awaitable[None]],
         tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None,
         timeout: float = 5.0, resolver: AbstractResolver | None = None) -> None:  # fmt: skip
    async def main() -> None:
        listening = await asyncio.start_server(
            server.handle, "127.0.0.1", 0, ssl=tls[0] if tls else None
        )
        port = listening.sockets[0].getsockname()[1]
        client = WebhookClient(
            resolver or LocalResolver(), timeout=timeout, tls=tls[1] if tls else None
        )
        try:
            scheme = "https" if tls else "http"
            host = "localhost" if tls else "127.0.0.1"
            await body(client, f"{scheme}://{host}:{port}/hook?x=1")
        finally:
            client.close()
            listening.close()
            await server.stop()
            await listening.wait_closed()

    asyncio.run(main())


def test_posts_reuse_one_kept_alive_connection_and_carry_the_headers() -> None:
    server = Server(lambda n: OK)

    async def body(client: WebhookClient, url: str) -> None:
        statuses = [await client.post(url, b'{"n": %d}' % n, HEADERS) for n in range(20)]
        assert statuses == [204] * 20

    _run(server, body)
    assert server.connections == 1
    head, payload = server.requests[0]
    assert head.startswith(b"POST /hook?x=1 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in head
    assert b"\r\nX-Test: 1\r\n" in head and b"\r\nContent-Length: 8\r\n" in head
    assert payload == b'{"n": 0}'


def test_concurrent_posts_open_one_connection_each_and_all_complete() -> None:
    server = Server(lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async def body(client: WebhookClient, url: str) -> None:
        statuses = await asyncio.gather(*(client.post(url, b"{}", HEADERS) for _ in range(8)))
        assert statuses == [200] * 8
        assert await client.post(url, b"{}", HEADERS) == 200  # back on a pooled one

    _run(server, body)
    assert server.connections == 8
    assert len(server.requests) == 9


def test_chunked_and_close_delimited_bodies_are_read_whole() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    server = Server(lambda n: chunked)

    async def body(client: WebhookClient, url: str) -> None:
        assert [await client.post(url, b"{}", HEADERS) for _ in range(3)] == [200] * 3

    _run(server, body)
    assert server.connections == 1  # the chunked body ended the answer, not the connection

    close_delimited = Server(lambda n: b"HTTP/1.1 202 Accepted\r\n\r\nsome text", True)

    async def twice(client: WebhookClient, url: str) -> None:
        assert [await client.post(url, b"{}", HEADERS) for _ in range(2)] == [202, 202]

    _run(close_delimited, twice)
    assert close_delimited.connections == 2


def test_connection_close_answers_and_redirects_are_returned_as_is() -> None:
    server = Server(
        lambda n: (
            b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1/\r\nConnection: close\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
    )

    async def body(client: WebhookClient, url: str) -> None:
        assert await client.post(url, b"{}", HEADERS) == 302
        assert await client.post(url, b"{}", HEADERS) == 302

    _run(server, body)
    assert server.connections == 2  # "Connection: close" was honoured
    assert len(server.requests) == 2  # the redirect was not followed


def test_a_kept_connection_the_server_closes_unanswered_is_replaced_once() -> None:
    server = Server(lambda n: b"" if n == 2 else OK)  # the 2nd request meets a closing server

    async def body(client: WebhookClient, url: str) -> None:
        assert await client.post(url, b"{}", HEADERS) == 204
        assert await client.post(url, b"{}", HEADERS) == 204  # tried again on a new one

    _run(server, body)
    assert server.connections == 2 and len(server.requests) == 3

    fresh = Server(lambda n: b"")  # a new connection closed unanswered is not tried again

    async def fails(client: WebhookClient, url: str) -> None:
        with pytest.raises(WebhookError):
            await client.post(url, b"{}", HEADERS)

    _run(fresh, fails)
    assert fresh.connections == 1


def test_garbage_oversized_and_unanswered_requests_fail() -> None:
    async def expect(client: WebhookClient, url: str, error: type[BaseException]) -> None:
        with pytest.raises(error):
            await client.post(url, b"{}", HEADERS)

    _run(Server(lambda n: b"NOT HTTP AT ALL\r\n\r\n"), lambda c, u: expect(c, u, WebhookError))
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n\r\n" + b"x" * 3_000_000
    _run(Server(lambda n: big), lambda c, u: expect(c, u, WebhookError))
    _run(Server(lambda n: None), lambda c, u: expect(c, u, TimeoutError), timeout=0.3)


def test_a_refused_connection_is_an_os_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens once the socket closes

    async def main() -> None:
        client = WebhookClient(LocalResolver(), timeout=2.0)
        with pytest.raises(ConnectionRefusedError):
            await client.post(f"http://127.0.0.1:{port}/", b"{}", HEADERS)

    asyncio.run(main())


def _self_signed(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl makes the test certificate: `make setup` installs it"
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(  # noqa: S603 - our own fixed arguments
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


def test_https_checks_the_certificate_against_the_host_name(tmp_path: Path) -> None:
    tls = _self_signed(tmp_path)
    resolver = LocalResolver()
    server = Server(lambda n: OK)

    async def body(client: WebhookClient, url: str) -> None:
        assert [await client.post(url, b"{}", HEADERS) for _ in range(3)] == [204] * 3

    _run(server, body, tls=tls, resolver=resolver)
    assert server.connections == 1 and resolver.lookups == ["localhost"]

    untrusted = (tls[0], ssl.create_default_context())  # the system store lacks our cert
    with pytest.raises(ssl.SSLError):
        _run(Server(lambda n: OK), body, tls=untrusted)
