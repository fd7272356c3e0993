"""GET /v1/messages over HTTP, SQLite and PostgreSQL: keyset pages stable under inserts,
tenant-scoped, filtered, and clear errors for bad parameters."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from store import MessageStore, NewMessage, new_id
from tests.integration.api.test_messages_api import NOW, RecordingOutbox, run


def _rows(store: MessageStore, account: str, count: int, start: datetime) -> list[NewMessage]:
    account_id = store.ensure_account(account, NOW)
    rows = [
        NewMessage(
            new_id(),
            account_id,
            "+447400123456",
            "Acme",
            f"m{i}",
            "transactional",
            "gsm7",
            1,
            None,
            # pairs share a timestamp: the id breaks the tie
            start + timedelta(seconds=i // 2),
            start + timedelta(days=1),
        )
        for i in range(count)
    ]
    store.insert_messages(rows)
    return rows


async def _page(
    client: TestClient[Any, Any], key: str, **params: str
) -> tuple[int, dict[str, Any]]:
    response = await client.get(
        "/v1/messages", params=params, headers={"Authorization": f"Bearer {key}"}
    )
    return response.status, await response.json(content_type=None)


def test_pages_are_stable_while_messages_are_inserted_between_them(store: MessageStore) -> None:
    first = _rows(store, "acme", 25, NOW)
    seen: list[str] = []

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        cursor: str | None = None
        pages = 0
        while True:
            params = {"limit": "10", **({"cursor": cursor} if cursor else {})}
            status, page = await _page(client, key, **params)
            assert status == 200
            seen.extend(m["id"] for m in page["messages"])
            cursor = page["next_cursor"]
            pages += 1
            if pages == 1:  # newer messages arrive while the client pages
                _rows(store, "acme", 7, NOW + timedelta(minutes=5))
            if not page["has_more"]:
                break
        # the cursor after the last page still works: it answers what came since
        _rows(store, "acme", 3, NOW + timedelta(minutes=10))
        status, later = await _page(client, key, cursor=cursor or "")
        assert status == 200 and len(later["messages"]) == 3 and not later["has_more"]

    run(store, RecordingOutbox(), scenario, account="acme")
    assert len(seen) == len(set(seen)) == 25 + 7  # none twice, none skipped
    assert seen[:25] == [r.id for r in sorted(first, key=lambda r: (r.created_at, r.id))]


def test_another_accounts_messages_never_appear(store: MessageStore) -> None:
    mine = _rows(store, "acme", 5, NOW)
    _rows(store, "other", 5, NOW)

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        status, page = await _page(client, key, limit="1000")
        assert status == 200
        assert sorted(m["id"] for m in page["messages"]) == sorted(r.id for r in mine)

    run(store, RecordingOutbox(), scenario, account="acme")


def test_status_and_time_filters(store: MessageStore) -> None:
    rows = _rows(store, "acme", 10, NOW)  # created NOW + 0..4 s, two per second
    store.claim([rows[0].id, rows[5].id], NOW)  # now `sending`

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        status, page = await _page(client, key, status="sending")
        assert status == 200 and {m["id"] for m in page["messages"]} == {rows[0].id, rows[5].id}
        status, page = await _page(client, key, status="sending,queued", limit="1000")
        assert len(page["messages"]) == 10
        since = (NOW + timedelta(seconds=1)).isoformat()
        until = (NOW + timedelta(seconds=3)).isoformat().replace("+00:00", "Z")
        status, page = await _page(client, key, since=since, until=until)
        assert status == 200
        assert {m["id"] for m in page["messages"]} == {r.id for r in rows[2:6]}
        assert all(m["created_at"].startswith("2026-11-23T12:00:0") for m in page["messages"])

    run(store, RecordingOutbox(), scenario, account="acme")


BAD_PARAMETERS = [
    ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
    ({"cursor": "%%%"}, "cursor"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"status": "lost"}, "status"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-11-23T12:00:00"}, "until"),  # no UTC offset
    ({"page": "2"}, "page"),
]


@pytest.mark.parametrize(("params", "field"), BAD_PARAMETERS, ids=[f for _, f in BAD_PARAMETERS])
def test_bad_parameters_are_422_naming_the_parameter(
    store: MessageStore, params: dict[str, str], field: str
) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        status, problem = await _page(client, key, **params)
        assert (status, problem["code"], problem["field"]) == (422, "invalid_input", field)

    run(store, RecordingOutbox(), scenario)


def test_listing_needs_an_api_key(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], _key: str) -> None:
        response = await client.get("/v1/messages")
        assert response.status == 401

    run(store, RecordingOutbox(), scenario)


def test_an_empty_account_gets_an_empty_page_and_no_cursor(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        status, page = await _page(client, key)
        assert (status, page) == (200, {"messages": [], "has_more": False, "next_cursor": None})

    run(store, RecordingOutbox(), scenario)
