"""The API while its database is down: 503 problem+json, never a 500; back by itself after."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from store import MessageStore, make_engine, upgrade
from switchboard.embedded import Postgres, start_postgres
from tests.integration.api.test_messages_api import serve_api

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BODY = {"to": "+44 7400 123456", "from": "Acme", "body": "hello", "class": "otp"}


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    """A cluster of this test's own: it is stopped and started again mid-test."""
    cluster = start_postgres()
    yield cluster
    cluster.stop()


async def _problem(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem: dict[str, Any] = await response.json(content_type=None)
    return problem


def test_database_outage_answers_503_with_retry_after_and_recovers_by_itself(
    own_postgres: Postgres,
) -> None:
    """Given a running API on PostgreSQL, when the server stops (immediate) then starts again
    on the same port and data directory, then POST and GET answer 503 database_unavailable
    with Retry-After meanwhile (no 500), nothing is half-written, and requests succeed again
    without a restart of the API."""
    url = own_postgres.create_database("outage")
    upgrade(url)
    engine = make_engine(url)
    store = MessageStore(engine)
    key = store.create_api_key("acme", NOW)
    auth = {"Authorization": f"Bearer {key}"}

    async def scenario(client: TestClient[Any, Any]) -> None:
        first = await client.post("/v1/messages", json=BODY, headers=auth)
        assert first.status == 202
        message_id = (await first.json())["id"]
        own_postgres.halt()
        for request in (
            client.post("/v1/messages", json=BODY, headers=auth),
            client.get(f"/v1/messages/{message_id}", headers=auth),
            client.post("/v1/messages", json=BODY, headers=auth),  # on a fresh connection
        ):
            response = await request
            assert response.status == 503
            assert response.headers["Retry-After"] == "2"
            problem = await _problem(response)
            assert problem["code"] == "database_unavailable" and problem["status"] == 503
        own_postgres.restart()
        statuses = []
        for _ in range(3):  # the one connection that finds the old server dead may fail once
            response = await client.post("/v1/messages", json=BODY, headers=auth)
            statuses.append(response.status)
            if response.status == 202:
                break
        assert statuses[-1] == 202 and set(statuses) <= {202, 503}, statuses
        shown = await client.get(f"/v1/messages/{message_id}", headers=auth)
        assert shown.status == 200

    try:
        serve_api(store, scenario)
        assert store.status_counts() == {"queued": 2}  # before the outage, and after it
    finally:
        engine.dispose()


def test_unexpected_error_is_a_500_problem_with_a_request_id_and_never_echoed(
    store: MessageStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Given a bug behind a handler, then the client gets 500 internal_error with a request
    id and none of the error's text, and the log has the traceback under that id."""
    key = store.create_api_key("acme", NOW)

    def broken(*_: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(store, "read_messages", broken)

    async def during(client: TestClient[Any, Any]) -> None:
        response = await client.get(
            "/v1/messages/" + "0" * 32, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status == 500
        problem = await _problem(response)
        assert problem["code"] == "internal_error"
        assert problem["request_id"] == response.headers["X-Request-Id"]
        assert "secret" not in await response.text()
        logged = [r for r in caplog.records if problem["request_id"] in r.getMessage()]
        assert logged and logged[0].exc_info is not None

    with caplog.at_level(logging.ERROR, logger="api.problems"):
        serve_api(store, during)
