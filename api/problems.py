"""RFC 9457 problem details: every error the API returns, mapped once from our error tree."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.jsonio import json_response
from messaging import EmptyBody, InvalidInput, InvalidNumber, NoRoute, RateLimited, SwitchboardError

PROBLEM_JSON = "application/problem+json"

# Error class → (HTTP status, title). Looked up along the MRO, so subclasses inherit.
STATUS_OF: dict[type[SwitchboardError], tuple[int, str]] = {
    InvalidNumber: (422, "Invalid phone number"),
    EmptyBody: (422, "Empty message body"),
    InvalidInput: (422, "Invalid input"),
    NoRoute: (422, "No route to destination"),
    RateLimited: (429, "Too many requests"),
    SwitchboardError: (500, "Internal error"),
}


class ApiProblem(SwitchboardError):
    """An HTTP-level problem that is not a domain error (bad JSON, auth, not found)."""

    def __init__(self, status: int, code: str, title: str, detail: str) -> None:
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


def problem_body(error: SwitchboardError) -> dict[str, Any]:
    """The RFC 9457 members of `error` (with `code`, and `field` for invalid input), as the
    batch endpoint reports each item's problem."""
    if isinstance(error, ApiProblem):
        status, title, detail = error.status, error.title, error.detail
    else:
        status, title = _status_of(error)
        detail = str(error)
    body: dict[str, Any] = {
        "type": f"/problems/{error.code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": error.code,
    }
    if isinstance(error, InvalidInput):
        body["field"] = error.field
    return body


def _status_of(error: SwitchboardError) -> tuple[int, str]:
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 500, "Internal error"  # pragma: no cover - SwitchboardError is always in the MRO


def response_for(error: SwitchboardError) -> web.Response:
    """Map any of our errors to its problem response."""
    if isinstance(error, ApiProblem):
        return problem_response(error.status, error.code, error.title, error.detail)
    status, title = _status_of(error)
    extra: dict[str, Any] = {}
    headers: dict[str, str] | None = None
    if isinstance(error, InvalidInput):
        extra["field"] = error.field
    if isinstance(error, RateLimited):
        headers = {"Retry-After": str(max(1, round(error.retry_after)))}
    return problem_response(status, error.code, title, str(error), headers=headers, **extra)
