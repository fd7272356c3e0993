"""Each handler's contract, declared beside it: what it takes, answers and refuses with.

`@operation(...)` records an `Operation` for the handler it decorates; `api/openapi.py` walks
the app's router and describes each route from its handler's `Operation`, so the document
covers exactly the routes that are mounted (a route without one is an error there, and a
test). Bodies are the TypedDicts the handlers build (`api/wire.py`, `api/schemas.py`): mypy
holds a handler to its declared shape, and schemathesis holds the running API to the document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Param:
    """One query parameter."""

    name: str
    schema: Mapping[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: the answer's `field` is `parameter` of operation `operation_id`."""

    name: str
    operation_id: str
    parameter: str = "id"
    field: str = "id"


@dataclass(frozen=True)
class Answer:
    """One documented non-error response: its body type (None: no body) and headers."""

    description: str
    body: Any = None
    headers: tuple[str, ...] = ()
    content_type: str = "application/json"
    links: tuple[Link, ...] = ()
    # A WebSocket's 101: the type of the messages that follow (OpenAPI has no words for them;
    # the document lists their schema under `x-websocket-frames`).
    frames: Any = None


@dataclass(frozen=True)
class Operation:
    """What one route takes and answers; problem codes by HTTP status."""

    summary: str
    answers: Mapping[int, Answer]
    problems: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    body: Any = None  # the request body's type (a TypedDict) or None
    body_media: str = "application/json"  # its media type (`str` bodies: text/csv uploads)
    query: tuple[Param, ...] = ()
    public: bool = False  # no API key needed
    admin: bool = False  # an admin API key needed (403 otherwise)
    tag: str = "messages"
    problem_bodies: Mapping[int, Any] = field(default_factory=dict)  # status → a richer problem
    idempotent: bool = False  # takes an `Idempotency-Key` header (api/idempotency.py)
    description: str = ""  # more than the summary says (a WebSocket's handshake)


OPERATIONS: dict[Callable[..., Any], Operation] = {}

# Refusals every authenticated route can give.
AUTHENTICATED: Mapping[int, tuple[str, ...]] = {
    401: ("missing_api_key", "invalid_api_key"),
    422: ("invalid_input",),  # e.g. a NUL in the path or query
    429: ("rate_limited",),
    500: ("internal_error",),
    503: ("database_unavailable", "overloaded"),
}
# And every route that reads a JSON body.
JSON_BODY: Mapping[int, tuple[str, ...]] = {
    400: ("malformed_json",),
    408: ("request_timeout",),
    413: ("payload_too_large",),
    422: ("invalid_input",),
}
ADMIN: Mapping[int, tuple[str, ...]] = {403: ("admin_required",)}
IDEMPOTENT: Mapping[int, tuple[str, ...]] = {
    409: ("idempotency_in_progress",),
    422: ("invalid_input", "idempotency_key_reused"),
}


def problems(*groups: Mapping[int, tuple[str, ...]]) -> dict[int, tuple[str, ...]]:
    """The union of problem groups (codes of one status kept in order, each once)."""
    merged: dict[int, tuple[str, ...]] = {}
    for group in groups:
        for status, codes in group.items():
            merged[status] = tuple(dict.fromkeys((*merged.get(status, ()), *codes)))
    return merged


def operation(spec: Operation) -> Callable[[F], F]:
    """Record `spec` as the contract of the decorated handler."""

    def register(handler: F) -> F:
        extra: list[Mapping[int, tuple[str, ...]]] = [{500: ("internal_error",)}]
        if not spec.public:
            extra.append(AUTHENTICATED)
        if spec.body is not None and spec.body_media == "application/json":
            extra.append(JSON_BODY)
        if spec.query:
            extra.append({422: ("invalid_input",)})
        if spec.admin:
            extra.append(ADMIN)
        if spec.idempotent:
            extra.append(IDEMPOTENT)
        OPERATIONS[handler] = replace(spec, problems=problems(*extra, spec.problems))
        return handler

    return register


def contract_of(handler: Callable[..., Any]) -> Operation | None:
    """The recorded contract of `handler`, if it has one."""
    return OPERATIONS.get(handler)
