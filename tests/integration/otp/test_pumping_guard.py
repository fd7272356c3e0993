"""The pumping guard blocks a burst to one prefix that nobody verifies; other traffic flows."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from otp import OtpConfig, PumpingConfig
from tests.integration.otp.conftest import Harness, run

GUARD = PumpingConfig(min_sends=30, min_settled=20, evaluate_every=0)


async def _blocks(client: TestClient[Any, Any], h: Harness) -> dict[str, Any]:
    response = await client.get("/v1/admin/otp/blocks", headers=h.auth(admin=True))
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def _wait_for_block(client: TestClient[Any, Any], h: Harness) -> list[dict[str, Any]]:
    # The assessment runs off the request path; poll the admin view as an operator would.
    for _ in range(500):
        blocks: list[dict[str, Any]] = (await _blocks(client, h))["blocks"]
        if blocks:
            return blocks
        await asyncio.sleep(0.01)
    raise AssertionError("no block appeared")


def test_burst_with_no_conversions_is_blocked_and_lifted_while_normal_traffic_flows(
    harness: Harness,
) -> None:
    harness.config = OtpConfig(pumping=GUARD)

    async def scenario(client: TestClient[Any, Any]) -> None:
        auth = harness.auth()
        # Normal traffic to France: every code is entered.
        for i in range(10):
            response = await client.post("/v1/otp", json={"to": f"+336123456{i:02d}"}, headers=auth)
            started = await response.json()
            code = harness.code_of(started["message_id"])
            await client.post(f"/v1/otp/{started['id']}/check", json={"code": code}, headers=auth)
        # The pumping burst: 40 UK numbers in one range, one every 5 s, none ever verified.
        statuses = []
        for i in range(40):
            harness.clock.advance(5)
            response = await client.post(
                "/v1/otp", json={"to": f"+4474001000{i:02d}"}, headers=auth
            )
            statuses.append(response.status)
            await asyncio.sleep(0)  # let the off-path assessment of the previous send run
        assert statuses[:30] == [201] * 30  # no verdict on fewer than 30 sends
        blocks = await _wait_for_block(client, harness)
        assert [b["prefix"] for b in blocks] == ["+44740"] and "verified" in blocks[0]["reason"]
        sent_before = len(harness.outbox.enqueued)
        refused = await client.post("/v1/otp", json={"to": "+447400100099"}, headers=auth)
        assert refused.status == 403 and (await refused.json())["code"] == "destination_blocked"
        assert len(harness.outbox.enqueued) == sent_before  # a blocked request costs nothing
        elsewhere = await client.post("/v1/otp", json={"to": "+33612345699"}, headers=auth)
        assert elsewhere.status == 201
        metrics = (await _blocks(client, harness))["metrics"]
        assert (
            metrics["otp_pumping_blocks_total"] == 1
            and metrics["otp_refused_destination_blocked"] >= 1
        )
        # Only an admin may lift it; then the range is served again.
        forbidden = await client.delete("/v1/admin/otp/blocks/+44740", headers=auth)
        assert forbidden.status == 403 and (await forbidden.json())["code"] == "admin_required"
        lifted = await client.delete(
            "/v1/admin/otp/blocks/+44740", headers=harness.auth(admin=True)
        )
        assert lifted.status == 204
        assert (await _blocks(client, harness))["blocks"] == []
        again = await client.post("/v1/otp", json={"to": "+447400100098"}, headers=auth)
        assert again.status == 201
        missing = await client.delete(
            "/v1/admin/otp/blocks/+44740", headers=harness.auth(admin=True)
        )
        assert missing.status == 404 and (await missing.json())["code"] == "block_not_found"

    run(harness, scenario)


def test_block_expires_after_its_time(harness: Harness) -> None:
    harness.config = OtpConfig(pumping=GUARD.model_copy(update={"block_seconds": 600}))

    async def scenario(client: TestClient[Any, Any]) -> None:
        auth = harness.auth()
        for i in range(40):
            harness.clock.advance(5)
            await client.post("/v1/otp", json={"to": f"+4474001000{i:02d}"}, headers=auth)
            await asyncio.sleep(0)
        await _wait_for_block(client, harness)
        harness.clock.advance(600)
        response = await client.post("/v1/otp", json={"to": "+447400100099"}, headers=auth)
        assert response.status == 201
        assert (await _blocks(client, harness))["blocks"] == []

    run(harness, scenario)
