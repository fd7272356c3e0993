"""What the single and batch send endpoints share: body decoding, the account's blocked
destinations and opt-outs, the row to commit and the 202 body of one accepted message."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from api.jsonio import loads
from api.problems import ApiProblem
from api.schemas import SendRequest
from api.services import OPT_OUTS, ApiServices
from api.wire import AcceptedMessage
from messaging import CallbackUrlForbidden, InvalidInput, MessageClass, Status
from routing import RoutingTable
from store import KeyOwner, NewMessage, new_id


def decode_json(raw: bytes) -> Any:
    """The decoded body, or a 400 `malformed_json` problem.

    orjson refuses invalid UTF-8 and lone surrogates (`"\\ud800"`, RFC 8259 §8.2) as the
    standard library does not, so no `str` that cannot be encoded again reaches a handler.
    """
    try:
        decoded = loads(raw)
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
        raise ApiProblem(
            400, "malformed_json", "Malformed JSON", f"the body is not valid JSON: {exc}"
        ) from None
    # A NUL can only be spelt \u0000 in JSON; PostgreSQL text cannot hold one (a 500 it was,
    # found by schemathesis). The walk runs only when the bytes may hold one.
    if b"\\u0000" in raw and _holds_nul(decoded):
        raise InvalidInput("body", "NUL characters (\\u0000) are not accepted")
    return decoded


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


MAX_BODY_BYTES = 64 * 1024  # one message, an OTP, an opt-out: a few hundred bytes
BODY_TIMEOUT = 10.0  # seconds to send a whole body once its headers are in


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The body, refused with 413 `payload_too_large` past `limit` bytes (at once when the
    client's Content-Length says so: before reading any of it), or with 408
    `request_timeout` when it takes over `BODY_TIMEOUT` seconds (a slow client)."""
    too_large = ApiProblem(
        413, "payload_too_large", "Payload too large", f"the body is over {limit} bytes"
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            while chunk := await request.content.read(256 * 1024):
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise ApiProblem(
            408,
            "request_timeout",
            "Request timeout",
            f"the body did not arrive within {BODY_TIMEOUT:g} s",
            {"Connection": "close"},
        ) from None
    return b"".join(chunks)


async def json_body(request: web.Request) -> Any:
    """The request's JSON body (at most `MAX_BODY_BYTES`, within `BODY_TIMEOUT`)."""
    return decode_json(await read_limited(request, MAX_BODY_BYTES))


RESOLVE_TIMEOUT = 5.0  # seconds for one callback host's DNS answer at the API


async def system_resolve(host: str) -> list[str]:
    """Every address `host` resolves to (the system resolver, as the dispatcher's)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def check_callbacks(
    services: ApiServices, requests: Sequence[SendRequest]
) -> dict[str, CallbackUrlForbidden]:
    """Resolve the callback host names of `requests` (each once, together) and check every
    address: host name → why it is refused (absent when allowed). Literal addresses were
    checked by `parse_send_request`; the dispatcher checks again at delivery time."""
    hosts = sorted(
        {
            r.callback_target.host
            for r in requests
            if r.callback_target is not None and r.callback_target.address is None
        }
    )
    if not hosts:
        return {}
    resolve = services.resolve or system_resolve

    async def one(host: str) -> CallbackUrlForbidden | None:
        try:
            addresses = await asyncio.wait_for(resolve(host), RESOLVE_TIMEOUT)
        except (OSError, TimeoutError, UnicodeError):
            addresses = []
        try:
            services.callback_policy.check_resolved(host, addresses)
        except CallbackUrlForbidden as error:
            return error
        return None

    refused = await asyncio.gather(*(one(h) for h in hosts))
    return {h: e for h, e in zip(hosts, refused, strict=True) if e is not None}


def callback_refusal(
    parsed: SendRequest, refused: dict[str, CallbackUrlForbidden]
) -> CallbackUrlForbidden | None:
    """Why `parsed`'s callback host was refused by `check_callbacks`, if it was."""
    target = parsed.callback_target
    return refused.get(target.host) if target is not None and target.address is None else None


def check_destination(owner: KeyOwner, to: str, table: RoutingTable | None) -> None:
    """Raise 403 `destination_blocked` when the routes file blocks `to` for the account."""
    if table is None:
        return
    blocked = table.blocked_prefix(owner.account_name, to)
    if blocked is not None:
        raise ApiProblem(
            403,
            "destination_blocked",
            "Destination blocked",
            f"account {owner.account_name!r} may not send to {blocked}",
        )


def needs_opt_out_check(parsed: SendRequest) -> bool:
    """Opt-outs stop marketing only; OTP and transactional messages are not affected."""
    return parsed.message_class is MessageClass.MARKETING


async def opted_out(request: web.Request, owner: KeyOwner, numbers: Sequence[str]) -> set[str]:
    """Which of `numbers` are on the account's opt-out list (grouped with other requests')."""
    if not numbers:
        return set()
    screen = request.app[OPT_OUTS]
    if len(numbers) == 1:  # a single send: grouped with the other requests' lookups
        return set(numbers) if await screen.lookup((owner.account_id, numbers[0])) else set()
    # a batch is a group of its own: one query, not a future per recipient (which was a
    # quarter of the API's CPU for batches of 1,000)
    listed = await screen.lookup_all([(owner.account_id, n) for n in numbers])
    return {n for n, stopped in zip(numbers, listed, strict=True) if stopped}


def new_row(
    services: ApiServices, owner: KeyOwner, parsed: SendRequest, now: datetime
) -> NewMessage:
    """The `queued` row of one validated message."""
    validity = parsed.validity_seconds or services.validity_seconds
    return NewMessage(
        id=new_id(),
        account_id=owner.account_id,
        to=parsed.to.e164,
        sender=parsed.sender,
        body=parsed.body,
        message_class=parsed.message_class.value,
        encoding=parsed.segmentation.encoding.value,
        segments=parsed.segmentation.segments,
        callback_url=parsed.callback_url,
        created_at=now,
        valid_until=now + timedelta(seconds=validity),
        callback_events=parsed.callback_events.value,
        callback_batch=parsed.callback_batch,
    )


def accepted_json(row: NewMessage) -> AcceptedMessage:
    """The 202 body of one committed message."""
    return {
        "id": row.id,
        "status": Status.QUEUED.value,
        "to": row.to,
        "from": row.sender,
        "class": row.message_class,
        "encoding": row.encoding,
        "segments": row.segments,
        "created_at": row.created_at,
        "valid_until": row.valid_until,
    }
