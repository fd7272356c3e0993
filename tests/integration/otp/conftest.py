"""OTP over real HTTP, real Redis windows, and SQLite or PostgreSQL (one test body for both)."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, select

from api import ApiServices, GroupCommitter, make_app
from api.otp import OtpServices, add_otp_routes
from otp import OtpConfig
from ratelimit import RedisWindowCounters, limits_client
from store import MessageStore, make_engine
from store.models import Message
from store.otp_repository import OtpStore

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SECRET = b"test-secret-key"
_db = itertools.count()


class FakeClock:
    """A clock the test moves by hand (Redis windows still use Redis's own clock)."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class RecordingOutbox:
    """Collects what would be enqueued (the Celery path is covered end to end)."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[str, list[str]]] = []

    def enqueue(self, message_class: str, ids: Sequence[str]) -> None:
        self.enqueued.append((message_class, list(ids)))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine over the migrated database."""
    made = make_engine(database_url)
    yield made
    made.dispose()


@dataclass
class Harness:
    """Everything a scenario needs: stores, clock, keys, and what was enqueued."""

    engine: Engine
    redis_url: str
    clock: FakeClock = field(default_factory=FakeClock)
    config: OtpConfig = field(default_factory=OtpConfig)
    outbox: RecordingOutbox = field(default_factory=RecordingOutbox)
    services: OtpServices | None = None

    def __post_init__(self) -> None:
        self.messages = MessageStore(self.engine)
        self.otp_store = OtpStore(self.engine)
        self.key = self.messages.create_api_key("acme", START)
        self.admin_key = self.messages.create_api_key("operator", START, is_admin=True)

    def auth(self, admin: bool = False) -> dict[str, str]:
        """Authorization header for the customer (or the admin) key."""
        return {"Authorization": f"Bearer {self.admin_key if admin else self.key}"}

    def body_of(self, message_id: str) -> str:
        """The SMS text as committed (what the carrier will receive)."""
        with self.engine.connect() as conn:
            return str(
                conn.execute(select(Message.body).where(Message.id == message_id)).scalar_one()
            )

    def code_of(self, message_id: str) -> str:
        """The code inside a committed OTP message (only the handset would see it)."""
        found = re.match(r"(\d{4,10}) ", self.body_of(message_id))
        assert found, self.body_of(message_id)
        return found.group(1)

    def app(self, committer: GroupCommitter) -> web.Application:
        """The API app with OTP routes over this harness."""
        app = make_app(ApiServices(store=self.messages, committer=committer, clock=self.clock))
        self.services = OtpServices(
            store=self.otp_store,
            committer=committer,
            windows=RedisWindowCounters(limits_client(self.redis_url)),
            clock=self.clock,
            secret=SECRET,
            config=self.config,
            app_name="Acme",
            block_refresh_seconds=0.0,
        )
        add_otp_routes(app, self.services)
        return app


Scenario = Callable[[TestClient[Any, Any]], Awaitable[None]]


def run(harness: Harness, scenario: Scenario) -> None:
    """Serve the app over real HTTP and run `scenario` against it."""

    async def main() -> None:
        committer = GroupCommitter(harness.messages, harness.outbox)
        try:
            async with TestClient(TestServer(harness.app(committer))) as client:
                await scenario(client)
        finally:
            committer.close()

    asyncio.run(main())


@pytest.fixture
def harness(engine: Engine, redis_url: str) -> Harness:
    """A harness over a migrated database and a flushed real Redis."""
    return Harness(engine, redis_url)
