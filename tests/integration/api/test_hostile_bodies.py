"""Hostile bodies over raw TCP: too large (413 before it is read), too slow (408), not JSON
(400) — each answered with its problem code, and nothing stored (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from store import MessageStore
from tests.integration.api.test_messages_api import NOW, serve_api


async def _raw(port: int, head: bytes, body: bytes = b"", wait: float = 0.0) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body)
    await writer.drain()
    if wait:
        await asyncio.sleep(wait)
    answer = await asyncio.wait_for(reader.read(65536), timeout=10)
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer


def _head(key: str, path: str, length: int | None, chunked: bool = False) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {key}",
        "Content-Type: application/json",
    ]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _serve(store: MessageStore, scenario: Any) -> None:
    async def during(client: TestClient[Any, Any]) -> None:
        await scenario(client, client.server.port)

    serve_api(store, during)


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/opt-outs", "/v1/messages/batch"])
def test_a_declared_length_over_the_limit_is_413_before_any_byte_of_it(
    store: MessageStore, path: str
) -> None:
    key = store.create_api_key("acme", NOW)

    async def scenario(client: TestClient[Any, Any], port: int) -> None:
        # 100 MB announced, none sent: the answer comes without waiting for it
        status, answer = await _raw(port, _head(key, path, 100 * 1024 * 1024))
        assert status == 413 and b'"code":"payload_too_large"' in answer

    _serve(store, scenario)


def test_a_chunked_body_over_the_limit_is_413_once_past_it(store: MessageStore) -> None:
    key = store.create_api_key("acme", NOW)

    async def scenario(client: TestClient[Any, Any], port: int) -> None:
        chunk = b"x" * 32768
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3))
        status, answer = await _raw(port, _head(key, "/v1/messages", None, chunked=True), body)
        assert status == 413 and b'"code":"payload_too_large"' in answer
        listed = await client.get("/v1/messages", headers={"Authorization": f"Bearer {key}"})
        assert (await listed.json())["messages"] == []

    _serve(store, scenario)


def test_a_body_slower_than_the_timeout_is_408(
    store: MessageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("api.accept.BODY_TIMEOUT", 0.3)
    key = store.create_api_key("acme", NOW)

    async def scenario(client: TestClient[Any, Any], port: int) -> None:
        status, answer = await _raw(port, _head(key, "/v1/messages", 100), b'{"to": "+44')
        assert status == 408 and b'"code":"request_timeout"' in answer

    _serve(store, scenario)


@pytest.mark.parametrize(
    "body",
    [b'{"to": "+447400123456", "body": "\\ud800"}', b'{"to": "+447400123456", "body": "\xff\xfe"}'],
    ids=["lone surrogate", "invalid UTF-8"],
)
def test_lone_surrogates_and_invalid_utf8_are_400_malformed_json(
    store: MessageStore, body: bytes
) -> None:
    key = store.create_api_key("acme", NOW)

    async def scenario(client: TestClient[Any, Any], port: int) -> None:
        status, answer = await _raw(port, _head(key, "/v1/messages", len(body)), body)
        assert status == 400 and b'"code":"malformed_json"' in answer
        assert b"application/problem+json" in answer

    _serve(store, scenario)


def test_nul_characters_are_422_in_bodies_paths_and_queries(store: MessageStore) -> None:
    """PostgreSQL text cannot hold NUL: once a 500 (schemathesis found it in ?account=)."""
    key = store.create_api_key("acme", NOW)
    auth = {"Authorization": f"Bearer {key}"}

    async def scenario(client: TestClient[Any, Any], port: int) -> None:
        body = await client.post(
            "/v1/messages", data=b'{"to": "+447400123456", "body": "a\\u0000b"}', headers=auth
        )
        assert body.status == 422 and (await body.json())["field"] == "body"
        for path in ("/v1/messages?cursor=%00", "/v1/otp/ab%00cd", "/v1/keys?account=a%00"):
            response = await client.get(path, headers=auth)
            assert response.status == 422, path
            assert (await response.json())["code"] == "invalid_input"
        listed = await (await client.get("/v1/messages", headers=auth)).json()
        assert listed["messages"] == []

    _serve(store, scenario)
