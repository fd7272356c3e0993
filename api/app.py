"""The aiohttp application: auth, POST/GET /v1/messages (single, batch, list), problem+json for
every error."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from api.accept import (
    accepted_json,
    callback_refusal,
    check_callbacks,
    check_destination,
    json_body,
    needs_opt_out_check,
    new_row,
    opted_out,
)
from api.account_settings import add_account_settings_routes
from api.batch import send_batch
from api.campaigns_api import add_campaign_routes
from api.contract import Answer, Link, Operation, contract_of, operation
from api.idempotency import IDEMPOTENCY, claim
from api.inbound_api import add_opt_out, list_inbound, list_opt_outs, remove_opt_out
from api.jsonio import dumps, json_response
from api.keycache import KEY_CACHE, KeyCache
from api.keys_api import add_key_routes
from api.listing import list_messages
from api.metrics_api import metrics_endpoint, metrics_middleware
from api.openapi import OPENAPI, OPENAPI_PATH, DocumentCache, openapi_json
from api.problems import ApiProblem, problem_response, response_for
from api.reader import GroupReader, OptOutScreen
from api.routing_api import explain_route, pricing
from api.schemas import SendBody, parse_send_request
from api.services import OPT_OUTS, OWNER, READ_POOL, READER, SERVICES, ApiServices
from api.stream import add_stream_routes, websocket_bearer
from api.wire import AcceptedMessage, Health, MessageJson
from inbound import RecipientOptedOut
from messaging import InvalidInput
from store import CampaignStore, IdempotencyStore, KeyOwner, MessageView

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)
AUTHENTICATED_PATHS = ("/v1/", "/metrics")  # Bearer API key (the dashboard page itself is not)


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
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return problem_response(exc.status, code, exc.reason, exc.text or exc.reason, allow)
    except Exception as error:  # ours, the database's (503), or a bug (500): api/problems.py
        return response_for(error)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer API keys on /v1/*; 401 problem+json when missing or unknown."""
    if not request.path.startswith(AUTHENTICATED_PATHS) or request.path == OPENAPI_PATH:
        return await handler(request)
    if "%00" in request.raw_path or "\x00" in request.path_qs:  # PostgreSQL text holds no NUL
        raise InvalidInput("path", "NUL characters are not accepted in the path or query")
    header = request.headers.get("Authorization", "") or websocket_bearer(request)
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
            request.app[READ_POOL], request.app[SERVICES].store.key_owner, key
        )
        cache.put(key, owner)
    if owner is None:
        raise ApiProblem(401, "invalid_api_key", "Unauthorized", "unknown or revoked API key")
    spec = contract_of(request.match_info.handler)
    if spec is not None and spec.admin and not owner.is_admin:  # the contract says who may
        raise ApiProblem(403, "admin_required", "Forbidden", "this endpoint needs an admin API key")
    request[OWNER] = owner
    limiter = request.app[SERVICES].limiter
    if limiter is not None:
        limiter.check_request(owner, key)
    return await handler(request)


def _message_json(view: MessageView) -> MessageJson:
    # datetimes go to orjson as they are: it writes RFC 3339, as isoformat() did
    return {
        "id": view.id,
        "status": view.status,
        "to": view.to,
        "from": view.sender,
        "class": view.message_class,
        "encoding": view.encoding,
        "segments": view.segments,
        "error_code": view.error_code,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
        "sent_at": view.sent_at,
        "final_at": view.final_at,
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
                "receipt_stat": a.receipt_stat,
                "carrier_message_ids": list(a.carrier_message_ids),
                "submitted_at": a.submitted_at,
                "receipt_at": a.receipt_at,
                "resubmitted_after_crash": a.resubmitted_after_crash,
            }
            for a in view.attempts
        ],
    }


@operation(
    Operation(
        "Send one message: 202 once it is committed",
        {
            202: Answer(
                "accepted (or the first answer to this Idempotency-Key again)",
                AcceptedMessage,
                ("Location", "Idempotent-Replayed"),
                links=(Link("GetMessage", "get_v1_messages_id"),),
            )
        },
        {
            403: ("destination_blocked",),
            422: ("invalid_number", "empty_body", "callback_url_forbidden", "recipient_opted_out"),
        },
        body=SendBody,
        idempotent=True,
    )
)
async def send_message(request: web.Request) -> web.Response:
    """POST /v1/messages → 202 once the message is committed."""
    services = request.app[SERVICES]
    owner: KeyOwner = request[OWNER]
    if services.limiter is not None:
        services.limiter.check_capacity(services.committer)
    body = await json_body(request)
    held = await claim(request, owner, body, services.clock())
    if isinstance(held, web.Response):
        return held  # the first answer to this Idempotency-Key
    try:
        parsed = parse_send_request(body, services.default_sender, services.callback_policy)
        check_destination(
            owner, parsed.to.e164, services.routes() if services.routes is not None else None
        )
        if needs_opt_out_check(parsed) and await opted_out(request, owner, [parsed.to.e164]):
            raise RecipientOptedOut(parsed.to.e164)
        refused = callback_refusal(parsed, await check_callbacks(services, [parsed]))
        if refused is not None:
            raise refused
        if services.limiter is not None:
            services.limiter.check_messages(owner, 1)
        row = new_row(services, owner, parsed, services.clock())
        answer, location = dumps(accepted_json(row)), f"/v1/messages/{row.id}"
        key = held.completion(202, answer, location) if held is not None else None
        await services.committer.commit(row, key)
    except BaseException:
        if held is not None:  # nothing was created: the key may be used again
            await held.release()
        raise
    return web.Response(
        body=answer, status=202, headers={"Location": location}, content_type="application/json"
    )


@operation(
    Operation(
        "A message, its status and attempts (the caller's own only)",
        {200: Answer("the message", MessageJson)},
        {404: ("not_found",)},
    )
)
async def get_message(request: web.Request) -> web.Response:
    """GET /v1/messages/{id} → status and attempts (only the caller's own messages)."""
    owner: KeyOwner = request[OWNER]
    message_id = request.match_info["id"]
    view = await request.app[READER].get(owner.account_id, message_id)
    if view is None:
        raise ApiProblem(404, "not_found", "Not found", f"no message {message_id!r}")
    return json_response(_message_json(view))


@operation(Operation("The process is up", {200: Answer("up", Health)}, public=True, tag="meta"))
async def health(_request: web.Request) -> web.Response:
    """GET /health: the process is up (`pid` tells API processes sharing a port apart)."""
    answer: Health = {"status": "ok", "pid": os.getpid()}
    return json_response(answer)


def make_app(services: ApiServices) -> web.Application:
    """The API application over `services`."""
    app = web.Application(
        middlewares=[metrics_middleware, problems_middleware, auth_middleware],
        client_max_size=64 * 1024,
    )
    app[SERVICES] = services
    app[IDEMPOTENCY] = IdempotencyStore(services.store.engine)
    app[KEY_CACHE] = KeyCache(services.key_cache_seconds)
    app[READER] = GroupReader(services.store.read_messages)
    app[OPT_OUTS] = OptOutScreen(services.store.opted_out, services.opt_out_linger)
    app[READ_POOL] = ThreadPoolExecutor(max_workers=2, thread_name_prefix="api-read")
    app[OPENAPI] = DocumentCache()
    app.router.add_post("/v1/messages", send_message)
    app.router.add_post("/v1/messages/batch", send_batch)
    app.router.add_get("/v1/messages", list_messages)
    app.router.add_get("/v1/messages/{id:[0-9a-f]{32}}", get_message)  # not "batch"
    app.router.add_get("/v1/inbound", list_inbound)
    app.router.add_get("/v1/opt-outs", list_opt_outs)
    app.router.add_post("/v1/opt-outs", add_opt_out)
    app.router.add_delete("/v1/opt-outs/{number}", remove_opt_out)
    add_account_settings_routes(app)  # GET/PUT /v1/account/settings
    app.router.add_get("/v1/routes/explain", explain_route)
    app.router.add_get("/v1/pricing", pricing)
    app.router.add_get("/health", health)
    add_campaign_routes(app, CampaignStore(services.store.engine))
    app.router.add_get("/metrics", metrics_endpoint)  # admin key
    add_stream_routes(app)  # /v1/stream (WebSocket), /dashboard
    app.router.add_get(OPENAPI_PATH, openapi_json)
    add_key_routes(app)
    app.on_startup.append(_warm_up)
    app.on_cleanup.append(_close_readers)
    return app


async def _warm_up(app: web.Application) -> None:
    """Before the first request is accepted: the hot reads compiled, a connection open (a
    database down at start is the requests' problem, not the start's)."""
    store = app[SERVICES].store
    try:
        await asyncio.get_running_loop().run_in_executor(app[READ_POOL], store.warm_up_reads)
    except Exception as exc:
        log.warning("could not warm up the database reads at start: %s", exc)


async def _close_readers(app: web.Application) -> None:
    app[READER].close()
    app[OPT_OUTS].close()
    app[READ_POOL].shutdown(wait=True)
