"""The status stream's wire: events round-trip, channels are per account, bad input is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging import StatusEvent, channel_for, decode_events, encode_events

events = st.lists(
    st.builds(
        StatusEvent,
        id=st.text(min_size=1, max_size=40),
        status=st.sampled_from(["sent", "delivered", "undelivered", "failed", "expired"]),
        at=st.floats(min_value=0, max_value=4e9).map(lambda t: round(t, 3)),
    ),
    max_size=20,
)


@given(events)
def test_decode_of_encode_is_identity(batch: list[StatusEvent]) -> None:
    assert decode_events(encode_events(batch)) == batch


def test_each_account_has_a_channel_of_its_own() -> None:
    assert channel_for("a1") != channel_for("a2")
    assert channel_for("a1").endswith(":a1")


@pytest.mark.parametrize("payload", [b"{}", b"[{}]", b"not json", b'[{"id": "m"}]'])
def test_a_malformed_message_raises_value_or_key_error(payload: bytes) -> None:
    with pytest.raises((ValueError, KeyError)):
        decode_events(payload)
