"""List query parsing and cursors: pure, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.listing import MAX_LIMIT, decode_cursor, encode_cursor, parse_list_query
from messaging import InvalidInput

_ids = st.from_regex(r"[0-9a-f]{32}", fullmatch=True)
_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(_times, _ids)
def test_a_cursor_decodes_to_the_row_it_was_made_for(created_at: datetime, message_id: str) -> None:
    cursor = encode_cursor(created_at, message_id)
    assert decode_cursor(cursor) == (created_at, message_id)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor  # safe in a query


@pytest.mark.parametrize(
    "cursor", ["", "x", "bm90IGEgY3Vyc29y", encode_cursor(datetime(2026, 1, 1), "a" * 32)]
)
def test_a_cursor_we_did_not_make_is_invalid_input_on_cursor(cursor: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(cursor)
    assert caught.value.field == "cursor"


def test_defaults_and_every_parameter() -> None:
    assert parse_list_query({}).limit == 100
    q = parse_list_query(
        {
            "status": "delivered, undelivered,delivered",
            "since": "2026-11-23T12:00:00Z",
            "until": "2026-11-23T13:00:00+01:00",
            "limit": str(MAX_LIMIT),
        }
    )
    assert q.statuses == ("delivered", "undelivered") and q.limit == MAX_LIMIT
    assert q.since == datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert q.until is not None and q.until - q.since == timedelta(0)
