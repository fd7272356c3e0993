"""GET /v1/messages: the caller's messages, oldest first, in keyset-paginated pages.

`?status=delivered,undelivered&since=2026-11-23T12:00:00Z&until=…&limit=100&cursor=…`.
Pages follow `(created_at, id)`; `next_cursor` is an opaque token for the last row shown, and
the next page holds exactly the rows after it. A message accepted while a client pages has a
newer `created_at` than every row already shown, so it turns up on a later page: nothing is
shown twice, nothing skipped. (A row is listed once committed; a request accepted a moment
before another may commit a moment after it, so a client tailing the newest messages should
re-read its last second or so.)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from aiohttp import web

from api.contract import Answer, Operation, Param, operation
from api.jsonio import json_response
from api.services import OWNER, READ_POOL, SERVICES
from api.wire import MessagePage, MessageSummaryJson
from messaging import InvalidInput, Status
from store import KeyOwner, MessageSummary

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_PARAMETERS = {"status", "since", "until", "limit", "cursor"}
_MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class ListQuery:
    """A validated list request."""

    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    limit: int = DEFAULT_LIMIT
    after: tuple[datetime, str] | None = None


def encode_cursor(created_at: datetime, message_id: str) -> str:
    """The opaque cursor of a row: base64url of `<created_at ISO 8601>|<id>`, no padding."""
    raw = f"{created_at.isoformat()}|{message_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_text(cursor: str) -> str:
    """The text inside an opaque cursor (base64url, unpadded).

    Raises:
        InvalidInput: (field `cursor`) it is not base64url of UTF-8 text.
    """
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("cursor", "not a cursor this API gave") from None


def parse_limit(query: Mapping[str, str]) -> int:
    """`?limit=`: 1 to MAX_LIMIT, DEFAULT_LIMIT when absent.

    Raises:
        InvalidInput: (field `limit`) out of range or not a whole number.
    """
    text = query.get("limit", str(DEFAULT_LIMIT))
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidInput("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a cursor stands for.

    Raises:
        InvalidInput: (field `cursor`) it is not one this API made.
    """
    raw = cursor_text(cursor)
    try:
        stamp, message_id = raw.split("|")
        created_at = datetime.fromisoformat(stamp)
    except ValueError:
        raise InvalidInput("cursor", "not a cursor this API gave") from None
    if created_at.tzinfo is None or not _MESSAGE_ID.match(message_id):
        raise InvalidInput("cursor", "not a cursor this API gave")
    return created_at, message_id


def _timestamp(name: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(name, "must be an ISO 8601 time, e.g. 2026-11-23T12:00:00Z") from None
    if parsed.tzinfo is None:
        raise InvalidInput(name, "must give its UTC offset (Z or +hh:mm)")
    return parsed


def parse_list_query(query: Mapping[str, str]) -> ListQuery:
    """Validate the query string of GET /v1/messages.

    Raises:
        InvalidInput: naming the parameter at fault.
    """
    unknown = sorted(set(query) - _PARAMETERS)
    if unknown:
        raise InvalidInput(unknown[0], "unknown parameter")
    statuses: tuple[str, ...] = ()
    if "status" in query:
        statuses = tuple(dict.fromkeys(s.strip() for s in query["status"].split(",")))
        allowed = {s.value for s in Status}
        bad = [s for s in statuses if s not in allowed]
        if bad:
            raise InvalidInput("status", f"{bad[0]!r} is not one of {', '.join(sorted(allowed))}")
    since = _timestamp("since", query["since"]) if "since" in query else None
    until = _timestamp("until", query["until"]) if "until" in query else None
    limit = parse_limit(query)
    after = decode_cursor(query["cursor"]) if "cursor" in query else None
    return ListQuery(statuses, since, until, limit, after)


def summary_json(m: MessageSummary) -> MessageSummaryJson:
    """One message of a page (its attempts are on GET /v1/messages/{id})."""
    return {
        "id": m.id,
        "status": m.status,
        "to": m.to,
        "from": m.sender,
        "class": m.message_class,
        "encoding": m.encoding,
        "segments": m.segments,
        "error_code": m.error_code,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
        "sent_at": m.sent_at,
        "final_at": m.final_at,
    }


_STATUS = "(" + "|".join(s.value for s in Status) + ")"
LIMIT = Param(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    "rows per page",
)
CURSOR = Param("cursor", {"type": "string"}, "`next_cursor` of the page before")


@operation(
    Operation(
        "The caller's messages, oldest first, one keyset page",
        {200: Answer("one page", MessagePage)},
        query=(
            Param(
                "status",
                {"type": "string", "pattern": f"^{_STATUS}(,{_STATUS})*$"},
                "comma-separated statuses",
            ),
            Param("since", {"type": "string", "format": "date-time"}, "created at or after"),
            Param("until", {"type": "string", "format": "date-time"}, "created before"),
            LIMIT,
            CURSOR,
        ),
    )
)
async def list_messages(request: web.Request) -> web.Response:
    """GET /v1/messages → one page of the caller's messages and the cursor after it."""
    services = request.app[SERVICES]
    owner: KeyOwner = request[OWNER]
    q = parse_list_query(request.query)
    read = partial(
        services.store.list_messages,
        owner.account_id,
        q.limit + 1,  # one more tells whether another page follows
        q.statuses,
        q.since,
        q.until,
        q.after,
    )
    rows = await asyncio.get_running_loop().run_in_executor(request.app[READ_POOL], read)
    page = rows[: q.limit]
    last = page[-1] if page else None
    answer: MessagePage = {
        "messages": [summary_json(m) for m in page],
        "has_more": len(rows) > q.limit,
        # also after the last page: a client keeps it to ask later for what came since
        "next_cursor": encode_cursor(last.created_at, last.id) if last else q_cursor(request),
    }
    return json_response(answer)


def q_cursor(request: web.Request) -> str | None:
    """The cursor the request came with (an empty page keeps the client where it was)."""
    return request.query.get("cursor")
