"""GET/PUT /v1/account/settings: the caller's own `inbound_url` and automatic reply texts.

Until an account sets them, the operator's routes file decides (`[accounts.<name>]
inbound_url`, `[replies]`); what the account sets here overrides the file for its MOs, and a
`null` falls back to it again. PUT replaces the settings whole (a field left out is `null`).
`inbound_url` is checked like a message's `callback_url` (http(s), a public host: literal
addresses here, names resolved here, and the dispatcher checks again when it POSTs); an empty
reply text turns that reply off, except HELP, which carriers require an answer to (CTIA
Messaging Principles §5). Tenant-scoped: a key reads and writes its own account's only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Annotated, TypeVar

from aiohttp import web
from pydantic import Field, with_config
from typing_extensions import TypedDict

from api.accept import RESOLVE_TIMEOUT, json_body, system_resolve
from api.contract import Answer, Operation, operation
from api.jsonio import json_response
from api.schemas import MAX_URL_CHARS
from api.services import OWNER, READ_POOL, SERVICES, ApiServices
from api.wire import CLOSED
from messaging import CallbackUrlForbidden, InvalidInput
from store import REPLY_KINDS, AccountSettings, AccountSettingsStore, KeyOwner

R = TypeVar("R")
ACCOUNT_SETTINGS = web.AppKey("account_settings", AccountSettingsStore)
MAX_REPLY_CHARS = 480  # as the routes file's `[replies]` (three concatenated GSM-7 parts)
PATH = "/v1/account/settings"
_FIELDS = {"inbound_url", "replies"}
_CAN_BE_EMPTY = {"stop", "start", "auto"}  # "" turns the reply off; HELP always answers

ReplyText = Annotated[str | None, Field(max_length=MAX_REPLY_CHARS)]


@with_config(CLOSED)
class RepliesJson(TypedDict, total=False):
    """Reply texts by kind: `help` (HELP, INFO), `stop` / `start` (the confirmations), `auto`
    (any other MO). `null`: the routes file's text; `""` (not for help): no reply."""

    help: Annotated[str | None, Field(min_length=1, max_length=MAX_REPLY_CHARS)]
    stop: ReplyText
    start: ReplyText
    auto: ReplyText


@with_config(CLOSED)
class AccountSettingsBody(TypedDict, total=False):
    """PUT /v1/account/settings: the whole settings (a field left out is `null`)."""

    inbound_url: Annotated[
        str | None,
        Field(max_length=MAX_URL_CHARS, description="http(s) URL on a public host"),
    ]
    replies: RepliesJson | None


@with_config(CLOSED)
class AccountSettingsJson(TypedDict):
    """The caller's own settings (`null`: the routes file's value applies)."""

    inbound_url: str | None
    replies: dict[str, str | None]
    updated_at: datetime | None


def settings_json(settings: AccountSettings) -> AccountSettingsJson:
    """The settings as the API shows them."""
    return {
        "inbound_url": settings.inbound_url,
        "replies": {kind: settings.reply(kind) for kind in REPLY_KINDS},
        "updated_at": settings.updated_at,
    }


def _object(value: object, field: str, allowed: set[str]) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise InvalidInput(field, "must be a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        name = unknown[0] if field == "body" else f"{field}.{unknown[0]}"
        raise InvalidInput(name, "unknown field")
    return value


def _reply_text(kind: str, value: object) -> str | None:
    field = f"replies.{kind}"
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string or null")
    if len(value) > MAX_REPLY_CHARS:
        raise InvalidInput(field, f"longer than {MAX_REPLY_CHARS} characters")
    if not value.strip() and (value or kind not in _CAN_BE_EMPTY):
        if kind == "help":
            raise InvalidInput(field, "must not be empty: every number answers HELP")
        raise InvalidInput(field, 'blank: write "" to turn the reply off, or a text')
    return value


def parse_settings(body: object, services: ApiServices) -> AccountSettings:
    """A PUT body as settings, checked field by field (the URL's host not resolved yet).

    Raises:
        InvalidInput: naming the field at fault.
        CallbackUrlForbidden: `inbound_url` names a literal address that is not allowed.
    """
    data = _object(body, "body", _FIELDS)
    url = data.get("inbound_url")
    if url is not None:
        if not isinstance(url, str):
            raise InvalidInput("inbound_url", "must be a string or null")
        if len(url) > MAX_URL_CHARS:
            raise InvalidInput("inbound_url", f"longer than {MAX_URL_CHARS} characters")
        try:
            services.callback_policy.check_url(url)
        except InvalidInput as error:  # CallbackUrlForbidden included, under our field name
            raise type(error)("inbound_url", error.reason) from None
    raw_replies = data.get("replies")
    replies = {} if raw_replies is None else _object(raw_replies, "replies", set(REPLY_KINDS))
    texts = {kind: _reply_text(kind, replies.get(kind)) for kind in REPLY_KINDS}
    return AccountSettings(
        inbound_url=url,
        reply_help=texts["help"],
        reply_stop=texts["stop"],
        reply_start=texts["start"],
        reply_auto=texts["auto"],
    )


async def check_inbound_host(services: ApiServices, url: str) -> None:
    """Resolve `url`'s host (when it is a name) and check every address it has.

    Raises:
        CallbackUrlForbidden: (field `inbound_url`) it does not resolve, or to a refused address.
    """
    target = services.callback_policy.check_url(url)
    if target.address is not None:
        return  # a literal, checked by `parse_settings`
    resolve = services.resolve or system_resolve
    try:
        addresses = await asyncio.wait_for(resolve(target.host), RESOLVE_TIMEOUT)
    except (OSError, TimeoutError, UnicodeError):
        addresses = []
    try:
        services.callback_policy.check_resolved(target.host, addresses)
    except CallbackUrlForbidden as error:
        raise CallbackUrlForbidden("inbound_url", error.reason) from None


async def _store(request: web.Request, call: Callable[[], R]) -> R:
    return await asyncio.get_running_loop().run_in_executor(request.app[READ_POOL], call)


@operation(
    Operation(
        "The caller's own inbound_url and reply texts (null: the operator's apply)",
        {200: Answer("the settings", AccountSettingsJson)},
        tag="inbound",
    )
)
async def get_account_settings(request: web.Request) -> web.Response:
    """GET /v1/account/settings → the caller's own settings."""
    owner: KeyOwner = request[OWNER]
    found = await _store(request, partial(request.app[ACCOUNT_SETTINGS].get, owner.account_id))
    return json_response(settings_json(found))


@operation(
    Operation(
        "Replace the caller's own inbound_url and reply texts",
        {200: Answer("the settings now", AccountSettingsJson)},
        {422: ("callback_url_forbidden",)},
        body=AccountSettingsBody,
        tag="inbound",
    )
)
async def put_account_settings(request: web.Request) -> web.Response:
    """PUT /v1/account/settings → the settings as stored; 422 naming the field at fault."""
    owner: KeyOwner = request[OWNER]
    services = request.app[SERVICES]
    settings = parse_settings(await json_body(request), services)
    if settings.inbound_url is not None:
        await check_inbound_host(services, settings.inbound_url)
    stored = await _store(
        request,
        partial(request.app[ACCOUNT_SETTINGS].put, owner.account_id, settings, services.clock()),
    )
    return json_response(settings_json(stored))


def add_account_settings_routes(app: web.Application) -> None:
    """Mount GET and PUT /v1/account/settings on `app`."""
    app[ACCOUNT_SETTINGS] = AccountSettingsStore(app[SERVICES].store.engine)
    app.router.add_get(PATH, get_account_settings)
    app.router.add_put(PATH, put_account_settings)
