"""Opt-outs and inbound over HTTP, SQLite and PostgreSQL: the list is idempotent and paged, a
marketing send to a listed number is refused `recipient_opted_out` (single and batch item),
OTP and transactional are not; GET /v1/inbound shows only the caller's MOs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from store import InboundRecord, MessageStore
from tests.integration.api.test_messages_api import NOW, RecordingOutbox, message_rows, run

STOPPED = "+33612345678"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_opt_out_list_is_idempotent_and_paged(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        auth = _auth(key)
        first = await client.post(
            "/v1/opt-outs", json={"number": "+33 6 12 34 56 78"}, headers=auth
        )
        again = await client.post("/v1/opt-outs", json={"number": STOPPED}, headers=auth)
        assert (first.status, again.status) == (201, 200)
        assert (await first.json())["number"] == STOPPED
        await client.post("/v1/opt-outs", json={"number": "+14155550100"}, headers=auth)
        page = await (await client.get("/v1/opt-outs?limit=1", headers=auth)).json()
        assert [e["number"] for e in page["opt_outs"]] == ["+14155550100"] and page["has_more"]
        cursor = page["next_cursor"]
        page = await (await client.get(f"/v1/opt-outs?cursor={cursor}", headers=auth)).json()
        assert [e["number"] for e in page["opt_outs"]] == [STOPPED] and not page["has_more"]
        for _ in range(2):
            gone = await client.delete("/v1/opt-outs/%2B14155550100", headers=auth)
            assert gone.status == 204
        bad = await client.post("/v1/opt-outs", json={"number": "123"}, headers=auth)
        assert bad.status == 422 and (await bad.json())["code"] == "invalid_number"

    run(store, RecordingOutbox(), scenario)


def test_marketing_to_an_opted_out_number_is_refused_and_stores_nothing(
    store: MessageStore,
) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        auth = _auth(key)
        await client.post("/v1/opt-outs", json={"number": STOPPED}, headers=auth)
        body = {"to": STOPPED, "body": "Sale!", "class": "marketing"}
        refused = await client.post("/v1/messages", json=body, headers=auth)
        assert refused.status == 422
        assert refused.content_type == "application/problem+json"
        assert (await refused.json())["code"] == "recipient_opted_out"
        assert message_rows(store) == 0
        for message_class in ("otp", "transactional"):
            sent = await client.post(
                "/v1/messages", json={**body, "class": message_class}, headers=auth
            )
            assert sent.status == 202

    run(store, RecordingOutbox(), scenario)


def test_a_batch_refuses_the_opted_out_marketing_item_only(store: MessageStore) -> None:
    seen: dict[str, Any] = {}

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        auth = _auth(key)
        await client.post("/v1/opt-outs", json={"number": STOPPED}, headers=auth)
        items = [
            {"to": STOPPED, "body": "Sale!", "class": "marketing"},
            {"to": "+33612345679", "body": "Sale!", "class": "marketing"},
            {"to": STOPPED, "body": "Your code", "class": "otp"},
        ]
        response = await client.post("/v1/messages/batch", json={"messages": items}, headers=auth)
        assert response.status == 202
        seen.update(await response.json())

    run(store, RecordingOutbox(), scenario)
    assert (seen["accepted"], seen["rejected"]) == (2, 1)
    assert seen["messages"][0]["error"]["code"] == "recipient_opted_out"
    assert seen["messages"][0]["error"]["status"] == 422


def test_inbound_is_tenant_scoped_and_paged(store: MessageStore) -> None:
    store.ensure_account("other", NOW)
    owners = {"12345": "acme", "999": "other"}
    records = [
        InboundRecord("alpha", "+447700900123", "12345", f"hi {i}", NOW + timedelta(seconds=i))
        for i in range(3)
    ]
    records.append(InboundRecord("alpha", "+447700900123", "999", "not yours", NOW))

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        store.write_inbound(records, owners.get, lambda _text: None)
        auth = _auth(key)
        page = await (await client.get("/v1/inbound?limit=2", headers=auth)).json()
        assert [m["text"] for m in page["inbound"]] == ["hi 0", "hi 1"] and page["has_more"]
        cursor = page["next_cursor"]
        rest = await (await client.get(f"/v1/inbound?cursor={cursor}", headers=auth)).json()
        assert [m["text"] for m in rest["inbound"]] == ["hi 2"] and not rest["has_more"]
        assert rest["inbound"][0]["from"] == "+447700900123"
        bad = await client.get("/v1/inbound?limit=0", headers=auth)
        assert bad.status == 422 and (await bad.json())["field"] == "limit"

    run(store, RecordingOutbox(), scenario)
