"""POST /v1/messages/batch: up to 1,000 messages, validated item by item, committed together.

Two forms of body:

- `{"messages": [{...one message, as POST /v1/messages takes...}, ...]}`;
- `{"from", "body", "class", ..., "recipients": ["+44…" | {"to": "+44…", "variables": {...}}]}`:
  one body and sender for every recipient, `{{name}}` placeholders filled from each recipient's
  `variables` (`messaging.fill_template`); every top-level field but `recipients` applies to
  every recipient.

Each item goes through `parse_send_request`, the account's blocked destinations and (marketing
only) its opt-out list, like a single send. Invalid items get a problem of their own (`index`,
`code`, `detail`, `field`) and store nothing; the valid ones are committed in one transaction
(`GroupCommitter.commit_many`), then enqueued once per class, and only then is `202` answered,
in request order. When no item is valid the answer is 422 with every item's problem, and
nothing is stored.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.accept import (
    accepted_json,
    callback_refusal,
    check_callbacks,
    check_destination,
    decode_json,
    needs_opt_out_check,
    new_row,
    opted_out,
    read_limited,
)
from api.contract import Answer, Operation, operation
from api.idempotency import HeldKey, claim
from api.jsonio import dumps, json_response
from api.problems import PROBLEM_JSON, ApiProblem, problem_body
from api.schemas import MAX_BATCH_ITEMS, BatchBody, SendRequest, parse_send_request
from api.services import OWNER, SERVICES
from api.wire import BatchAccepted, BatchEntry, BatchProblem
from inbound import RecipientOptedOut
from messaging import InvalidInput, SwitchboardError, fill_template
from store import KeyOwner, NewMessage

# 1,000 messages of the longest body (1,600 characters) as JSON escapes (`\uXXXX`, 6 bytes per
# character) would be ~10 MB; 4 MiB holds 1,000 full-length GSM-7 or UTF-8 bodies with room.
MAX_BATCH_BYTES = 4 * 1024 * 1024
_RECIPIENT_FIELDS = {"to", "variables"}


def expand(data: Any) -> list[dict[str, Any] | SwitchboardError]:
    """The batch body as one message body per item, or the item's own error.

    Raises:
        InvalidInput: the body is not one of the two forms (or is empty).
        ApiProblem: 413 `too_many_messages` over `MAX_BATCH_ITEMS` items.
    """
    if not isinstance(data, dict):
        raise InvalidInput("body", "the request body must be a JSON object")
    if ("messages" in data) == ("recipients" in data):
        raise InvalidInput("messages", "give either `messages` or `recipients` (with `body`)")
    key = "messages" if "messages" in data else "recipients"
    items = data[key]
    if not isinstance(items, list) or not items:
        raise InvalidInput(key, "must be a non-empty list")
    if len(items) > MAX_BATCH_ITEMS:
        raise ApiProblem(
            413,
            "too_many_messages",
            "Too many messages",
            f"{len(items)} {key} in one batch; at most {MAX_BATCH_ITEMS} are allowed",
        )
    if key == "messages":
        if len(data) > 1:
            raise InvalidInput(sorted(set(data) - {"messages"})[0], "unknown field")
        return list(items)
    common = {name: value for name, value in data.items() if name != "recipients"}
    return [_recipient_message(common, recipient) for recipient in items]


def _recipient_message(common: dict[str, Any], recipient: Any) -> dict[str, Any] | SwitchboardError:
    """One recipient of the template form as a message body, or its error."""
    to: Any
    variables: Any
    if isinstance(recipient, str):
        to, variables = recipient, {}
    elif isinstance(recipient, dict):
        unknown = sorted(set(recipient) - _RECIPIENT_FIELDS)
        if unknown:
            return InvalidInput(unknown[0], "unknown field (a recipient has `to` and `variables`)")
        to, variables = recipient.get("to"), recipient.get("variables", {})
        if not isinstance(variables, dict):
            return InvalidInput("variables", "must be an object of names to values")
    else:
        return InvalidInput("recipients", "each recipient is a number or {to, variables}")
    body = common.get("body")
    if isinstance(body, str):
        try:
            body = fill_template(body, variables)
        except InvalidInput as error:
            return error
    return {**common, "to": to, "body": body}


def _row(result: NewMessage | SwitchboardError) -> NewMessage:
    assert isinstance(result, NewMessage)
    return result


@operation(
    Operation(
        "Send up to 1,000 messages: 202 once the valid ones are committed",
        {
            202: Answer(
                "one entry per item, in order (or the first answer to this Idempotency-Key)",
                BatchAccepted,
                ("Idempotent-Replayed",),
            )
        },
        {
            413: ("too_many_messages",),
            422: ("batch_invalid", "missing_variable"),
        },
        body=BatchBody,
        idempotent=True,
        problem_bodies={422: BatchProblem},
    )
)
async def send_batch(request: web.Request) -> web.Response:
    """POST /v1/messages/batch → 202 with one entry per item, in order, once committed."""
    owner: KeyOwner = request[OWNER]
    limiter = request.app[SERVICES].limiter
    if limiter is not None:
        limiter.check_capacity(request.app[SERVICES].committer)
    data = decode_json(await read_limited(request, MAX_BATCH_BYTES))
    held = await claim(request, owner, data, request.app[SERVICES].clock())
    if isinstance(held, web.Response):
        return held  # the first answer to this Idempotency-Key
    try:
        response = await _accept(request, owner, data, held)
    except BaseException:
        if held is not None:
            await held.release()
        raise
    if held is not None and response.status != 202:  # nothing created: the key is free again
        await held.release()
    return response


async def _accept(
    request: web.Request, owner: KeyOwner, data: Any, held: HeldKey | None
) -> web.Response:
    services = request.app[SERVICES]
    items = expand(data)
    table = services.routes() if services.routes is not None else None
    now = services.clock()
    checked: list[SendRequest | SwitchboardError] = []
    for item in items:
        if isinstance(item, SwitchboardError):
            checked.append(item)
            continue
        try:
            parsed = parse_send_request(item, services.default_sender, services.callback_policy)
            check_destination(owner, parsed.to.e164, table)
        except SwitchboardError as error:
            checked.append(error)
            continue
        checked.append(parsed)
    refused = await check_callbacks(services, [p for p in checked if isinstance(p, SendRequest)])
    results: list[NewMessage | SwitchboardError] = []
    marketing: list[int] = []  # indexes of valid marketing items: checked for opt-outs at once
    for entry in checked:
        if isinstance(entry, SendRequest):
            refusal = callback_refusal(entry, refused)
            if refusal is None and needs_opt_out_check(entry):
                marketing.append(len(results))
            results.append(refusal or new_row(services, owner, entry, now))
        else:
            results.append(entry)
    stopped = await opted_out(request, owner, [_row(results[i]).to for i in marketing])
    for i in marketing:
        if _row(results[i]).to in stopped:
            results[i] = RecipientOptedOut(_row(results[i]).to)
    rows = [r for r in results if isinstance(r, NewMessage)]
    problems = {
        i: problem_body(r) for i, r in enumerate(results) if isinstance(r, SwitchboardError)
    }
    if not rows:
        detail = f"none of the {len(results)} messages is valid; nothing was stored"
        none_valid: BatchProblem = {
            "type": "/problems/batch_invalid",
            "title": "No valid message in the batch",
            "status": 422,
            "detail": detail,
            "code": "batch_invalid",
            "rejected": len(problems),
            "errors": [{"index": i, **p} for i, p in problems.items()],
        }
        return json_response(none_valid, status=422, content_type=PROBLEM_JSON)
    entries: list[BatchEntry] = [
        {"index": i, **accepted_json(r)}  # type: ignore[typeddict-item]  # no "error": accepted
        if isinstance(r, NewMessage)
        else {"index": i, "error": problems[i]}
        for i, r in enumerate(results)
    ]
    accepted: BatchAccepted = {
        "accepted": len(rows),
        "rejected": len(problems),
        "messages": entries,
    }
    answer = dumps(accepted)
    if services.limiter is not None:
        services.limiter.check_messages(owner, len(rows))
    await services.committer.commit_many(
        rows, held.completion(202, answer) if held is not None else None
    )
    return web.Response(body=answer, status=202, content_type="application/json")
