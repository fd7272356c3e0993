"""`/v1/keys` (admin keys only): list, create, revoke and rotate API keys; and
`POST /v1/webhook-secret`: the caller's own callback signing secret, made or rotated.

A key or secret is shown once, in the 201 that makes it; afterwards only a key's id and prefix,
and a secret never. Revoking clears this process's key cache; the others refuse the key within
`key_cache_seconds`. A rotated signing secret keeps signing (beside the new one) for
`ROTATION_GRACE`, so a receiver can switch without dropping a callback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import (
    Annotated,
    Required,  # pydantic needs this one before 3.12
    TypeVar,
)

from aiohttp import web
from pydantic import Field, with_config
from typing_extensions import TypedDict

from api.accept import json_body
from api.contract import Answer, Operation, Param, operation
from api.jsonio import json_response
from api.keycache import KEY_CACHE
from api.problems import ApiProblem
from api.services import OWNER, READ_POOL, SERVICES
from api.wire import CLOSED, KeyJson, KeyList, NewKeyJson, SigningSecretJson
from messaging import InvalidInput
from store import KeyInfo, KeyOwner, SigningSecrets

R = TypeVar("R")
SIGNING = web.AppKey("signing_secrets", SigningSecrets)
_NOT_FOUND = {404: ("key_not_found",)}


@with_config(CLOSED)
class NewKeyBody(TypedDict, total=False):
    """POST /v1/keys."""

    account: Required[Annotated[str, Field(min_length=1, max_length=100)]]
    admin: bool


def key_json(info: KeyInfo) -> KeyJson:
    """A key as listed: never the key itself."""
    return {
        "id": info.id,
        "account": info.account,
        "prefix": info.prefix,
        "admin": info.is_admin,
        "created_at": info.created_at,
        "revoked_at": info.revoked_at,
    }


def _new_key_json(info: KeyInfo, key: str) -> NewKeyJson:
    return {**key_json(info), "key": key}


async def _store(request: web.Request, call: Callable[[], R]) -> R:
    return await asyncio.get_running_loop().run_in_executor(request.app[READ_POOL], call)


@operation(
    Operation(
        "Every API key, or one account's (admin)",
        {200: Answer("the keys (ids and prefixes, never the keys)", KeyList)},
        query=(Param("account", {"type": "string"}, "only this account's keys"),),
        admin=True,
        tag="keys",
    )
)
async def list_keys(request: web.Request) -> web.Response:
    """GET /v1/keys[?account=]."""
    unknown = sorted(set(request.query) - {"account"})
    if unknown:
        raise InvalidInput(unknown[0], "unknown parameter")
    store = request.app[SERVICES].store
    keys = await _store(request, partial(store.list_api_keys, request.query.get("account")))
    answer: KeyList = {"keys": [key_json(k) for k in keys]}
    return json_response(answer)


@operation(
    Operation(
        "Make an API key for an account (made if new); the key is in this answer only (admin)",
        {201: Answer("the key, shown this once", NewKeyJson)},
        body=NewKeyBody,
        admin=True,
        tag="keys",
    )
)
async def create_key(request: web.Request) -> web.Response:
    """POST /v1/keys {"account", "admin"} → 201 with the key."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput("body", "the request body must be a JSON object")
    unknown = sorted(set(body) - {"account", "admin"})
    if unknown:
        raise InvalidInput(unknown[0], "unknown field")
    account, admin = body.get("account"), body.get("admin", False)
    if not isinstance(account, str) or not 0 < len(account.strip()) <= 100:
        raise InvalidInput("account", "must be an account name of 1-100 characters")
    if not isinstance(admin, bool):
        raise InvalidInput("admin", "must be true or false")
    services = request.app[SERVICES]
    store, now = services.store, services.clock()
    made = await _store(request, partial(store.make_api_key, account.strip(), now, admin))
    return json_response(_new_key_json(*made), status=201)


@operation(
    Operation(
        "Revoke an API key at once (admin; idempotent)",
        {204: Answer("revoked (or was already)")},
        _NOT_FOUND,
        admin=True,
        tag="keys",
    )
)
async def revoke_key(request: web.Request) -> web.Response:
    """DELETE /v1/keys/{id} → 204."""
    services = request.app[SERVICES]
    key_id = request.match_info["id"]
    info = await _store(request, partial(services.store.revoke_api_key, key_id, services.clock()))
    if info is None:
        raise ApiProblem(404, "key_not_found", "Not found", f"no API key {key_id!r}")
    request.app[KEY_CACHE].clear()
    return web.Response(status=204)


@operation(
    Operation(
        "Revoke an API key and make its successor (same account and rights) (admin)",
        {201: Answer("the successor, its key shown this once", NewKeyJson)},
        _NOT_FOUND,
        admin=True,
        tag="keys",
    )
)
async def rotate_key(request: web.Request) -> web.Response:
    """POST /v1/keys/{id}/rotate → 201 with the new key; the old one is revoked."""
    services = request.app[SERVICES]
    key_id = request.match_info["id"]
    rotated = await _store(
        request, partial(services.store.rotate_api_key, key_id, services.clock())
    )
    if rotated is None:
        raise ApiProblem(404, "key_not_found", "Not found", f"no live API key {key_id!r}")
    request.app[KEY_CACHE].clear()
    return json_response(_new_key_json(*rotated), status=201)


@operation(
    Operation(
        "A new callback signing secret for the caller's account; the previous one signs too"
        " for 24 h",
        {201: Answer("the secret, shown this once", SigningSecretJson)},
        tag="keys",
    )
)
async def rotate_signing_secret(request: web.Request) -> web.Response:
    """POST /v1/webhook-secret → 201 {"secret", "previous_valid_until"}."""
    owner: KeyOwner = request[OWNER]
    now = request.app[SERVICES].clock()
    secret, until = await _store(
        request, partial(request.app[SIGNING].rotate, owner.account_id, now)
    )
    answer: SigningSecretJson = {"secret": secret, "previous_valid_until": until}
    return json_response(answer, status=201)


def add_key_routes(app: web.Application) -> None:
    """Mount `/v1/keys` and `/v1/webhook-secret` on `app`."""
    app[SIGNING] = SigningSecrets(app[SERVICES].store.engine)
    app.router.add_post("/v1/webhook-secret", rotate_signing_secret)
    app.router.add_get("/v1/keys", list_keys)
    app.router.add_post("/v1/keys", create_key)
    app.router.add_delete("/v1/keys/{id}", revoke_key)
    app.router.add_post("/v1/keys/{id}/rotate", rotate_key)
