"""GET /v1/inbound and GET/POST/DELETE /v1/opt-outs: the caller's MOs and opt-out list.

Both lists are keyset pages like GET /v1/messages (`?limit=&cursor=`, `has_more`,
`next_cursor`): MOs by `(received_at, id)`, opt-outs by number. POST and DELETE are
idempotent: adding a listed number answers 200 (201 when new), deleting an unlisted one 204.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Mapping
from functools import partial
from typing import TypeVar

from aiohttp import web

from api.accept import json_body
from api.contract import Answer, Operation, operation
from api.jsonio import json_response
from api.listing import CURSOR, LIMIT, cursor_text, decode_cursor, encode_cursor, parse_limit
from api.schemas import OptOutBody
from api.services import OWNER, READ_POOL, SERVICES
from api.wire import InboundJson, InboundPage, OptOutAnswer, OptOutPage
from messaging import InvalidInput, parse_e164
from store import InboundView, KeyOwner

R = TypeVar("R")
_PAGE = {"limit", "cursor"}


def page_limit(query: Mapping[str, str]) -> int:
    """`?limit=` as GET /v1/messages takes it; parameters other than limit/cursor are refused.

    Raises:
        InvalidInput: naming the parameter at fault.
    """
    unknown = sorted(set(query) - _PAGE)
    if unknown:
        raise InvalidInput(unknown[0], "unknown parameter")
    return parse_limit(query)


def encode_number_cursor(number: str) -> str:
    """The opaque cursor after one opt-out entry."""
    return base64.urlsafe_b64encode(number.encode()).decode().rstrip("=")


def decode_number_cursor(cursor: str) -> str:
    """The number a cursor stands for.

    Raises:
        InvalidInput: (field `cursor`) it is not one this API made.
    """
    number = cursor_text(cursor)
    if not number.startswith("+"):
        raise InvalidInput("cursor", "not a cursor this API gave")
    return number


async def _read(request: web.Request, read: Callable[[], R]) -> R:
    return await asyncio.get_running_loop().run_in_executor(request.app[READ_POOL], read)


def inbound_json(m: InboundView) -> InboundJson:
    """One MO of a page."""
    return {
        "id": m.id,
        "carrier": m.carrier,
        "from": m.source,
        "to": m.destination,
        "text": m.text,
        "parts": m.parts,
        "keyword": m.keyword,
        "received_at": m.received_at,
    }


@operation(
    Operation(
        "MOs sent to the caller's numbers, oldest first, one keyset page",
        {200: Answer("one page", InboundPage)},
        query=(LIMIT, CURSOR),
        tag="inbound",
    )
)
async def list_inbound(request: web.Request) -> web.Response:
    """GET /v1/inbound → one page of the MOs sent to the caller's numbers, oldest first."""
    owner: KeyOwner = request[OWNER]
    limit = page_limit(request.query)
    after = decode_cursor(request.query["cursor"]) if "cursor" in request.query else None
    store = request.app[SERVICES].store
    rows = await _read(request, partial(store.list_inbound, owner.account_id, limit + 1, after))
    page = rows[:limit]
    last = page[-1] if page else None
    answer: InboundPage = {
        "inbound": [inbound_json(m) for m in page],
        "has_more": len(rows) > limit,
        "next_cursor": encode_cursor(last.received_at, last.id)
        if last
        else request.query.get("cursor"),
    }
    return json_response(answer)


@operation(
    Operation(
        "The caller's opted-out numbers, by number, one keyset page",
        {200: Answer("one page", OptOutPage)},
        query=(LIMIT, CURSOR),
        tag="inbound",
    )
)
async def list_opt_outs(request: web.Request) -> web.Response:
    """GET /v1/opt-outs → one page of the caller's opted-out numbers, by number."""
    owner: KeyOwner = request[OWNER]
    limit = page_limit(request.query)
    cursor = request.query.get("cursor")
    after = decode_number_cursor(cursor) if cursor is not None else None
    store = request.app[SERVICES].store
    rows = await _read(request, partial(store.list_opt_outs, owner.account_id, limit + 1, after))
    page = rows[:limit]
    answer: OptOutPage = {
        "opt_outs": [{"number": n, "origin": o, "created_at": at} for n, o, at in page],
        "has_more": len(rows) > limit,
        "next_cursor": encode_number_cursor(page[-1][0]) if page else cursor,
    }
    return json_response(answer)


@operation(
    Operation(
        "Add a number to the caller's opt-out list (idempotent)",
        {201: Answer("added", OptOutAnswer), 200: Answer("already listed", OptOutAnswer)},
        {422: ("invalid_number",)},
        body=OptOutBody,
        tag="inbound",
    )
)
async def add_opt_out(request: web.Request) -> web.Response:
    """POST /v1/opt-outs `{"number": "+44…"}` → 201 when added, 200 when already listed."""
    owner: KeyOwner = request[OWNER]
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput("body", "the request body must be a JSON object")
    unknown = sorted(set(body) - {"number"})
    if unknown:
        raise InvalidInput(unknown[0], "unknown field")
    number = parse_e164(str(body.get("number") or ""), "number").e164
    services = request.app[SERVICES]
    added = await _read(
        request, partial(services.store.add_opt_out, owner.account_id, number, services.clock())
    )
    answer: OptOutAnswer = {"number": number, "opted_out": True}
    return json_response(answer, status=201 if added else 200)


@operation(
    Operation(
        "Remove a number from the caller's opt-out list (idempotent)",
        {204: Answer("removed, or was not listed")},
        {422: ("invalid_number",)},
        tag="inbound",
    )
)
async def remove_opt_out(request: web.Request) -> web.Response:
    """DELETE /v1/opt-outs/{number} → 204 whether or not it was listed."""
    owner: KeyOwner = request[OWNER]
    number = parse_e164(request.match_info["number"], "number").e164
    store = request.app[SERVICES].store
    await _read(request, partial(store.remove_opt_out, owner.account_id, number))
    return web.Response(status=204)
