"""The API warms its hot reads before it accepts the first request, and starts anyway when the
database is not there yet."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from store import MessageStore, make_engine
from tests.integration.api.test_messages_api import serve_api

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_the_hot_reads_are_compiled_before_the_first_request(store: MessageStore) -> None:
    key = store.create_api_key("acme", NOW)
    cache = store.engine._compiled_cache  # SQLAlchemy's compiled statements, per engine
    assert cache is not None
    compiled: dict[str, int] = {}

    async def during(client: TestClient[Any, Any]) -> None:
        compiled["at_start"] = len(cache)
        response = await client.get(
            "/v1/messages/" + "0" * 32, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status == 404
        compiled["after_a_get"] = len(cache)

    before = len(cache)
    serve_api(store, during)
    assert compiled["at_start"] > before
    # the key lookup and the read were warm: the GET compiled nothing
    assert compiled["after_a_get"] == compiled["at_start"]


def test_the_api_starts_and_answers_when_the_database_cannot_be_reached(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    statuses: list[int] = []

    async def during(client: TestClient[Any, Any]) -> None:
        response = await client.get("/health")
        statuses.append(response.status)

    with caplog.at_level(logging.WARNING, logger="api.app"):
        serve_api(MessageStore(engine), during)
    engine.dispose()
    assert statuses and statuses[0] in (200, 503)
    assert any("could not warm up" in r.getMessage() for r in caplog.records)
