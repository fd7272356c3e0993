"""The aiohttp application: auth, POST/GET /v1/messages, problem+json for every error."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from api.problems import ApiProblem, problem_response, response_for
from api.routing_api import explain_route, pricing
from api.schemas import parse_send_request
from api.services import OWNER, SERVICES, ApiServices
from messaging import Status
from store import KeyOwner, MessageView, NewMessage, new_id

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _KeyCache:
    """Resolved API keys for a short while, so a request costs no key lookup query."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, KeyOwner | None]] = {}

    def get(self, key: str) -> tuple[bool, KeyOwner | None]:
        hit = self._entries.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, key: str, owner: KeyOwner | None) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, owner)


KEY_CACHE = web.AppKey("key_cache", _KeyCache)


@web.middleware
async def problems_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into problem+json; nothing escapes as HTML or a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status, "http_error"
        )
        return problem_response(exc.status, code, exc.reason, exc.text or exc.reason)
    except Exception as error:  # ours, the database's (503), or a bug (500): api/problems.py
        return response_for(error)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer API keys on /v1/*; 401 problem+json when missing or unknown."""
    if not request.path.startswith("/v1/"):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiProblem(
            401, "missing_api_key", "Unauthorized", "send 'Authorization: Bearer <api key>'"
        )
    key = key.strip()
    cache = request.app[KEY_CACHE]
    known, owner = cache.get(key)
    if not known:
        owner = await asyncio.get_running_loop().run_in_executor(
            None, request.app[SERVICES].store.key_owner, key
        )
        cache.put(key, owner)
    if owner is None:
        raise ApiProblem(401, "invalid_api_key", "Unauthorized", "unknown or revoked API key")
    request[OWNER] = owner
    return await handler(request)


def _message_json(view: MessageView) -> dict[str, Any]:
    return {
        "id": view.id,
        "status": view.status,
        "to": view.to,
        "from": view.sender,
        "class": view.message_class,
        "encoding": view.encoding,
        "segments": view.segments,
        "error_code": view.error_code,
        "created_at": view.created_at.isoformat(),
        "updated_at": view.updated_at.isoformat(),
        "sent_at": view.sent_at.isoformat() if view.sent_at else None,
        "final_at": view.final_at.isoformat() if view.final_at else None,
        "attempts": [
            {
                "number": a.number,
                "carrier": a.carrier,
                "route": a.route,
                "cost": str(a.cost),
                "currency": a.currency,
                "submit_status": a.submit_status,
                "error_code": a.error_code,
                "receipt_state": a.receipt_state,
                "carrier_message_ids": list(a.carrier_message_ids),
                "submitted_at": a.submitted_at.isoformat(),
                "receipt_at": a.receipt_at.isoformat() if a.receipt_at else None,
                "resubmitted_after_crash": a.resubmitted_after_crash,
            }
            for a in view.attempts
        ],
    }


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiProblem(
            400, "malformed_json", "Malformed JSON", f"the body is not valid JSON: {exc}"
        ) from None


async def send_message(request: web.Request) -> web.Response:
    """POST /v1/messages → 202 once the message is committed."""
    services = request.app[SERVICES]
    owner: KeyOwner = request[OWNER]
    parsed = parse_send_request(await _json_body(request), services.default_sender)
    if services.routes is not None:
        blocked = services.routes().blocked_prefix(owner.account_name, parsed.to.e164)
        if blocked is not None:
            raise ApiProblem(
                403,
                "destination_blocked",
                "Destination blocked",
                f"account {owner.account_name!r} may not send to {blocked}",
            )
    now = services.clock()
    validity = parsed.validity_seconds or services.validity_seconds
    row = NewMessage(
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
    )
    await services.committer.commit(row)
    body = {
        "id": row.id,
        "status": Status.QUEUED.value,
        "to": row.to,
        "from": row.sender,
        "class": row.message_class,
        "encoding": row.encoding,
        "segments": row.segments,
        "created_at": now.isoformat(),
        "valid_until": row.valid_until.isoformat(),
    }
    return web.json_response(body, status=202, headers={"Location": f"/v1/messages/{row.id}"})


async def get_message(request: web.Request) -> web.Response:
    """GET /v1/messages/{id} → status and attempts (only the caller's own messages)."""
    services = request.app[SERVICES]
    owner: KeyOwner = request[OWNER]
    message_id = request.match_info["id"]
    view = await asyncio.get_running_loop().run_in_executor(
        None, services.store.get_message, owner.account_id, message_id
    )
    if view is None:
        raise ApiProblem(404, "not_found", "Not found", f"no message {message_id!r}")
    return web.json_response(_message_json(view))


async def health(_request: web.Request) -> web.Response:
    """GET /health: the process is up."""
    return web.json_response({"status": "ok"})


def make_app(services: ApiServices) -> web.Application:
    """The API application over `services`."""
    app = web.Application(
        middlewares=[problems_middleware, auth_middleware], client_max_size=64 * 1024
    )
    app[SERVICES] = services
    app[KEY_CACHE] = _KeyCache(services.key_cache_seconds)
    app.router.add_post("/v1/messages", send_message)
    app.router.add_get("/v1/messages/{id}", get_message)
    app.router.add_get("/v1/routes/explain", explain_route)
    app.router.add_get("/v1/pricing", pricing)
    app.router.add_get("/health", health)
    return app
