"""RFC 9457 problem details: every error the API returns, mapped once, in one table.

Our own errors (the tree in `messaging/errors.py`) and the database's (SQLAlchemy) are looked
up along their MRO in `PROBLEMS`. Whatever is in neither is a bug: `500 internal_error` with a
request id, logged with its traceback, never echoed to the client.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import exc as db

from api.jsonio import json_response
from api.wire import Problem
from campaigns import CampaignStateConflict
from inbound import RecipientOptedOut
from messaging import (
    CallbackUrlForbidden,
    EmptyBody,
    InvalidInput,
    InvalidNumber,
    NoRoute,
    RateLimited,
    SwitchboardError,
)
from store import IdempotencyKeyTaken

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
DATABASE_RETRY_AFTER = 2  # seconds: a restarting database is usually back within a few


@dataclass(frozen=True)
class ProblemSpec:
    """How one class of error is answered."""

    status: int
    title: str
    code: str | None = None  # None: the error's own `code` attribute (our error tree)
    retry_after: int | None = None  # seconds, sent as `Retry-After` (RFC 9110 §10.2.3)
    detail: str | None = None  # None: str(error); set where the error's text is not for clients


_DATABASE_UNAVAILABLE = ProblemSpec(
    503,
    "Database unavailable",
    "database_unavailable",
    DATABASE_RETRY_AFTER,
    "the database is unavailable; nothing was stored, try again",
)

# Error class → answer, looked up along the MRO (subclasses inherit; the first match wins).
PROBLEMS: dict[type[BaseException], ProblemSpec] = {
    InvalidNumber: ProblemSpec(422, "Invalid phone number"),
    EmptyBody: ProblemSpec(422, "Empty message body"),
    CallbackUrlForbidden: ProblemSpec(422, "Callback URL forbidden"),
    InvalidInput: ProblemSpec(422, "Invalid input"),
    NoRoute: ProblemSpec(422, "No route to destination"),
    RecipientOptedOut: ProblemSpec(422, "Recipient opted out"),
    CampaignStateConflict: ProblemSpec(409, "Campaign state conflict"),
    RateLimited: ProblemSpec(429, "Too many requests"),
    SwitchboardError: ProblemSpec(500, "Internal error"),
    # Connection refused or lost, server shutting down, SQLite busy past its timeout: the
    # request may succeed once the database is back. (Integrity, data and programming errors
    # are bugs or bad rows: they fall through to internal_error.)
    # The request outlived its idempotency claim and another took the key over (api/idempotency).
    IdempotencyKeyTaken: ProblemSpec(
        409,
        "Idempotency key in progress",
        "idempotency_in_progress",
        detail="another request took this Idempotency-Key over; nothing was stored",
    ),
    db.OperationalError: _DATABASE_UNAVAILABLE,
    db.InterfaceError: _DATABASE_UNAVAILABLE,
    db.DisconnectionError: _DATABASE_UNAVAILABLE,
    db.TimeoutError: _DATABASE_UNAVAILABLE,  # no pooled connection came free in time
}
_INTERNAL = ProblemSpec(500, "Internal error", "internal_error")


def spec_for(error: BaseException) -> ProblemSpec | None:
    """The table entry answering `error`, or None when it is unexpected (a bug)."""
    for cls in type(error).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return None


def is_database_unavailable(error: BaseException) -> bool:
    """True when `error` means the database cannot be reached now (worth retrying)."""
    spec = spec_for(error)
    return spec is not None and spec.code == "database_unavailable"


class ApiProblem(SwitchboardError):
    """An HTTP-level problem that is not a domain error (bad JSON, auth, not found)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.headers = headers
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        super().__init__(detail)


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """An `application/problem+json` response (RFC 9457 §3) with our stable `code` member."""
    body = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return json_response(body, status=status, content_type=PROBLEM_JSON, headers=headers)


def problem_body(error: SwitchboardError) -> Problem:
    """The RFC 9457 members of `error` (with `code`, and `field` for invalid input), as the
    batch endpoint reports each item's problem."""
    if isinstance(error, ApiProblem):
        status, title, detail = error.status, error.title, error.detail
    else:
        spec = spec_for(error) or _INTERNAL  # SwitchboardError is always in the table
        status, title, detail = spec.status, spec.title, str(error)
    body: Problem = {
        "type": f"/problems/{error.code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": error.code,
    }
    if isinstance(error, InvalidInput):
        body["field"] = error.field
    return body


def response_for(error: Exception) -> web.Response:
    """Map any error to its problem response; an unexpected one is logged and hidden."""
    if isinstance(error, ApiProblem):
        return problem_response(
            error.status, error.code, error.title, error.detail, headers=error.headers
        )
    spec = spec_for(error)
    if spec is None:
        request_id = uuid.uuid4().hex
        log.error("unexpected error (request id %s)", request_id, exc_info=error)
        return problem_response(
            _INTERNAL.status,
            "internal_error",
            _INTERNAL.title,
            f"an unexpected error occurred; quote request id {request_id}",
            headers={"X-Request-Id": request_id},
            request_id=request_id,
        )
    code = spec.code or str(getattr(error, "code", "internal_error"))
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(error, InvalidInput):
        extra["field"] = error.field
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
        headers.update(error.headers)
    elif spec.retry_after is not None:
        headers["Retry-After"] = str(spec.retry_after)
    detail = spec.detail or str(error)
    return problem_response(spec.status, code, spec.title, detail, headers=headers or None, **extra)
