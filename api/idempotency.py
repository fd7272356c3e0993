"""`Idempotency-Key` on POST /v1/messages and /v1/messages/batch (Stripe's semantics).

The same key and body from the same account within `IDEMPOTENCY_TTL` (24 h) answer the first
answer again, with `Idempotent-Replayed: true`, and create nothing; the same key with another
body (or for the other endpoint) is 422 `idempotency_key_reused`; while the first request with
a key is still being handled, a duplicate is 409 `idempotency_in_progress` — of concurrent
duplicates exactly one creates. Only `202` answers are kept: a request refused (422, 503, ...)
releases its key, since it created nothing, and may be sent again under it. The rows are in
`store/idempotency.py`; the answer is written in the messages' own transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from api.problems import ApiProblem
from api.services import READ_POOL
from messaging import InvalidInput
from store import (
    Claimed,
    IdempotencyStore,
    IdempotentAnswer,
    InProgress,
    KeyCompletion,
    KeyOwner,
    KeyReused,
    Replay,
)

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_CHARS = 255
IDEMPOTENCY = web.AppKey("idempotency", IdempotencyStore)


def request_hash(path: str, body: Any) -> str:
    """SHA-256 of the endpoint and the decoded body in canonical form (keys sorted), so the
    same request spelt with other whitespace or key order is the same request."""
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(path.encode() + b"\n" + canonical).hexdigest()


def idempotency_key(request: web.Request) -> str | None:
    """The request's key, or None; 422 `invalid_input` when it is empty, too long or not
    printable ASCII."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 0 < len(key) <= MAX_KEY_CHARS or not key.isascii() or not key.isprintable():
        raise InvalidInput(HEADER, f"must be 1-{MAX_KEY_CHARS} printable ASCII characters")
    return key


def replay_response(answer: IdempotentAnswer) -> web.Response:
    """The first answer again, marked as a replay."""
    headers = {REPLAYED: "true"}
    if answer.location:
        headers["Location"] = answer.location
    return web.Response(
        body=answer.body, status=answer.status, headers=headers, content_type="application/json"
    )


@dataclass(frozen=True)
class HeldKey:
    """A key this request claimed: completed with its messages, or released on failure."""

    store: IdempotencyStore
    pool: Executor  # the app's executor for blocking database calls
    owner: KeyOwner
    key: str
    token: str

    def completion(self, status: int, body: bytes, location: str | None = None) -> KeyCompletion:
        """The answer to write with the messages."""
        return KeyCompletion(
            self.owner.account_id, self.key, self.token, IdempotentAnswer(status, body, location)
        )

    async def release(self) -> None:
        """Free the key (best effort: a claim left behind is taken over after a minute)."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                self.pool, self.store.release, self.owner.account_id, self.key, self.token
            )
        except Exception:
            log.warning("could not release idempotency key of account %s", self.owner.account_id)


async def claim(
    request: web.Request, owner: KeyOwner, body: Any, now: datetime
) -> HeldKey | web.Response | None:
    """Claim the request's key: a `HeldKey`, the replayed first answer, or None (no key).

    Raises:
        ApiProblem: 422 `idempotency_key_reused`, 409 `idempotency_in_progress`.
    """
    key = idempotency_key(request)
    if key is None:
        return None
    store = request.app[IDEMPOTENCY]
    pool = request.app[READ_POOL]
    digest = request_hash(request.path, body)
    outcome = await asyncio.get_running_loop().run_in_executor(
        pool, store.claim, owner.account_id, key, digest, now
    )
    match outcome:
        case Claimed(token):
            return HeldKey(store, pool, owner, key, token)
        case Replay(answer):
            return replay_response(answer)
        case KeyReused():
            raise ApiProblem(
                422,
                "idempotency_key_reused",
                "Idempotency key reused",
                f"this {HEADER} was used for a different request; use a new key",
            )
        case InProgress():
            raise ApiProblem(
                409,
                "idempotency_in_progress",
                "Idempotency key in progress",
                f"a request with this {HEADER} is being handled; retry shortly",
            )
