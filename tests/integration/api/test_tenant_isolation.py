"""Tenant isolation: every route, called with another account's key, neither shows nor changes
what belongs to the first account (SQLite and PostgreSQL, real HTTP, real Redis).

`acme` owns a message, a pending verification, an opted-out number and an MO; `other` (an
ordinary key) calls each route with acme's ids. `CASES` covers every route the app mounts
(checked against the router), so a new route fails here until someone says what it must do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from store import InboundRecord, SigningSecrets
from tests.integration.otp.conftest import START, Harness, run

NUMBER = "+447400123456"
IDEMPOTENCY_KEY = "acme-order-1"
MESSAGE = {"to": NUMBER, "body": "hello"}


@dataclass(frozen=True)
class Case:
    """One route called with `other`'s key: the status (and problem code) it must answer."""

    method: str
    route: str  # the router's canonical path
    path: str  # with {message}, {otp} and {number} filled from acme's rows
    status: int
    code: str | None = None
    body: Any = None
    idempotent: bool = False  # sent with acme's Idempotency-Key


# This harness has no Redis, so no stream: 404 before any event (its tenant scoping is
# tests/e2e/test_stream.py, over a real Redis and WebSocket clients).
STREAM_WITHOUT_REDIS = 404

CASES = [
    Case("POST", "/v1/messages", "/v1/messages", 202, body=MESSAGE, idempotent=True),
    Case(
        "POST",
        "/v1/messages/batch",
        "/v1/messages/batch",
        202,
        body={"messages": [MESSAGE]},
        idempotent=True,
    ),
    Case("GET", "/v1/messages", "/v1/messages", 200),
    Case("GET", "/v1/messages/{id}", "/v1/messages/{message}", 404, "not_found"),
    Case("GET", "/v1/inbound", "/v1/inbound", 200),
    Case("GET", "/v1/opt-outs", "/v1/opt-outs", 200),
    Case("POST", "/v1/opt-outs", "/v1/opt-outs", 201, body={"number": NUMBER}),
    Case("DELETE", "/v1/opt-outs/{number}", "/v1/opt-outs/{number}", 204),
    Case("GET", "/v1/routes/explain", f"/v1/routes/explain?to={NUMBER}", 403, "admin_required"),
    Case("GET", "/v1/pricing", f"/v1/pricing?to={NUMBER}&account=acme", 403, "forbidden"),
    Case("POST", "/v1/otp", "/v1/otp", 201, body={"to": NUMBER}),
    Case("GET", "/v1/otp/{id}", "/v1/otp/{otp}", 404, "otp_not_found"),
    Case(
        "POST", "/v1/otp/{id}/check", "/v1/otp/{otp}/check", 404, "otp_not_found", {"code": "1234"}
    ),
    Case("POST", "/v1/otp/{id}/resend", "/v1/otp/{otp}/resend", 404, "otp_not_found"),
    Case("POST", "/v1/otp/{id}/cancel", "/v1/otp/{otp}/cancel", 404, "otp_not_found"),
    Case("GET", "/v1/admin/otp/blocks", "/v1/admin/otp/blocks", 403, "admin_required"),
    Case(
        "DELETE",
        "/v1/admin/otp/blocks/{prefix}",
        "/v1/admin/otp/blocks/+4474",
        403,
        "admin_required",
    ),
]
CASES += [
    Case("GET", "/v1/keys", "/v1/keys?account=acme", 403, "admin_required"),
    Case("POST", "/v1/keys", "/v1/keys", 403, "admin_required", {"account": "acme"}),
    Case("DELETE", "/v1/keys/{id}", "/v1/keys/{key}", 403, "admin_required"),
    Case("POST", "/v1/keys/{id}/rotate", "/v1/keys/{key}/rotate", 403, "admin_required"),
]
CASES.append(Case("POST", "/v1/webhook-secret", "/v1/webhook-secret", 201))
ACME_INBOUND_URL = "https://93.184.216.34/acme-mo"
CASES += [  # other's own settings: acme's neither shown nor changed
    Case("GET", "/v1/account/settings", "/v1/account/settings", 200),
    Case(
        "PUT",
        "/v1/account/settings",
        "/v1/account/settings",
        200,
        body={"inbound_url": "https://93.184.216.34/other-mo", "replies": {"help": "Other"}},
    ),
]
CAMPAIGN = {"template": "Hi {{first_name}}", "from": "Acme"}
CASES += [
    Case("POST", "/v1/campaigns", "/v1/campaigns", 201, body=CAMPAIGN),  # its own campaign
    Case("GET", "/v1/campaigns/{id}", "/v1/campaigns/{campaign}", 404, "not_found"),
    Case(
        "PUT", "/v1/campaigns/{id}/audience", "/v1/campaigns/{campaign}/audience", 404, "not_found"
    ),
    Case("POST", "/v1/campaigns/{id}/{action}", "/v1/campaigns/{campaign}/start", 404, "not_found"),
    Case(
        "GET",
        "/v1/campaigns/{id}/report.csv",
        "/v1/campaigns/{campaign}/report.csv",
        404,
        "not_found",
    ),
    Case("GET", "/metrics", "/metrics", 403, "admin_required"),
    Case("GET", "/v1/stream", "/v1/stream", STREAM_WITHOUT_REDIS, "not_found"),
]
# No account behind them: the dashboard's page and files ask for an admin key themselves.
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/dashboard"),
    ("GET", "/dashboard/static"),
}


def _auth(key: str, idempotency_key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return headers


async def _acme_owns(client: TestClient[Any, Any], h: Harness) -> dict[str, str]:
    """Create acme's rows; their ids by placeholder name."""
    sent = await client.post("/v1/messages", json=MESSAGE, headers=_auth(h.key, IDEMPOTENCY_KEY))
    assert sent.status == 202, await sent.text()
    opted = await client.post("/v1/opt-outs", json={"number": NUMBER}, headers=_auth(h.key))
    assert opted.status == 201
    started = await client.post("/v1/otp", json={"to": NUMBER}, headers=_auth(h.key))
    assert started.status == 201, await started.text()
    signing = await client.post("/v1/webhook-secret", headers=_auth(h.key))
    assert signing.status == 201
    campaign = await client.post("/v1/campaigns", json=CAMPAIGN, headers=_auth(h.key))
    assert campaign.status == 201, await campaign.text()
    settings = {"inbound_url": ACME_INBOUND_URL, "replies": {"help": "Acme's help"}}
    put = await client.put("/v1/account/settings", json=settings, headers=_auth(h.key))
    assert put.status == 200, await put.text()
    h.messages.write_inbound(
        [InboundRecord("alpha", NUMBER, "12345", "acme's MO", START)],
        {"12345": "acme"}.get,
        lambda _text: None,
    )
    return {
        "key": h.messages.list_api_keys("acme")[0].id,
        "message": (await sent.json())["id"],
        "otp": (await started.json())["id"],
        "number": NUMBER,
        "signing_secret": (await signing.json())["secret"],
        "campaign": (await campaign.json())["id"],
    }


async def _acme_unchanged(client: TestClient[Any, Any], h: Harness, ids: dict[str, str]) -> None:
    """acme's rows are as they were."""
    message = await client.get(f"/v1/messages/{ids['message']}", headers=_auth(h.key))
    assert message.status == 200
    otp = await (await client.get(f"/v1/otp/{ids['otp']}", headers=_auth(h.key))).json()
    assert (otp["status"], otp["attempts_left"], otp["sends_left"]) == ("pending", 5, 4)
    opt_outs = await (await client.get("/v1/opt-outs", headers=_auth(h.key))).json()
    assert [o["number"] for o in opt_outs["opt_outs"]] == [NUMBER]
    inbound = await (await client.get("/v1/inbound", headers=_auth(h.key))).json()
    assert [m["text"] for m in inbound["inbound"]] == ["acme's MO"]
    assert [k.revoked_at for k in h.messages.list_api_keys("acme")] == [None]
    campaign = await client.get(f"/v1/campaigns/{ids['campaign']}", headers=_auth(h.key))
    assert campaign.status == 200 and (await campaign.json())["state"] == "draft"
    settings = await (await client.get("/v1/account/settings", headers=_auth(h.key))).json()
    assert (settings["inbound_url"], settings["replies"]["help"]) == (
        ACME_INBOUND_URL,
        "Acme's help",
    )
    acme = h.messages.ensure_account("acme", START)
    assert SigningSecrets(h.engine).read(acme, START) == (ids["signing_secret"],)


def test_cases_cover_every_mounted_route(harness: Harness) -> None:
    from api import GroupCommitter

    committer = GroupCommitter(harness.messages, harness.outbox)
    try:
        app = harness.app(committer)
        mounted = {
            (r.method, r.resource.canonical)
            for r in app.router.routes()
            if r.method != "HEAD" and r.resource is not None
        }
    finally:
        committer.close()
    assert mounted == {(c.method, c.route) for c in CASES} | PUBLIC


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.route}")
def test_another_accounts_key_neither_sees_nor_changes_it(harness: Harness, case: Case) -> None:
    other_key = harness.messages.create_api_key("other", START)

    async def scenario(client: TestClient[Any, Any]) -> None:
        ids = await _acme_owns(client, harness)
        response = await client.request(
            case.method,
            case.path.format(**ids),  # acme's ids
            json=case.body,
            headers=_auth(other_key, IDEMPOTENCY_KEY if case.idempotent else None),
        )
        text = await response.text()
        assert response.status == case.status, text
        if case.code is not None:
            assert (await response.json())["code"] == case.code
        path = case.path.format(**ids)
        for value in (ids["message"], ids["otp"], "acme's MO", ids["signing_secret"], "acme-mo"):
            assert value in path or value not in text  # nothing of acme's but what was asked
        assert "Idempotent-Replayed" not in response.headers  # keys are per account
        await _acme_unchanged(client, harness, ids)

    run(harness, scenario)
