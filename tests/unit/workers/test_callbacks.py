"""Callback signatures and bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson

from messaging import CallbackEvent
from workers.callbacks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    render_batch,
    render_event,
    sign,
    signed_headers,
    verify,
)

AT = datetime(2026, 11, 23, 12, 0, 5, 250_000, tzinfo=UTC)
EVENT = CallbackEvent(
    id="m1",
    status="delivered",
    error_code=None,
    carrier="alpha",
    segments=2,
    cost=Decimal("0.060000"),
    currency="EUR",
    to="+447911123456",
    created_at=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
    sent_at=datetime(2026, 11, 23, 12, 0, 1, tzinfo=UTC),
    final_at=AT,
    at=AT,
)


def test_signature_verifies_only_for_the_same_secret_time_and_body() -> None:
    signature = sign("s3cret", 1_700_000_000, b'{"id":"m1"}')
    assert signature.startswith("v1=") and len(signature) == 3 + 64
    assert verify("s3cret", 1_700_000_000, b'{"id":"m1"}', signature)
    assert not verify("other", 1_700_000_000, b'{"id":"m1"}', signature)
    assert not verify("s3cret", 1_700_000_001, b'{"id":"m1"}', signature)
    assert not verify("s3cret", 1_700_000_000, b'{"id":"m2"}', signature)


def test_an_event_body_carries_what_a_client_needs_without_a_get() -> None:
    assert render_event(EVENT) == (
        b'{"id":"m1","status":"delivered","error_code":null,"carrier":"alpha","segments":2,'
        b'"cost":"0.060000","currency":"EUR","to":"+447911123456",'
        b'"created_at":"2026-11-23T12:00:00+00:00","sent_at":"2026-11-23T12:00:01+00:00",'
        b'"final_at":"2026-11-23T12:00:05.250000+00:00","at":"2026-11-23T12:00:05.250000+00:00"}'
    )


def test_a_batch_body_is_an_events_array_of_event_bodies() -> None:
    sent = CallbackEvent(**{**EVENT.__dict__, "status": "sent", "cost": None, "final_at": None})
    body = orjson.loads(render_batch([sent, EVENT]))
    assert body == {"events": [orjson.loads(render_event(sent)), orjson.loads(render_event(EVENT))]}
    assert body["events"][0]["cost"] is None


def test_headers_sign_the_body_at_the_timestamp() -> None:
    body = render_event(EVENT)
    headers = signed_headers(("s3cret",), 1_700_000_000, body)
    assert headers["Content-Type"] == "application/json"
    assert headers[TIMESTAMP_HEADER] == "1700000000"
    assert verify("s3cret", 1_700_000_000, body, headers[SIGNATURE_HEADER])


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    body = b'{"id":"m1"}'
    header = signed_headers(("new-secret", "old-secret"), 1_700_000_000, body)[
        "X-Switchboard-Signature"
    ]
    assert header.count("v1=") == 2 and header.startswith(sign("new-secret", 1_700_000_000, body))
    assert verify("new-secret", 1_700_000_000, body, header)
    assert verify("old-secret", 1_700_000_000, body, header)
    assert not verify("other-secret", 1_700_000_000, body, header)
