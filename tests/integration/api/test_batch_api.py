"""POST /v1/messages/batch over HTTP, SQLite and PostgreSQL: per-item errors, one commit, one
enqueue per class, nothing stored for the bad items (or for a batch with no good one)."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp.test_utils import TestClient

from store import MessageStore
from tests.integration.api.test_messages_api import RecordingOutbox, message_rows, run


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_mixed_batch_commits_the_good_items_and_reports_each_bad_one_by_index(
    store: MessageStore,
) -> None:
    outbox = RecordingOutbox()
    items: list[Any] = [
        {"to": "+447400123456", "body": "one", "class": "otp"},
        {"to": "+447700900123", "body": "invalid number"},  # reserved for drama
        {"to": "+33612345678", "body": "two", "class": "marketing"},
        {"to": "+447400123457", "body": "  "},
        {"to": "+447400123458", "body": "three", "class": "otp"},
        {"to": "+2348031234567", "body": "blocked for trial accounts"},
        {"to": "+447400123459", "body": "x", "prio": 1},
        "not an object",
        {"to": "+33612345679", "body": "four", "class": "marketing"},
    ]
    seen: dict[str, Any] = {}

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        response = await client.post(
            "/v1/messages/batch", json={"messages": items}, headers=_auth(key)
        )
        assert response.status == 202
        seen.update(await response.json())
        assert store.status_counts() == {"queued": 4}  # committed before the 202

    run(store, outbox, scenario, account="trial")
    assert (seen["accepted"], seen["rejected"]) == (4, 5)
    entries = seen["messages"]
    assert [e["index"] for e in entries] == list(range(len(items)))
    errors = {e["index"]: e["error"] for e in entries if "error" in e}
    assert {i: (e["code"], e.get("field")) for i, e in errors.items()} == {
        1: ("invalid_number", "to"),
        3: ("empty_body", "body"),
        5: ("destination_blocked", None),
        6: ("invalid_input", "prio"),
        7: ("invalid_input", "body"),
    }
    assert all(e["detail"] and e["status"] in (403, 422) for e in errors.values())
    accepted = [e for e in entries if "id" in e]
    assert [e["to"] for e in accepted] == [
        "+447400123456",
        "+33612345678",
        "+447400123458",
        "+33612345679",
    ]
    assert all(e["status"] == "queued" for e in accepted)
    # One enqueue per class for the whole batch, with every id of that class in it.
    assert sorted(outbox.enqueued) == sorted(
        [
            ("otp", [accepted[0]["id"], accepted[2]["id"]]),
            ("marketing", [accepted[1]["id"], accepted[3]["id"]]),
        ]
    )
    assert message_rows(store) == 4


def test_recipients_form_fills_each_body_and_a_missing_variable_fails_only_its_recipient(
    store: MessageStore,
) -> None:
    outbox = RecordingOutbox()
    seen: dict[str, Any] = {}
    batch = {
        "from": "Acme",
        "class": "transactional",
        "body": "Hi {{name}}, your code is {{ code }}",
        "recipients": [
            {"to": "+447400123456", "variables": {"name": "Ann", "code": 1234}},
            {"to": "+447400123457", "variables": {"name": "Bob"}},
            "+447400123458",
            {"to": "+33612345678", "variables": {"name": "Cé", "code": "42"}},
        ],
    }

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        response = await client.post("/v1/messages/batch", json=batch, headers=_auth(key))
        assert response.status == 202
        seen.update(await response.json())
        for entry in seen["messages"]:
            if "id" in entry:
                shown = await client.get(f"/v1/messages/{entry['id']}", headers=_auth(key))
                entry["shown"] = await shown.json()

    run(store, outbox, scenario)
    entries = seen["messages"]
    assert (seen["accepted"], seen["rejected"]) == (2, 2)
    assert [e.get("error", {}).get("code") for e in entries] == [
        None,
        "missing_variable",
        "missing_variable",
        None,
    ]
    assert (
        entries[1]["error"]["field"] == "variables" and "{{code}}" in entries[1]["error"]["detail"]
    )
    assert [(e["to"], e["from"], e["class"]) for e in entries if "id" in e] == [
        ("+447400123456", "Acme", "transactional"),
        ("+33612345678", "Acme", "transactional"),
    ]
    with store.engine.connect() as conn:
        bodies = sorted(r[0] for r in conn.exec_driver_sql("select body from messages"))
    assert bodies == ["Hi Ann, your code is 1234", "Hi Cé, your code is 42"]
    assert len(outbox.enqueued) == 1 and len(outbox.enqueued[0][1]) == 2


def test_batch_with_no_valid_item_is_422_with_every_items_problem_and_stores_nothing(
    store: MessageStore,
) -> None:
    outbox = RecordingOutbox()

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        items = [{"to": "12", "body": "x"}, {"to": "+447400123456"}]
        response = await client.post(
            "/v1/messages/batch", json={"messages": items}, headers=_auth(key)
        )
        assert response.status == 422
        assert response.headers["Content-Type"].startswith("application/problem+json")
        problem = await response.json(content_type=None)
        assert problem["code"] == "batch_invalid" and problem["rejected"] == 2
        assert [(e["index"], e["code"], e["field"]) for e in problem["errors"]] == [
            (0, "invalid_number", "to"),
            (1, "empty_body", "body"),
        ]

    run(store, outbox, scenario)
    assert message_rows(store) == 0 and outbox.enqueued == []


def test_more_than_1000_messages_or_too_many_bytes_is_refused_whole(store: MessageStore) -> None:
    outbox = RecordingOutbox()

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        items = [{"to": "+447400123456", "body": "x"}] * 1001
        response = await client.post(
            "/v1/messages/batch", json={"messages": items}, headers=_auth(key)
        )
        assert response.status == 413
        problem = await response.json(content_type=None)
        assert problem["code"] == "too_many_messages" and "1000" in problem["detail"]
        huge = json.dumps({"messages": [{"to": "+447400123456", "body": "x" * 5_000_000}]})

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            for start in range(0, len(huge), 1 << 20):
                yield huge[start : start + (1 << 20)].encode()

        for data in (io.BytesIO(huge.encode()), chunked()):
            response = await client.post(
                "/v1/messages/batch",
                data=data,
                headers={**_auth(key), "Content-Type": "application/json"},
            )
            assert response.status == 413
            assert (await response.json(content_type=None))["code"] == "payload_too_large"

    run(store, outbox, scenario)
    assert message_rows(store) == 0 and outbox.enqueued == []


def test_a_batch_of_1000_is_accepted_whole(store: MessageStore) -> None:
    outbox = RecordingOutbox()

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        items = [{"to": f"+4474001{i:05d}", "body": f"m {i}"} for i in range(1000)]
        response = await client.post(
            "/v1/messages/batch", json={"messages": items}, headers=_auth(key)
        )
        assert response.status == 202
        assert (await response.json())["accepted"] == 1000

    run(store, outbox, scenario)
    assert message_rows(store) == 1000
    assert len(outbox.enqueued) == 1 and len(outbox.enqueued[0][1]) == 1000


BAD_BATCHES: list[tuple[str, Any, str]] = [
    ("both forms", {"messages": [], "recipients": []}, "messages"),
    ("neither form", {"body": "x"}, "messages"),
    ("empty list", {"messages": []}, "messages"),
    ("not a list", {"recipients": "+447400123456", "body": "x"}, "recipients"),
    ("extra top-level field", {"messages": [{"to": "+447400123456"}], "from": "x"}, "from"),
    ("not an object", ["+447400123456"], "body"),
]


def test_a_body_of_neither_form_is_422_naming_the_field(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        for case, body, field in BAD_BATCHES:
            response = await client.post("/v1/messages/batch", json=body, headers=_auth(key))
            problem = await response.json(content_type=None)
            assert (response.status, problem["code"], problem["field"]) == (
                422,
                "invalid_input",
                field,
            ), case

    run(store, RecordingOutbox(), scenario)
    assert message_rows(store) == 0


MALFORMED_BATCHES = [
    ("invalid UTF-8", b'{"messages": [{"to": "+447400123456", "body": "\xff"}]}'),
    ("lone surrogate", b'{"messages": [{"to": "+447400123456", "body": "\\ud800"}]}'),
    ("lone low surrogate", b'{"from": "Acme", "body": "\\udc00", "recipients": ["+447400123456"]}'),
]


def test_invalid_utf8_or_a_lone_surrogate_is_400_malformed_json(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        for case, payload in MALFORMED_BATCHES:
            response = await client.post(
                "/v1/messages/batch",
                data=payload,
                headers={**_auth(key), "Content-Type": "application/json"},
            )
            assert response.status == 400, case
            assert response.content_type == "application/problem+json", case
            assert (await response.json(content_type=None))["code"] == "malformed_json", case

    outbox = RecordingOutbox()
    run(store, outbox, scenario)
    assert message_rows(store) == 0 and outbox.enqueued == []


def test_a_batch_item_with_a_private_callback_host_fails_alone(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        body = {
            "messages": [
                {"to": "+447400123456", "body": "a", "callback_url": "https://hooks.example.com/"},
                {
                    "to": "+447400123457",
                    "body": "b",
                    "callback_url": "http://metadata.example.com/",
                },
                {"to": "+447400123458", "body": "c", "callback_url": "http://0xa9.254.169.254/"},
            ]
        }
        response = await client.post("/v1/messages/batch", json=body, headers=_auth(key))
        assert response.status == 202
        answer = await response.json()
        assert (answer["accepted"], answer["rejected"]) == (1, 2)
        codes = [m.get("error", {}).get("code") for m in answer["messages"]]
        assert codes == [None, "callback_url_forbidden", "callback_url_forbidden"]

    run(store, RecordingOutbox(), scenario)
    assert message_rows(store) == 1
