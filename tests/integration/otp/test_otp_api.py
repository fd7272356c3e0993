"""The OTP API over real HTTP: create, check, resend, cancel, limits, problem+json codes."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from otp import AccountLimits, OtpConfig, OtpLimits
from ratelimit import RedisWindowCounters
from tests.integration.otp.conftest import Harness, run

TO = "+447400123456"


async def start(
    client: TestClient[Any, Any], h: Harness, to: str = TO, **extra: Any
) -> dict[str, Any]:
    response = await client.post("/v1/otp", json={"to": to, **extra}, headers=h.auth())
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def check(
    client: TestClient[Any, Any], h: Harness, vid: str, code: str
) -> tuple[int, dict[str, Any]]:
    response = await client.post(f"/v1/otp/{vid}/check", json={"code": code}, headers=h.auth())
    return response.status, await response.json()


def test_right_code_is_approved_once_and_never_returned(harness: Harness) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        started = await start(client, harness)
        assert started["status"] == "pending" and started["attempts_left"] == 5
        code = harness.code_of(started["message_id"])
        assert code not in str(started)
        assert (
            harness.body_of(started["message_id"])
            == f"{code} is your Acme code. It expires in 10 minutes."
        )
        assert harness.outbox.enqueued == [("otp", [started["message_id"]])]
        status, body = await check(client, harness, started["id"], code)
        assert (status, body["status"]) == (200, "approved")
        status, again = await check(client, harness, started["id"], code)
        assert (status, again["code"]) == (409, "otp_already_used")
        shown = await client.get(f"/v1/otp/{started['id']}", headers=harness.auth())
        assert (await shown.json())["status"] == "approved"

    run(harness, scenario)


def test_sixth_check_is_refused_after_five_wrong_codes(harness: Harness) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        started = await start(client, harness)
        code = harness.code_of(started["message_id"])
        wrong = str((int(code) + 1) % 1_000_000).zfill(6)
        lefts = []
        for _ in range(5):
            status, body = await check(client, harness, started["id"], wrong)
            assert (status, body["status"]) == (200, "pending")
            lefts.append(body["attempts_left"])
        assert lefts == [4, 3, 2, 1, 0]
        response = await client.post(
            f"/v1/otp/{started['id']}/check", json={"code": code}, headers=harness.auth()
        )
        assert response.status == 429 and (await response.json())["code"] == "otp_max_attempts"
        assert int(response.headers["Retry-After"]) > 0

    run(harness, scenario)


def test_expired_code_is_not_approved(harness: Harness) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        started = await start(client, harness, ttl=60)
        code = harness.code_of(started["message_id"])
        harness.clock.advance(60)
        status, body = await check(client, harness, started["id"], code)
        assert (status, body["status"]) == (200, "expired")
        response = await client.post(f"/v1/otp/{started['id']}/resend", headers=harness.auth())
        assert response.status == 410 and (await response.json())["code"] == "otp_expired"

    run(harness, scenario)


def test_second_start_resends_the_pending_verification_after_the_cooldown(harness: Harness) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        first = await start(client, harness)
        old_code = harness.code_of(first["message_id"])
        response = await client.post("/v1/otp", json={"to": TO}, headers=harness.auth())
        assert response.status == 429 and (await response.json())["code"] == "otp_resend_cooldown"
        assert 1 <= int(response.headers["Retry-After"]) <= 30
        harness.clock.advance(30)
        second = await start(client, harness)
        assert second["id"] == first["id"] and second["new"] is False and second["sends_left"] == 3
        new_code = harness.code_of(second["message_id"])
        if new_code != old_code:  # the old code stopped working when a new one was sent
            _, body = await check(client, harness, first["id"], old_code)
            assert body["status"] == "pending"
        _, body = await check(client, harness, first["id"], new_code)
        assert body["status"] == "approved"

    run(harness, scenario)


def test_sends_per_verification_are_capped(harness: Harness) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        started = await start(client, harness)
        for _ in range(4):
            harness.clock.advance(30)
            response = await client.post(f"/v1/otp/{started['id']}/resend", headers=harness.auth())
            assert response.status == 200, await response.text()
        harness.clock.advance(30)
        response = await client.post(f"/v1/otp/{started['id']}/resend", headers=harness.auth())
        assert response.status == 429 and (await response.json())["code"] == "otp_max_sends"
        assert len(harness.outbox.enqueued) == 5

    run(harness, scenario)


def test_per_number_velocity_gives_429_with_retry_after(harness: Harness) -> None:
    harness.config = OtpConfig(defaults=OtpLimits(sends_per_number_per_hour=2))

    async def scenario(client: TestClient[Any, Any]) -> None:
        for _ in range(2):
            started = await start(client, harness)
            await client.post(f"/v1/otp/{started['id']}/cancel", headers=harness.auth())
        response = await client.post("/v1/otp", json={"to": TO}, headers=harness.auth())
        assert response.status == 429
        assert (await response.json())["code"] == "otp_velocity_limited"
        assert 3500 <= int(response.headers["Retry-After"]) <= 3600
        other = await start(client, harness, to="+447400123457")
        assert other["status"] == "pending"

    run(harness, scenario)


def test_cancel_makes_the_code_useless(harness: Harness) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        started = await start(client, harness)
        code = harness.code_of(started["message_id"])
        response = await client.post(f"/v1/otp/{started['id']}/cancel", headers=harness.auth())
        assert (await response.json())["status"] == "canceled"
        status, body = await check(client, harness, started["id"], code)
        assert (status, body["status"]) == (200, "canceled")

    run(harness, scenario)


def test_geo_permissions_refuse_other_countries_and_write_nothing(harness: Harness) -> None:
    harness.config = OtpConfig(accounts={"acme": AccountLimits(allowed_countries=["FR"])})

    async def scenario(client: TestClient[Any, Any]) -> None:
        response = await client.post("/v1/otp", json={"to": TO}, headers=harness.auth())
        assert response.status == 403 and (await response.json())["code"] == "geo_not_permitted"
        assert harness.outbox.enqueued == []
        assert harness.messages.status_counts() == {}
        allowed = await start(client, harness, to="+33612345678")
        assert allowed["status"] == "pending"

    run(harness, scenario)


def test_unknown_and_foreign_verifications_are_not_found(harness: Harness) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        started = await start(client, harness)
        response = await client.get("/v1/otp/nope", headers=harness.auth())
        assert response.status == 404 and (await response.json())["code"] == "otp_not_found"
        response = await client.get(f"/v1/otp/{started['id']}", headers=harness.auth(admin=True))
        assert response.status == 404  # another account's verification is not visible

    run(harness, scenario)


def test_bad_input_names_the_field(harness: Harness) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        cases = [
            ({"to": TO, "code_length": 3}, "code_length"),
            ({"to": TO, "ttl": 5}, "ttl"),
            ({"to": TO, "channel": "voice"}, "channel"),
            ({"to": TO, "locale": "xx"}, "locale"),
            ({"to": TO, "template": "no code here"}, "template"),
            ({"to": TO, "colour": "red"}, "colour"),
            ({"to": "12345"}, "to"),
        ]
        for body, name in cases:
            response = await client.post("/v1/otp", json=body, headers=harness.auth())
            assert response.status == 422, body
            assert (await response.json())["field"] == name
        assert harness.outbox.enqueued == []

    run(harness, scenario)


def test_web_otp_line_and_locale(harness: Harness) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        started = await start(
            client, harness, locale="fr-FR", web_otp_domain="acme.example", code_length=8
        )
        body = harness.body_of(started["message_id"])
        code = body[:8]
        assert (
            body
            == f"{code} est votre code Acme. Il expire dans 10 minutes.\n\n@acme.example #{code}"
        )

    run(harness, scenario)


def test_approved_code_is_masked_in_the_sent_message_body(harness: Harness) -> None:
    from sqlalchemy import update

    from store.models import Message

    async def scenario(client: TestClient[Any, Any]) -> None:
        started = await start(client, harness)
        code = harness.code_of(started["message_id"])
        with harness.engine.begin() as conn:  # as the workers would once the carrier took it
            conn.execute(
                update(Message)
                .where(Message.id == started["message_id"])
                .values(status="delivered")
            )
        _, body = await check(client, harness, started["id"], code)
        assert body["status"] == "approved"
        assert (
            harness.body_of(started["message_id"])
            == "****** is your Acme code. It expires in 10 minutes."
        )

    run(harness, scenario)


def test_redis_down_fails_open_but_per_verification_limits_hold(harness: Harness) -> None:
    from switchboard.embedded import free_port

    harness.redis_url = f"redis://127.0.0.1:{free_port()}"  # nothing listens there

    async def scenario(client: TestClient[Any, Any]) -> None:
        started = await start(client, harness)
        wrong = "000000" if harness.code_of(started["message_id"]) != "000000" else "111111"
        for _ in range(5):
            status, body = await check(client, harness, started["id"], wrong)
            assert (status, body["status"]) == (200, "pending")
        response = await client.post(
            f"/v1/otp/{started['id']}/check", json={"code": wrong}, headers=harness.auth()
        )
        assert response.status == 429 and (await response.json())["code"] == "otp_max_attempts"
        assert harness.services is not None
        windows = harness.services.windows
        assert isinstance(windows, RedisWindowCounters)  # Redis is configured, if unreachable
        assert windows.failures >= 6

    run(harness, scenario)


def test_codes_no_longer_usable_are_masked_by_the_sweep_and_live_ones_kept(
    harness: Harness,
) -> None:
    """The code is stored only as a keyed hash; the SMS row's copy of it is masked once the
    code is spent: replaced by a resend, canceled, expired. A live code, and a row still in
    the outbox (it has yet to go out), keep their text."""
    from sqlalchemy import update

    from store.models import Message

    def sent(*message_ids: str) -> None:  # as the workers would once the carrier took them
        with harness.engine.begin() as conn:
            conn.execute(
                update(Message).where(Message.id.in_(message_ids)).values(status="delivered")
            )

    def mask() -> int:
        return harness.otp_store.mask_spent_codes(harness.clock(), min_digits=4)

    async def scenario(client: TestClient[Any, Any]) -> None:
        resent = await start(client, harness, to="+447400123451")
        canceled = await start(client, harness, to="+447400123452")
        live = await start(client, harness, to="+447400123453")
        unsent = await start(client, harness, to="+447400123454")
        sent(resent["message_id"], canceled["message_id"], live["message_id"])
        await client.post(f"/v1/otp/{canceled['id']}/cancel", headers=harness.auth())
        await client.post(f"/v1/otp/{unsent['id']}/cancel", headers=harness.auth())
        harness.clock.advance(30)
        again = await start(client, harness, to="+447400123451")
        assert again["id"] == resent["id"] and again["message_id"] != resent["message_id"]
        sent(again["message_id"])
        live_code = harness.code_of(live["message_id"])

        assert mask() == 2  # the replaced code and the canceled one
        for spent in (resent, canceled):
            assert harness.body_of(spent["message_id"]).startswith("****** is your")
        assert harness.code_of(live["message_id"]) == live_code
        assert harness.code_of(again["message_id"])  # the resend's code is the live one now
        assert harness.code_of(unsent["message_id"])  # still in the outbox: kept
        _, body = await check(client, harness, live["id"], live_code)
        assert body["status"] == "approved"  # masking never touched a live code

        harness.clock.advance(11 * 60)  # past every verification's 10-minute TTL
        assert mask() == 1  # the resend's code, expired (the approved one was masked then)
        assert harness.body_of(again["message_id"]).startswith("****** is your")
        assert harness.code_of(unsent["message_id"])
        assert mask() == 0  # each row once

    run(harness, scenario)


def test_invalid_utf8_or_a_lone_surrogate_is_400_malformed_json(harness: Harness) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        started = await start(client, harness)
        cases = [
            ("/v1/otp", b'{"to": "+447400123456", "template": "\xff {code}"}'),
            ("/v1/otp", b'{"to": "+447400123456", "template": "\\ud800 {code}"}'),
            (f"/v1/otp/{started['id']}/check", b'{"code": "\\ud800"}'),
            (f"/v1/otp/{started['id']}/check", b'{"code": "\xc3\x28"}'),
        ]
        for path, payload in cases:
            response = await client.post(
                path, data=payload, headers={**harness.auth(), "Content-Type": "application/json"}
            )
            assert response.status == 400, (path, payload)
            assert response.content_type == "application/problem+json"
            assert (await response.json(content_type=None))["code"] == "malformed_json"
        assert len(harness.outbox.enqueued) == 1  # only the first start

    run(harness, scenario)


def test_the_same_idempotency_key_sends_one_code_and_replays_the_first_answer(
    harness: Harness,
) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        headers = {**harness.auth(), "Idempotency-Key": "signup-42"}
        first = await client.post("/v1/otp", json={"to": TO}, headers=headers)
        again = await client.post("/v1/otp", json={"to": TO}, headers=headers)
        assert (first.status, again.status) == (201, 201)
        assert await again.json() == await first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.headers["Location"] == first.headers["Location"]
        assert len(harness.outbox.enqueued) == 1  # one SMS, one code
        other = await client.post("/v1/otp", json={"to": "+447400123457"}, headers=headers)
        assert (other.status, (await other.json())["code"]) == (422, "idempotency_key_reused")
        assert len(harness.outbox.enqueued) == 1

    run(harness, scenario)


def test_a_refused_send_frees_its_idempotency_key(harness: Harness) -> None:
    async def scenario(client: TestClient[Any, Any]) -> None:
        headers = {**harness.auth(), "Idempotency-Key": "k-1"}
        bad = await client.post("/v1/otp", json={"to": "+44"}, headers=headers)
        assert bad.status == 422 and (await bad.json())["code"] == "invalid_number"
        good = await client.post("/v1/otp", json={"to": TO}, headers=headers)
        assert good.status == 201 and "Idempotent-Replayed" not in good.headers

    run(harness, scenario)
