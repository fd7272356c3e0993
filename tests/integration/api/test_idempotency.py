"""Idempotency-Key over HTTP, SQLite and PostgreSQL: replays create nothing, reuse is refused."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from store import (
    Claimed,
    IdempotencyKeyTaken,
    IdempotencyStore,
    IdempotentAnswer,
    InProgress,
    KeyCompletion,
    KeyReused,
    MessageStore,
    Replay,
    new_id,
)
from store.records import NewMessage
from tests.integration.api.test_messages_api import NOW, RecordingOutbox, message_rows, run

BODY = {"to": "+447400123456", "body": "your order shipped"}
BATCH = {"from": "Acme", "body": "hi there", "recipients": ["+447400123456", "+447400123457"]}


def _headers(key: str, idempotency_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Idempotency-Key": idempotency_key}


def test_the_same_key_and_body_replays_the_first_answer_and_creates_nothing(
    store: MessageStore,
) -> None:
    outbox = RecordingOutbox()

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        first = await client.post("/v1/messages", json=BODY, headers=_headers(key, "order-1"))
        assert first.status == 202 and "Idempotent-Replayed" not in first.headers
        # the same request, keys in another order: the same request
        again = await client.post(
            "/v1/messages", json=dict(reversed(BODY.items())), headers=_headers(key, "order-1")
        )
        assert again.status == 202
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.headers["Location"] == first.headers["Location"]
        assert await again.json() == await first.json()

    run(store, outbox, scenario)
    assert message_rows(store) == 1 and len(outbox.enqueued) == 1


def test_the_same_key_with_another_body_is_422_idempotency_key_reused(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        assert (
            await client.post("/v1/messages", json=BODY, headers=_headers(key, "k"))
        ).status == 202
        other = {**BODY, "body": "a different text"}
        reused = await client.post("/v1/messages", json=other, headers=_headers(key, "k"))
        assert reused.status == 422
        assert (await reused.json(content_type=None))["code"] == "idempotency_key_reused"
        batch = await client.post("/v1/messages/batch", json=BATCH, headers=_headers(key, "k"))
        assert (await batch.json(content_type=None))["code"] == "idempotency_key_reused"

    run(store, RecordingOutbox(), scenario)
    assert message_rows(store) == 1


def test_keys_are_scoped_per_account(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        other_key = store.create_api_key("globex", NOW)
        a = await client.post("/v1/messages", json=BODY, headers=_headers(key, "same"))
        b = await client.post("/v1/messages", json=BODY, headers=_headers(other_key, "same"))
        assert (a.status, b.status) == (202, 202)
        assert "Idempotent-Replayed" not in b.headers
        assert (await a.json())["id"] != (await b.json())["id"]

    run(store, RecordingOutbox(), scenario)
    assert message_rows(store) == 2


def test_a_batch_replays_its_whole_answer(store: MessageStore) -> None:
    outbox = RecordingOutbox()

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        first = await client.post("/v1/messages/batch", json=BATCH, headers=_headers(key, "b-1"))
        again = await client.post("/v1/messages/batch", json=BATCH, headers=_headers(key, "b-1"))
        assert (first.status, again.status) == (202, 202)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert await again.json() == await first.json()

    run(store, outbox, scenario)
    assert message_rows(store) == 2 and len(outbox.enqueued) == 1


def test_concurrent_duplicates_create_exactly_one_message(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        responses = await asyncio.gather(
            *(
                client.post("/v1/messages", json=BODY, headers=_headers(key, "race"))
                for _ in range(8)
            )
        )
        created = [
            r for r in responses if r.status == 202 and "Idempotent-Replayed" not in r.headers
        ]
        assert len(created) == 1
        for r in responses:
            if r is created[0]:
                continue
            if r.status == 202:
                assert r.headers["Idempotent-Replayed"] == "true"
            else:
                assert r.status == 409
                assert (await r.json(content_type=None))["code"] == "idempotency_in_progress"

    run(store, RecordingOutbox(), scenario)
    assert message_rows(store) == 1


def test_a_refused_request_frees_its_key(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        bad = {"to": "+447700900123", "body": "x"}  # not a dialable number
        refused = await client.post("/v1/messages", json=bad, headers=_headers(key, "k2"))
        assert refused.status == 422
        fixed = await client.post("/v1/messages", json=BODY, headers=_headers(key, "k2"))
        assert fixed.status == 202 and "Idempotent-Replayed" not in fixed.headers
        no_valid = {"messages": [bad]}
        assert (
            await client.post("/v1/messages/batch", json=no_valid, headers=_headers(key, "k3"))
        ).status == 422
        assert (
            await client.post("/v1/messages/batch", json=BATCH, headers=_headers(key, "k3"))
        ).status == 202

    run(store, RecordingOutbox(), scenario)
    assert message_rows(store) == 3


@pytest.mark.parametrize("value", ["", "x" * 256, "clé"])
def test_a_malformed_key_is_422_naming_the_header(store: MessageStore, value: str) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        response = await client.post(
            "/v1/messages",
            json=BODY,
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": value},
        )
        assert response.status == 422
        assert (await response.json(content_type=None))["field"] == "Idempotency-Key"

    run(store, RecordingOutbox(), scenario)
    assert message_rows(store) == 0


def _account(store: MessageStore) -> str:
    owner = store.key_owner(store.create_api_key("acme", NOW))
    assert owner is not None
    return owner.account_id


def _row(account_id: str) -> NewMessage:
    return NewMessage(
        id=new_id(), account_id=account_id, to="+447400123456", sender="Acme", body="x",
        message_class="transactional", encoding="gsm7", segments=1, callback_url=None,
        created_at=NOW, valid_until=NOW + timedelta(hours=1),
    )  # fmt: skip


def test_keys_expire_after_24_hours_and_the_sweep_drops_them(store: MessageStore) -> None:
    keys, acct = IdempotencyStore(store.engine), _account(store)
    claimed = keys.claim(acct, "k", "hash-a", NOW)
    assert isinstance(claimed, Claimed)
    answer = IdempotentAnswer(202, b"{}", None)
    store.insert_messages([_row(acct)], [KeyCompletion(acct, "k", claimed.token, answer)])
    assert keys.claim(acct, "k", "hash-a", NOW + timedelta(hours=23)) == Replay(answer)
    assert keys.claim(acct, "k", "hash-b", NOW + timedelta(hours=23)) == KeyReused()
    later = NOW + timedelta(hours=24, seconds=1)
    assert isinstance(keys.claim(acct, "k", "hash-b", later), Claimed)  # expired: a new use
    assert keys.delete_expired(later + timedelta(hours=24)) == 1


def test_a_dead_claim_is_taken_over_and_its_late_commit_refused(store: MessageStore) -> None:
    keys, acct = IdempotencyStore(store.engine), _account(store)
    dead = keys.claim(acct, "k", "h", NOW)
    assert isinstance(dead, Claimed)
    assert keys.claim(acct, "k", "h", NOW + timedelta(seconds=30)) == InProgress()
    taker = keys.claim(acct, "k", "h", NOW + timedelta(seconds=61))
    assert isinstance(taker, Claimed)
    late = KeyCompletion(acct, "k", dead.token, IdempotentAnswer(202, b"{}"))
    with pytest.raises(IdempotencyKeyTaken):
        store.insert_messages([_row(acct)], [late])
    assert message_rows(store) == 0
