"""`/v1/stream?feed=campaigns` over a real WebSocket, SQLite and PostgreSQL: an account's live
campaigns (running, paused, scheduled; never a draft, never another account's), with the
quiet-hour hold, from one grouped query per tick."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event

from store import CampaignStore, MessageStore
from tests.integration.api.test_messages_api import NOW, RecordingOutbox, run
from tests.integration.campaigns.test_campaigns_api import INDIA, UK, US, _act, _auth, _create


async def _frame(client: TestClient[Any, Any], key: str) -> dict[str, Any]:
    async with client.ws_connect("/v1/stream?feed=campaigns", headers=_auth(key)) as ws:
        frame: dict[str, Any] = await ws.receive_json(timeout=10)
    return frame


def test_the_campaign_feed_shows_the_accounts_live_campaigns_only(store: MessageStore) -> None:
    seen: dict[str, Any] = {}
    other_key = store.create_api_key("other", NOW)

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        # Given (at 12:00 UTC) a running campaign to New York, India and the UK, 09:00-20:00
        # local (New York is at 07:00: held until 14:00 UTC), one starting tomorrow, a draft,
        # and another account's running campaign
        quiet = await _create(
            client,
            key,
            name="winter sale",
            template="Sale today",
            audience=[US, INDIA, UK],
            send_window="09:00-20:00",
            max_rate=1,
            start_at="2026-11-23T00:00:00Z",
        )
        later = await _create(
            client,
            key,
            name="tomorrow",
            template="Soon",
            audience=[UK],
            start_at="2026-11-24T09:00:00Z",
        )
        await _create(client, key, name="draft", template="Not yet", audience=[UK])
        theirs = await _create(client, other_key, name="theirs", template="Hi", audience=[UK])
        for owner, cid in ((key, quiet["id"]), (key, later["id"]), (other_key, theirs["id"])):
            assert (await _act(client, owner, cid, "start")).status == 200
        # When each account's client opens the campaign feed
        seen["ours"] = await _frame(client, key)
        seen["theirs"] = await _frame(client, other_key)

    run(store, RecordingOutbox(), scenario)
    # Then each sees its own live campaigns only
    ours = {c["name"]: c for c in seen["ours"]["campaigns"]}
    assert seen["ours"]["type"] == "campaigns" and set(ours) == {"winter sale", "tomorrow"}
    assert [c["name"] for c in seen["theirs"]["campaigns"]] == ["theirs"]
    sale = ours["winter sale"]
    assert sale["state"] == "running" and sale["max_rate"] == 1
    assert (sale["total"], sale["sent"], sale["remaining"], sale["skipped"]) == (3, 0, 3, 0)
    assert (sale["held"], sale["held_zones"]) == (1, 1)
    assert sale["held_until"] == "2026-11-23T14:00:00+00:00"
    assert sale["eta_seconds"] == 2  # the two not held, at the max rate (no rate measured yet)
    assert ours["tomorrow"]["state"] == "scheduled" and ours["tomorrow"]["eta_seconds"] is None


def test_the_live_view_of_every_campaign_is_one_query(store: MessageStore) -> None:
    ids: dict[str, str] = {}

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        for n in range(5):
            created = await _create(client, key, name=f"c{n}", template="Hi", audience=[US, UK])
            assert (await _act(client, key, created["id"], "start")).status == 200
        ids["account"] = store.ensure_account("acme", NOW)

    run(store, RecordingOutbox(), scenario)
    statements: list[str] = []
    campaigns = CampaignStore(store.engine)
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    live = campaigns.live(ids["account"])
    assert [c.name for c in live] == ["c0", "c1", "c2", "c3", "c4"]
    assert all(
        c.by_status == {"scheduled": 2} and sum(c.scheduled_by_zone.values()) == 2 for c in live
    )
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


def test_the_stream_without_a_websocket_handshake_is_426_and_an_unknown_feed_422(
    store: MessageStore,
) -> None:
    answers: dict[str, Any] = {}

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        # When a plain GET (no Upgrade) asks for the campaign feed, and another an unknown feed
        plain = await client.get("/v1/stream?feed=campaigns", headers=_auth(key))
        answers["plain"] = (plain.status, plain.headers.get("Upgrade"), await plain.json())
        unknown = await client.get("/v1/stream?feed=everything", headers=_auth(key))
        answers["unknown"] = (unknown.status, await unknown.json())

    run(store, RecordingOutbox(), scenario)
    # Then problem+json names what is wrong, and a 426 names the protocol (RFC 9110 §15.5.22)
    status, upgrade, body = answers["plain"]
    assert (status, upgrade, body["code"]) == (426, "websocket", "websocket_upgrade_required")
    status, body = answers["unknown"]
    assert (status, body["code"], body["field"]) == (422, "invalid_input", "feed")
