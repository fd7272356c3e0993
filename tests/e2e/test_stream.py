"""`/v1/stream`: one event per status change to the key's account, never another account's."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import aiohttp

from switchboard.load import send_all
from switchboard.wiring import utcnow
from tests.e2e.conftest import StackFactory

_COLLECTORS: set[asyncio.Future[None]] = set()  # held until they end (the socket closes)


async def _listen(
    session: aiohttp.ClientSession, url: str, key: str, subprotocol: bool = False
) -> tuple[aiohttp.ClientWebSocketResponse, list[dict[str, Any]]]:
    if subprotocol:  # as a browser must: the key as the second subprotocol
        ws = await session.ws_connect(url, protocols=("switchboard", key))
        assert ws.protocol == "switchboard"
    else:
        ws = await session.ws_connect(url, headers={"Authorization": f"Bearer {key}"})
    ready = json.loads((await ws.receive(timeout=10)).data)
    assert ready["type"] == "ready"
    events: list[dict[str, Any]] = []

    async def collect() -> None:
        async for message in ws:
            frame = json.loads(message.data)
            assert frame["type"] == "status"
            events.extend(frame["events"])

    task = asyncio.ensure_future(collect())
    _COLLECTORS.add(task)
    task.add_done_callback(_COLLECTORS.discard)
    return ws, events


def test_stream_delivers_one_event_per_status_change_and_only_the_accounts_own(
    make_stack: StackFactory,
) -> None:
    # Given two accounts' clients listening (one authenticated the browser's way)
    stack = make_stack(undelivered=0.0)
    other_key = stack.store.create_api_key("other", utcnow())
    url = stack.api_url.replace("http", "ws") + "/v1/stream"
    ours = [{"to": f"+4474002{n:05d}", "body": f"stream {n}"} for n in range(40)]
    theirs = [{"to": f"+3361234{n:04d}", "body": f"other {n}"} for n in range(5)]

    async def scenario() -> tuple[list[str], list[str], list[list[dict[str, Any]]]]:
        async with aiohttp.ClientSession() as session:
            mine, mine_events = await _listen(session, url, stack.api_key)
            browser, browser_events = await _listen(session, url, stack.api_key, subprotocol=True)
            other, other_events = await _listen(session, url, other_key)
            # When each account sends messages that reach `delivered`
            sent = await send_all(stack.api_url, stack.api_key, ours, concurrency=8)
            other_sent = await send_all(stack.api_url, other_key, theirs, concurrency=4)
            expected = 2 * len(sent.accepted)
            for _ in range(300):
                if (
                    len(mine_events) >= expected
                    and len(browser_events) >= expected
                    and len(other_events) >= 2 * len(other_sent.accepted)
                ):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # nothing more may come
            for ws in (mine, browser, other):
                await ws.close()
            return sent.accepted, other_sent.accepted, [mine_events, browser_events, other_events]

    accepted, other_accepted, (mine, browser, other) = asyncio.run(scenario())
    # Then each change came exactly once, to its own account's clients only
    assert len(accepted) == 40 and len(other_accepted) == 5
    assert asyncio.run(_refusals(url, stack.api_key)) == [401, 403]
    for events, ids in ((mine, accepted), (browser, accepted), (other, other_accepted)):
        changes = Counter((e["id"], e["status"]) for e in events)
        assert set(changes.values()) == {1}
        assert set(changes) == {(i, s) for i in ids for s in ("sent", "delivered")}


async def _refusals(url: str, tenant_key: str) -> list[int]:
    """Handshake statuses without a key, and for the operator feed with a tenant's key."""
    out = []
    async with aiohttp.ClientSession() as session:
        for target, headers in (
            (url, {}),
            (url + "?feed=operator", {"Authorization": f"Bearer {tenant_key}"}),
        ):
            try:
                await session.ws_connect(target, headers=headers)
            except aiohttp.WSServerHandshakeError as error:
                out.append(error.status)
    return out
