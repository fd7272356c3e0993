"""A browser's WebSocket carries the key as its second subprotocol."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from api.stream import websocket_bearer


@pytest.mark.parametrize(
    ("header", "bearer"),
    [
        ("switchboard, sk_abc", "Bearer sk_abc"),
        ("switchboard,sk_abc", "Bearer sk_abc"),
        ("switchboard", ""),
        ("other, sk_abc", ""),
        ("switchboard, sk_abc, extra", ""),
        ("", ""),
    ],
)
def test_the_key_is_read_only_from_the_switchboard_subprotocol(header: str, bearer: str) -> None:
    headers = {"Sec-WebSocket-Protocol": header} if header else {}
    assert websocket_bearer(make_mocked_request("GET", "/v1/stream", headers=headers)) == bearer
