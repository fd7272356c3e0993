"""Callback signatures and payloads."""

from __future__ import annotations

from store import StatusChange
from workers.callbacks import payloads, sign, verify


def test_signature_verifies_only_for_the_same_secret_time_and_body() -> None:
    signature = sign("s3cret", 1_700_000_000, b'{"id":"m1"}')
    assert signature.startswith("v1=") and len(signature) == 3 + 64
    assert verify("s3cret", 1_700_000_000, b'{"id":"m1"}', signature)
    assert not verify("other", 1_700_000_000, b'{"id":"m1"}', signature)
    assert not verify("s3cret", 1_700_000_001, b'{"id":"m1"}', signature)
    assert not verify("s3cret", 1_700_000_000, b'{"id":"m2"}', signature)


def test_only_messages_with_a_callback_url_get_a_payload() -> None:
    changes = [
        StatusChange("m1", "delivered", "https://example.test/hook"),
        StatusChange("m2", "delivered", None),
    ]
    assert payloads(changes, 12.5) == [
        ("https://example.test/hook", {"id": "m1", "status": "delivered", "at": 12.5})
    ]
