"""Rate limits and backpressure over HTTP (SQLite and PostgreSQL): 429 with Retry-After and
the RateLimit headers, 503 `overloaded`, and nothing stored either way."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api import ApiServices, GroupCommitter, make_app
from api.limits import Limiter
from messaging import ConfigError
from ratelimit import RateLimits, SharedWindows, load_rate_limits
from store import MessageStore
from tests.fakes import FakeClock
from tests.integration.api.test_messages_api import NOW, RecordingOutbox

MESSAGE = {"to": "+447400123456", "body": "hi"}


def _serve(store: MessageStore, limiter: Limiter, scenario: Any) -> None:
    async def main() -> None:
        committer = GroupCommitter(store, RecordingOutbox())
        services = ApiServices(store=store, committer=committer, clock=lambda: NOW, limiter=limiter)
        async with TestClient(TestServer(make_app(services))) as client:
            await scenario(client)
        committer.close()

    asyncio.run(main())


def _limits(**defaults: int) -> RateLimits:
    return RateLimits.model_validate({"defaults": defaults})


def test_messages_past_the_account_rate_are_429_with_ratelimit_headers(
    store: MessageStore,
) -> None:
    key = store.create_api_key("acme", NOW)
    auth = {"Authorization": f"Bearer {key}"}
    limiter = Limiter(_limits(messages_per_second=3), SharedWindows(FakeClock(100.0)))

    async def scenario(client: TestClient[Any, Any]) -> None:
        for _ in range(3):
            assert (await client.post("/v1/messages", json=MESSAGE, headers=auth)).status == 202
        refused = await client.post("/v1/messages", json=MESSAGE, headers=auth)
        assert refused.status == 429 and (await refused.json())["code"] == "rate_limited"
        assert refused.headers["Retry-After"] == "1"
        assert refused.headers["RateLimit-Policy"] == '"messages";q=3;w=1'
        assert refused.headers["RateLimit"] == '"messages";r=0;t=1'
        batch = await client.post(
            "/v1/messages/batch", json={"messages": [MESSAGE, MESSAGE]}, headers=auth
        )
        assert batch.status == 429  # the whole batch: its two do not fit
        listed = await (await client.get("/v1/messages", headers=auth)).json()
        assert len(listed["messages"]) == 3  # nothing of the refused ones was stored

    _serve(store, limiter, scenario)


def test_requests_past_the_key_rate_are_429_on_every_route(store: MessageStore) -> None:
    key = store.create_api_key("acme", NOW)
    auth = {"Authorization": f"Bearer {key}"}
    limiter = Limiter(_limits(requests_per_second=2), SharedWindows(FakeClock(100.0)))

    async def scenario(client: TestClient[Any, Any]) -> None:
        assert (await client.get("/v1/messages", headers=auth)).status == 200
        assert (await client.get("/v1/opt-outs", headers=auth)).status == 200
        refused = await client.get("/v1/inbound", headers=auth)
        assert refused.status == 429
        assert refused.headers["RateLimit-Policy"] == '"requests";q=2;w=1'
        assert key not in str(limiter.windows.take_unsynced())  # counted under a digest

    _serve(store, limiter, scenario)


def test_a_full_commit_queue_is_503_overloaded_and_stores_nothing(store: MessageStore) -> None:
    key = store.create_api_key("acme", NOW)
    auth = {"Authorization": f"Bearer {key}"}
    limiter = Limiter(RateLimits(), SharedWindows(FakeClock()), commit_queue_max=-1)

    async def scenario(client: TestClient[Any, Any]) -> None:
        for path, body in (
            ("/v1/messages", MESSAGE),
            ("/v1/messages/batch", {"messages": [MESSAGE]}),
        ):
            refused = await client.post(path, json=body, headers=auth)
            problem = await refused.json()
            assert (refused.status, problem["code"]) == (503, "overloaded")
            assert refused.headers["Retry-After"] == "1"
        listed = await (await client.get("/v1/messages", headers=auth)).json()
        assert listed["messages"] == [] and limiter.refusals["commit_queue"] == 2

    _serve(store, limiter, scenario)


def test_the_outbox_backlog_bound_is_read_from_the_store(store: MessageStore) -> None:
    key = store.create_api_key("acme", NOW)
    auth = {"Authorization": f"Bearer {key}"}
    limiter = Limiter(
        RateLimits(),
        SharedWindows(FakeClock()),
        outbox_backlog_max=1,
        backlog=store.queued_backlog,
        backlog_every=0.01,
    )

    async def scenario(client: TestClient[Any, Any]) -> None:
        for _ in range(2):
            assert (await client.post("/v1/messages", json=MESSAGE, headers=auth)).status == 202
        limiter.start()
        for _ in range(100):
            await asyncio.sleep(0.02)
            refused = await client.post("/v1/messages", json=MESSAGE, headers=auth)
            if refused.status == 503:
                break
        limiter.close()
        assert refused.status == 503 and (await refused.json())["code"] == "overloaded"
        assert store.queued_backlog(1) == 2  # counted to the bound and one past it

    _serve(store, limiter, scenario)


def test_limits_file_errors_name_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(
        "[defaults]\nrequests_per_second = 100\n\n[accounts.acme]\nmessages_per_second = -5\n"
        "burst = 3\n"
    )
    with pytest.raises(ConfigError) as error:
        load_rate_limits(path)
    text = str(error.value)
    assert f"{path}:5: accounts.acme.messages_per_second:" in text
    assert f"{path}:6: accounts.acme.burst:" in text
    path.write_text(
        "[defaults]\nmessages_per_second = 100\n[accounts.acme]\nmessages_per_second = 5\n"
    )
    limits = load_rate_limits(path)
    assert limits.for_account("acme").messages_per_second == 5
    assert limits.for_account("other").messages_per_second == 100 and limits.enabled


def test_the_example_limits_file_loads() -> None:
    example = Path(__file__).resolve().parents[3] / "config" / "limits.toml"
    limits = load_rate_limits(example)
    assert limits.for_account("acme").messages_per_second == 50 and limits.enabled
