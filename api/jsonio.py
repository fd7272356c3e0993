"""JSON in and out of the API with orjson: one encoder for every response.

orjson encodes a message view about 10x faster than the standard library and writes aware
datetimes as RFC 3339 itself (`2026-11-23T12:00:00+00:00`, what `isoformat()` gave before).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def dumps(value: Any) -> bytes:
    """`value` as JSON bytes (datetimes as RFC 3339; Decimal is refused: pass a string)."""
    return orjson.dumps(value)


def loads(raw: bytes | str) -> Any:
    """Decode JSON (raises `orjson.JSONDecodeError`, a `ValueError`)."""
    return orjson.loads(raw)


def json_response(
    value: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> web.Response:
    """A JSON response encoded with orjson."""
    return web.Response(
        body=orjson.dumps(value), status=status, headers=headers, content_type=content_type
    )
