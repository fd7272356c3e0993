"""The pure parts of callback delivery: hand-off batches and the in-memory dispatcher."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from messaging import CallbackEvent
from store import PendingCallback, StatusChange
from workers.callback_delivery import handoff_batches
from workers.callback_dispatcher import MemoryDispatcher

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOOK = "http://127.0.0.1:1/hook"


def _pending(n: int, url: str = HOOK, batch: bool = False) -> PendingCallback:
    event = CallbackEvent(f"m{n}", "sent", None, "alpha", 1, None, None, "+447911123456", T0, T0,
                          None, T0)  # fmt: skip
    return PendingCallback(n, url, batch, 1, T0, event)


def test_hand_off_carries_only_messages_with_a_callback_url_once_each() -> None:
    changes = [
        StatusChange("m1", "sent", HOOK),
        StatusChange("m2", "sent", None),
        StatusChange("m1", "delivered", HOOK),
        *(StatusChange(f"x{n}", "sent", HOOK) for n in range(4)),
    ]
    assert handoff_batches(changes, size=3) == [["m1", "x0", "x1"], ["x2", "x3"]]
    assert handoff_batches([StatusChange("m2", "sent", None)]) == []


def test_memory_dispatcher_batches_per_url_up_to_the_max_and_posts_singles_alone() -> None:
    dispatcher = MemoryDispatcher(batch_max=100, failing={"http://127.0.0.1:1/down"})
    events = [
        *(_pending(n, batch=True) for n in range(150)),
        _pending(500),
        _pending(501, url="http://127.0.0.1:1/down", batch=True),
    ]
    report = dispatcher.deliver(events, deadline=1.0)
    assert sorted(report.delivered) == [*range(150), 500] and report.failed == (501,)
    bodies = [orjson.loads(body) for _, body in dispatcher.posted]
    assert [len(b["events"]) for b in bodies if "events" in b] == [100, 50]
    assert [b["id"] for b in bodies if "events" not in b] == ["m500"]


def test_an_event_written_with_its_body_is_posted_as_is() -> None:
    dispatcher = MemoryDispatcher()
    mo = b'{"type":"inbound","id":"mo1"}'
    with_body = PendingCallback(7, HOOK, False, 1, T0, _pending(7).event, "acct", body=mo)
    report = dispatcher.deliver([with_body, _pending(8)], deadline=1.0)
    assert report.delivered == (7, 8)
    assert dispatcher.posted[0] == (HOOK, mo)
    assert orjson.loads(dispatcher.posted[1][1])["id"] == "m8"  # a status event: rendered
