"""GET/PUT /v1/account/settings over HTTP on SQLite and PostgreSQL: the caller's own
`inbound_url` and reply texts, replaced whole, tenant-scoped, and every bad input a
problem+json naming its field with nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from store import AccountSettings, AccountSettingsStore, MessageStore
from tests.integration.api.test_messages_api import NOW, RecordingOutbox, run

PATH = "/v1/account/settings"
UNSET = {
    "inbound_url": None,
    "replies": {"help": None, "stop": None, "start": None, "auto": None},
    "updated_at": None,
}


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_settings_start_unset_and_a_put_replaces_them_whole(store: MessageStore) -> None:
    seen: list[Any] = []

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        seen.append(await (await client.get(PATH, headers=_auth(key))).json())
        body = {
            "inbound_url": "https://hooks.example.com/mo",
            "replies": {"help": "Acme: call 0800 000", "stop": "", "auto": None},
        }
        put = await client.put(PATH, json=body, headers=_auth(key))
        assert put.status == 200, await put.text()
        seen.append(await put.json())
        again = await client.put(
            PATH, json={"replies": {"start": "Welcome back"}}, headers=_auth(key)
        )
        seen.append(await again.json())
        seen.append(await (await client.get(PATH, headers=_auth(key))).json())

    run(store, RecordingOutbox(), scenario)
    unset, first, second, shown = seen
    assert unset == UNSET
    assert first["inbound_url"] == "https://hooks.example.com/mo"
    assert first["replies"] == {
        "help": "Acme: call 0800 000",
        "stop": "",
        "start": None,
        "auto": None,
    }
    assert first["updated_at"] is not None
    assert second["inbound_url"] is None  # left out: back to the routes file's
    assert second["replies"] == {"help": None, "stop": None, "start": "Welcome back", "auto": None}
    assert shown == second


def test_an_account_reads_and_writes_only_its_own_settings(store: MessageStore) -> None:
    other = store.ensure_account("other", NOW)
    AccountSettingsStore(store.engine).put(
        other, AccountSettings("https://other.example/mo", reply_help="Other"), NOW
    )
    seen: list[Any] = []

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        seen.append(await (await client.get(PATH, headers=_auth(key))).json())
        body = {"replies": {"help": "Acme"}}
        assert (await client.put(PATH, json=body, headers=_auth(key))).status == 200

    run(store, RecordingOutbox(), scenario)  # as acme
    assert seen == [UNSET]
    kept = AccountSettingsStore(store.engine).get(other)
    assert (kept.inbound_url, kept.reply_help) == ("https://other.example/mo", "Other")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"inbound_url": "http://127.0.0.2/mo"}, "callback_url_forbidden", "inbound_url"),
        ({"inbound_url": "http://169.254.169.254/"}, "callback_url_forbidden", "inbound_url"),
        ({"inbound_url": "https://metadata.example.com/"}, "callback_url_forbidden", "inbound_url"),
        ({"inbound_url": "https://split.example.com/"}, "callback_url_forbidden", "inbound_url"),
        ({"inbound_url": "https://nowhere.example.com/"}, "callback_url_forbidden", "inbound_url"),
        ({"inbound_url": "ftp://hooks.example.com/"}, "invalid_input", "inbound_url"),
        (
            {"inbound_url": "https://hooks.example.com/" + "a" * 2048},
            "invalid_input",
            "inbound_url",
        ),
        ({"inbound_url": 7}, "invalid_input", "inbound_url"),
        ({"replies": {"help": ""}}, "invalid_input", "replies.help"),
        ({"replies": {"stop": "   "}}, "invalid_input", "replies.stop"),
        ({"replies": {"auto": "x" * 481}}, "invalid_input", "replies.auto"),
        ({"replies": {"start": 1}}, "invalid_input", "replies.start"),
        ({"replies": {"hello": "x"}}, "invalid_input", "replies.hello"),
        ({"replies": ["help"]}, "invalid_input", "replies"),
        ({"callback_url": "https://hooks.example.com/"}, "invalid_input", "callback_url"),
        (["inbound_url"], "invalid_input", "body"),
    ],
)
def test_bad_settings_are_422_naming_the_field_and_change_nothing(
    store: MessageStore, body: Any, code: str, field: str
) -> None:
    seen: list[Any] = []

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        good = {"inbound_url": "https://hooks.example.com/mo", "replies": {"help": "Acme"}}
        assert (await client.put(PATH, json=good, headers=_auth(key))).status == 200
        response = await client.put(PATH, json=body, headers=_auth(key))
        seen.append(
            (response.status, response.content_type, await response.json(content_type=None))
        )
        seen.append(await (await client.get(PATH, headers=_auth(key))).json())

    run(store, RecordingOutbox(), scenario)
    (status, content_type, problem), after = seen
    assert (status, content_type) == (422, "application/problem+json")
    assert (problem["code"], problem["field"]) == (code, field)
    assert after["inbound_url"] == "https://hooks.example.com/mo"
    assert after["replies"]["help"] == "Acme"


def test_malformed_json_is_400_and_an_allow_listed_host_is_accepted(store: MessageStore) -> None:
    seen: list[Any] = []

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        bad = await client.put(
            PATH, data=b"{", headers={**_auth(key), "Content-Type": "application/json"}
        )
        seen.append((bad.status, (await bad.json(content_type=None))["code"]))
        local = {"inbound_url": "http://local.example.com:8080/mo"}  # 127.0.0.1: allow-listed
        seen.append((await client.put(PATH, json=local, headers=_auth(key))).status)
        seen.append((await client.get(PATH)).status)  # no key

    run(store, RecordingOutbox(), scenario)
    assert seen == [(400, "malformed_json"), 200, 401]
