"""POST/GET /v1/messages over HTTP, SQLite and PostgreSQL: 202 after commit, clear errors."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api import ApiServices, GroupCommitter, make_app
from messaging import CallbackPolicy, parse_networks
from routing import load_routes
from store import MessageStore

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
_db = itertools.count()


class RecordingOutbox:
    """Collects what would be enqueued (the Celery path is covered end to end)."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[str, list[str]]] = []

    def enqueue(self, message_class: str, ids: Sequence[str]) -> None:
        self.enqueued.append((message_class, list(ids)))


def serve_api(
    store: MessageStore, during: Callable[[TestClient[Any, Any]], Awaitable[None]]
) -> None:
    """Run `during` against the API over `store` (a recording outbox, a fixed clock), in a
    test server of its own."""

    async def main() -> None:
        committer = GroupCommitter(store, RecordingOutbox())
        app = make_app(ApiServices(store=store, committer=committer, clock=lambda: NOW))
        async with TestClient(TestServer(app)) as client:
            await during(client)
        committer.close()

    asyncio.run(main())


Scenario = Callable[[TestClient[Any, Any], str], Awaitable[None]]


ROUTES = load_routes(Path(__file__).resolve().parents[3] / "config" / "routes.toml")
# The allow-list the tests run with (callbacks to a receiver on this host), and a stub DNS: no
# test looks a real name up. 93.184.216.34 is public but nothing ever connects to it here.
TEST_POLICY = CallbackPolicy(parse_networks("127.0.0.1/32"))
STUB_DNS: dict[str, list[str]] = {
    "hooks.example.com": ["93.184.216.34"],
    "metadata.example.com": ["169.254.169.254"],
    "split.example.com": ["93.184.216.34", "10.0.0.7"],
    "local.example.com": ["127.0.0.1"],
}


async def stub_resolve(host: str) -> list[str]:
    """Addresses from `STUB_DNS`; any other name does not resolve."""
    if host not in STUB_DNS:
        raise OSError(f"stub DNS: no such name {host}")
    return STUB_DNS[host]


def run(
    store: MessageStore,
    outbox: RecordingOutbox,
    scenario: Scenario,
    admin: bool = False,
    account: str = "acme",
) -> None:
    key = store.create_api_key(account, NOW, is_admin=admin)

    async def main() -> None:
        committer = GroupCommitter(store, outbox)
        services = ApiServices(
            store=store,
            committer=committer,
            clock=lambda: NOW,
            routes=lambda: ROUTES,
            callback_policy=TEST_POLICY,
            resolve=stub_resolve,
        )
        app = make_app(services)
        async with TestClient(TestServer(app)) as client:
            await scenario(client, key)
        committer.close()

    asyncio.run(main())


def message_rows(store: MessageStore) -> int:
    return sum(store.status_counts().values())


def test_accepted_message_is_committed_enqueued_and_readable(store: MessageStore) -> None:
    outbox = RecordingOutbox()

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        auth = {"Authorization": f"Bearer {key}"}
        body = {"to": "+44 7400 123456", "from": "Acme", "body": "hello €", "class": "otp"}
        response = await client.post("/v1/messages", json=body, headers=auth)
        assert response.status == 202
        accepted = await response.json()
        assert accepted["status"] == "queued" and accepted["to"] == "+447400123456"
        assert accepted["segments"] == 1 and accepted["encoding"] == "gsm7"
        assert store.status_counts() == {"queued": 1}
        assert outbox.enqueued == [("otp", [accepted["id"]])]
        shown = await client.get(f"/v1/messages/{accepted['id']}", headers=auth)
        assert shown.status == 200
        data = await shown.json()
        assert (data["status"], data["attempts"]) == ("queued", [])

    run(store, outbox, scenario)


def test_concurrent_requests_share_group_commits(store: MessageStore) -> None:
    outbox = RecordingOutbox()

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        auth = {"Authorization": f"Bearer {key}"}
        body = {"to": "+33612345678", "body": "bulk", "class": "marketing"}
        responses = await asyncio.gather(
            *(client.post("/v1/messages", json=body, headers=auth) for _ in range(60))
        )
        assert [r.status for r in responses] == [202] * 60

    run(store, outbox, scenario)
    assert message_rows(store) == 60
    assert sum(len(ids) for _, ids in outbox.enqueued) == 60
    assert len(outbox.enqueued) < 60  # grouped: fewer enqueues (and commits) than requests


BAD_INPUTS: list[tuple[str, dict[str, str], bytes, int, str]] = [
    ("malformed JSON", {"Authorization": "Bearer {key}"}, b'{"to": ', 400, "malformed_json"),
    (
        "invalid UTF-8",
        {"Authorization": "Bearer {key}"},
        b'{"to": "+447400123456", "body": "\xff\xfe"}',
        400,
        "malformed_json",
    ),
    (
        "lone surrogate",
        {"Authorization": "Bearer {key}"},
        b'{"to": "+447400123456", "body": "\\ud800"}',
        400,
        "malformed_json",
    ),
    ("no API key", {}, b'{"to": "+447400123456", "body": "x"}', 401, "missing_api_key"),
    (
        "unknown API key",
        {"Authorization": "Bearer sb_nope"},
        b'{"to": "+447400123456", "body": "x"}',
        401,
        "invalid_api_key",
    ),
    (
        "invalid number",
        {"Authorization": "Bearer {key}"},
        b'{"to": "+447700900123", "body": "x"}',
        422,
        "invalid_number",
    ),
    (
        "national number",
        {"Authorization": "Bearer {key}"},
        b'{"to": "07400123456", "body": "x"}',
        422,
        "invalid_number",
    ),
    (
        "empty body",
        {"Authorization": "Bearer {key}"},
        b'{"to": "+447400123456", "body": "  "}',
        422,
        "empty_body",
    ),
    (
        "unknown class",
        {"Authorization": "Bearer {key}"},
        b'{"to": "+447400123456", "body": "x", "class": "vip"}',
        422,
        "invalid_input",
    ),
    (
        "unknown field",
        {"Authorization": "Bearer {key}"},
        b'{"to": "+447400123456", "body": "x", "prio": 1}',
        422,
        "invalid_input",
    ),
    (
        "bad sender",
        {"Authorization": "Bearer {key}"},
        b'{"to": "+447400123456", "body": "x", "from": "ThisIsTooLongASender"}',
        422,
        "invalid_input",
    ),
    (
        "not an object",
        {"Authorization": "Bearer {key}"},
        b'["+447400123456"]',
        422,
        "invalid_input",
    ),
]


@pytest.mark.parametrize(
    ("case", "headers", "payload", "status", "code"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_gets_problem_json_and_stores_nothing(
    store: MessageStore, case: str, headers: dict[str, str], payload: bytes, status: int, code: str
) -> None:
    outbox = RecordingOutbox()

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        sent = {k: v.format(key=key) for k, v in headers.items()}
        response = await client.post(
            "/v1/messages", data=payload, headers={**sent, "Content-Type": "application/json"}
        )
        assert response.status == status
        assert response.headers["Content-Type"].startswith("application/problem+json")
        problem = await response.json(content_type=None)
        assert problem["code"] == code and problem["status"] == status and problem["detail"]

    run(store, outbox, scenario)
    assert message_rows(store) == 0
    assert outbox.enqueued == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("callback_events", "some"),
        ("callback_events", 1),
        ("callback_batch", "yes"),
        ("callback_batch", 1),
    ],
)
def test_bad_callback_options_name_their_field_and_store_nothing(
    store: MessageStore, field: str, value: object
) -> None:
    outbox = RecordingOutbox()

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        body = {"to": "+447400123456", "body": "x", "callback_url": "http://127.0.0.1:1/h"}
        response = await client.post(
            "/v1/messages", json={**body, field: value}, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status == 422
        assert response.headers["Content-Type"].startswith("application/problem+json")
        problem = await response.json(content_type=None)
        assert (problem["code"], problem["field"]) == ("invalid_input", field)

    run(store, outbox, scenario)
    assert message_rows(store) == 0
    assert outbox.enqueued == []


def test_callback_options_are_stored_on_the_message(store: MessageStore) -> None:
    outbox = RecordingOutbox()
    bodies = [
        {"callback_events": "final", "callback_batch": True},
        {},
    ]

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        for options in bodies:
            body = {"to": "+447400123456", "body": "x", "callback_url": "http://127.0.0.1:1/h"}
            response = await client.post(
                "/v1/messages", json={**body, **options}, headers={"Authorization": f"Bearer {key}"}
            )
            assert response.status == 202

    run(store, outbox, scenario)
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "select callback_events, callback_batch from messages order by created_at, id"
        ).all()
    assert sorted((events, bool(batch)) for events, batch in rows) == [
        ("all", False),
        ("final", True),
    ]


def test_other_accounts_message_is_not_found(store: MessageStore) -> None:
    outbox = RecordingOutbox()
    other_key = store.create_api_key("other", NOW)

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        response = await client.post(
            "/v1/messages",
            json={"to": "+447400123456", "body": "mine"},
            headers={"Authorization": f"Bearer {key}"},
        )
        message_id = (await response.json())["id"]
        peek = await client.get(
            f"/v1/messages/{message_id}", headers={"Authorization": f"Bearer {other_key}"}
        )
        assert peek.status == 404
        assert (await peek.json(content_type=None))["code"] == "not_found"

    run(store, outbox, scenario)


def test_pricing_gives_the_routed_carriers_price_per_segment(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        auth = {"Authorization": f"Bearer {key}"}
        uk = await client.get("/v1/pricing", params={"to": "+447400123456"}, headers=auth)
        assert uk.status == 200
        assert await uk.json() == {
            "to": "+447400123456",
            "class": "transactional",
            "price_per_segment": "0.028",
            "currency": "EUR",
        }
        bad = await client.get("/v1/pricing", params={"to": "12"}, headers=auth)
        assert bad.status == 422 and (await bad.json(content_type=None))["code"] == "invalid_number"

    run(store, RecordingOutbox(), scenario)


def test_route_explain_needs_an_admin_key(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        response = await client.get(
            "/v1/routes/explain",
            params={"to": "+447400123456"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status == 403
        assert (await response.json(content_type=None))["code"] == "admin_required"

    run(store, RecordingOutbox(), scenario)


def test_route_explain_shows_candidates_in_order(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        response = await client.get(
            "/v1/routes/explain",
            params={"to": "+33612345678", "class": "marketing"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status == 200
        decision = await response.json()
        assert decision["route"] == "default"
        assert [c["carrier"] for c in decision["candidates"]] == [
            "beta",
            "alpha",
        ]  # beta is cheaper for +33
        costs = [float(c["cost"]) for c in decision["candidates"]]
        assert costs == sorted(costs)

    run(store, RecordingOutbox(), scenario, admin=True)


def test_route_explain_shows_account_blocks_and_unserved_destinations(
    store: MessageStore,
) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        auth = {"Authorization": f"Bearer {key}"}
        blocked = await client.get(
            "/v1/routes/explain",
            params={"to": "+2348031234567", "account": "trial"},
            headers=auth,
        )
        assert blocked.status == 200
        decision = await blocked.json()
        assert decision["account"] == "trial"
        assert decision["candidates"] == []
        assert {e["carrier"]: e["reason"] for e in decision["excluded"]} == {
            "alpha": "account blocked",
            "beta": "account blocked",
        }
        russia = await client.get("/v1/routes/explain", params={"to": "+79161234567"}, headers=auth)
        decision = await russia.json()
        assert [c["carrier"] for c in decision["candidates"]] == ["alpha"]
        assert decision["excluded"] == [
            {
                "carrier": "beta",
                "reason": "destination not served",
                "detail": "does not serve +7 (carriers.beta.exclude_prefixes)",
            }
        ]
        assert decision["demoted"] == []

    run(store, RecordingOutbox(), scenario, admin=True)


def test_destination_blocked_for_the_account_is_refused_and_not_stored(store: MessageStore) -> None:
    outbox = RecordingOutbox()

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        auth = {"Authorization": f"Bearer {key}"}
        body = {"to": "+2348031234567", "body": "hi"}
        response = await client.post("/v1/messages", json=body, headers=auth)
        assert response.status == 403
        problem = await response.json(content_type=None)
        assert problem["code"] == "destination_blocked" and "+234" in problem["detail"]

    run(store, outbox, scenario, account="trial")
    assert message_rows(store) == 0 and outbox.enqueued == []


def test_pricing_of_another_account_is_forbidden_to_a_non_admin_key(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        auth = {"Authorization": f"Bearer {key}"}
        params = {"to": "+447400123456", "account": "other"}
        other = await client.get("/v1/pricing", params=params, headers=auth)
        assert other.status == 403
        assert other.content_type == "application/problem+json"
        assert (await other.json(content_type=None))["code"] == "forbidden"
        own = {"to": "+447400123456", "account": "acme"}
        assert (await client.get("/v1/pricing", params=own, headers=auth)).status == 200

    run(store, RecordingOutbox(), scenario)


def test_an_admin_key_may_read_another_accounts_pricing(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        auth = {"Authorization": f"Bearer {key}"}
        params = {"to": "+447400123456", "account": "other"}
        assert (await client.get("/v1/pricing", params=params, headers=auth)).status == 200

    run(store, RecordingOutbox(), scenario, admin=True)


FORBIDDEN_CALLBACKS = [
    "http://169.254.169.254/latest/meta-data",
    "http://127.0.0.2:6379/",
    "http://[::ffff:169.254.169.254]/",
    "http://2130706434/",  # 127.0.0.2 (127.0.0.1 is on the test allow-list)
    "http://0x7f.2/",
    "http://0177.0.0.2/",
    "http://127.2/",
    "http://10.0.0.1/",
    "http://100.64.0.1/",
    "http://[fd00::1]/",
    "http://metadata.example.com/",
    "http://split.example.com/",
    "http://nowhere.example.com/",
    "http://localhost.localdomain.example\\@127.0.0.2/",
]


@pytest.mark.parametrize("url", FORBIDDEN_CALLBACKS)
def test_a_callback_url_to_a_private_address_is_422_and_stores_nothing(
    store: MessageStore, url: str
) -> None:
    outbox = RecordingOutbox()

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        body = {"to": "+447400123456", "body": "x", "callback_url": url}
        response = await client.post(
            "/v1/messages", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status == 422
        problem = await response.json(content_type=None)
        assert (problem["code"], problem["field"]) == ("callback_url_forbidden", "callback_url")

    run(store, outbox, scenario)
    assert message_rows(store) == 0 and outbox.enqueued == []


def test_a_public_or_allow_listed_callback_host_is_accepted(store: MessageStore) -> None:
    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        for url in [
            "https://hooks.example.com/cb",
            "http://local.example.com:8080/cb",  # resolves to 127.0.0.1: allow-listed
            "http://2130706433:9/cb",
        ]:
            body = {"to": "+447400123456", "body": "x", "callback_url": url}
            response = await client.post(
                "/v1/messages", json=body, headers={"Authorization": f"Bearer {key}"}
            )
            assert response.status == 202, url

    run(store, RecordingOutbox(), scenario)
    assert message_rows(store) == 3
