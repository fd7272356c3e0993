"""Limits hold across several API servers on the same database: no race lets a sixth check in.

Three aiohttp servers, each with its own engine (own connection pool), committer and Redis
client, run in their own threads and event loops, as separate API processes would; the client
fires concurrent requests round-robin at them.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from api import ApiServices, GroupCommitter, make_app
from api.otp import OtpServices, add_otp_routes
from otp import OtpConfig, OtpLimits, hash_code
from ratelimit import RedisWindowCounters, limits_client
from store import MessageStore, make_engine, new_id
from store.otp import Verification
from store.otp_repository import NewVerification, OtpStore
from switchboard.embedded import free_port
from tests.integration.otp.conftest import SECRET, START, FakeClock, RecordingOutbox

TO = "+447400123456"
CODE = "246810"
CONFIG = OtpConfig(defaults=OtpLimits(checks_per_number_per_hour=10_000, resend_cooldown=0))


@dataclass
class Server:
    """One API server in its own thread and event loop."""

    port: int
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    runner: web.AppRunner | None = None


def _serve(
    url: str, redis_url: str, port: int, ready: threading.Event, box: dict[str, Any]
) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    engine = make_engine(url)
    messages = MessageStore(engine)
    committer = GroupCommitter(messages, RecordingOutbox())
    app = make_app(ApiServices(store=messages, committer=committer, clock=FakeClock()))
    add_otp_routes(
        app,
        OtpServices(
            store=OtpStore(engine),
            committer=committer,
            clock=FakeClock(),
            secret=SECRET,
            config=CONFIG,
            windows=RedisWindowCounters(limits_client(redis_url)),
        ),
    )
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    box["loop"], box["runner"] = loop, runner
    ready.set()
    loop.run_forever()
    loop.run_until_complete(runner.cleanup())
    loop.run_until_complete(loop.shutdown_default_executor())  # off-path assessments finish
    committer.close()
    engine.dispose()
    loop.close()


@pytest.fixture
def servers(database_url: str, redis_url: str) -> Iterator[list[int]]:
    """Ports of three API servers over the same database and Redis."""
    started: list[tuple[threading.Thread, dict[str, Any]]] = []
    ports = []
    for _ in range(3):
        port, ready = free_port(), threading.Event()
        box: dict[str, Any] = {}
        thread = threading.Thread(
            target=_serve, args=(database_url, redis_url, port, ready, box), daemon=True
        )
        thread.start()
        assert ready.wait(30)
        started.append((thread, box))
        ports.append(port)
    yield ports
    for thread, box in started:
        box["loop"].call_soon_threadsafe(box["loop"].stop)
        thread.join(timeout=10)


@pytest.fixture
def setup(database_url: str) -> Iterator[tuple[str, str, OtpStore]]:
    """An API key and one pending verification whose code is CODE."""
    engine = make_engine(database_url)
    messages = MessageStore(engine)
    key = messages.create_api_key("acme", START)
    owner = messages.key_owner(key)
    assert owner is not None
    vid = new_id()
    store = OtpStore(engine)
    assert store.insert(
        NewVerification(
            id=vid,
            account_id=owner.account_id,
            to=TO,
            prefix="+44740",
            region="GB",
            code_hash=hash_code(SECRET, vid, CODE),
            max_checks=5,
            max_sends=5,
            message_id=new_id(),
            created_at=START,
            expires_at=START + timedelta(minutes=10),
            code_length=6,
            locale="en",
            template=None,
            web_otp_domain=None,
            allow_unicode=False,
        )
    )
    yield key, vid, store
    engine.dispose()


async def _fire(
    ports: list[int], key: str, requests: list[tuple[str, dict[str, Any] | None]]
) -> list[tuple[int, Any]]:
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one(i: int, path: str, body: dict[str, Any] | None) -> tuple[int, Any]:
            url = f"http://127.0.0.1:{ports[i % len(ports)]}{path}"
            async with session.post(url, json=body) as response:
                return response.status, await response.json()

        return await asyncio.gather(*(one(i, p, b) for i, (p, b) in enumerate(requests)))


def test_forty_concurrent_wrong_checks_count_exactly_five(
    servers: list[int], setup: tuple[str, str, OtpStore]
) -> None:
    key, vid, store = setup
    results = asyncio.run(_fire(servers, key, [(f"/v1/otp/{vid}/check", {"code": "000000"})] * 40))
    outcomes = Counter((status, body.get("code") or body["status"]) for status, body in results)
    assert outcomes == {(200, "pending"): 5, (429, "otp_max_attempts"): 35}
    left = sorted(body["attempts_left"] for status, body in results if status == 200)
    assert left == [0, 1, 2, 3, 4]
    with store.engine.connect() as conn:
        assert (
            conn.execute(select(Verification.check_attempts).where(Verification.id == vid)).scalar()
            == 5
        )


def test_thirty_concurrent_right_checks_approve_exactly_once(
    servers: list[int], setup: tuple[str, str, OtpStore]
) -> None:
    key, vid, _ = setup
    results = asyncio.run(_fire(servers, key, [(f"/v1/otp/{vid}/check", {"code": CODE})] * 30))
    outcomes = Counter((status, body.get("code") or body["status"]) for status, body in results)
    assert outcomes[(200, "approved")] == 1
    assert (
        sum(outcomes.values()) - 1
        == outcomes[(409, "otp_already_used")] + outcomes[(429, "otp_max_attempts")]
    )


def test_concurrent_resends_never_exceed_five_sends(
    servers: list[int], setup: tuple[str, str, OtpStore]
) -> None:
    key, vid, store = setup
    results = asyncio.run(_fire(servers, key, [(f"/v1/otp/{vid}/resend", None)] * 20))
    ok = [body for status, body in results if status == 200]
    assert len(ok) == 4  # the first send plus four resends
    assert all(status in (200, 429) for status, _ in results)
    with store.engine.connect() as conn:
        assert conn.execute(select(Verification.sends).where(Verification.id == vid)).scalar() == 5


def test_concurrent_starts_to_one_number_open_one_verification(
    servers: list[int], setup: tuple[str, str, OtpStore]
) -> None:
    key, _, store = setup
    results = asyncio.run(_fire(servers, key, [("/v1/otp", {"to": "+447400999888"})] * 12))
    created = [body for status, body in results if status == 201]
    assert created and len({body["id"] for body in created}) == 1
    assert sum(1 for body in created if body["new"]) == 1
    with store.engine.connect() as conn:
        rows = conn.execute(select(Verification.id).where(Verification.to == "+447400999888")).all()
    assert len(rows) == 1
