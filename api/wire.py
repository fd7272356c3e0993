"""The JSON the API answers with, as TypedDicts: the handlers build these (mypy checks the keys)
and `api/openapi.py` turns the same types into the document's schemas (pydantic).

Objects are closed (`extra="forbid"` → `additionalProperties: false`), so a field added to a
handler but not here fails schemathesis' response check as well as mypy.
"""

from __future__ import annotations

from datetime import datetime
from typing import (
    Any,
    NotRequired,  # pydantic needs this one before 3.12
)

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

CLOSED = ConfigDict(extra="forbid")


@with_config(CLOSED)
class Problem(TypedDict):
    """RFC 9457 problem details with our stable `code` (and `field` for invalid input)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: NotRequired[str]
    request_id: NotRequired[str]


@with_config(CLOSED)
class ItemProblem(Problem):
    """One batch item's problem, with its index in the request."""

    index: int


@with_config(CLOSED)
class BatchProblem(TypedDict):
    """422 `batch_invalid`: no item of the batch was valid; each item's problem."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    rejected: int
    errors: list[ItemProblem]


@with_config(CLOSED)
class Health(TypedDict):
    """GET /health."""

    status: str
    pid: int


# What every view of a message starts with ("from" and "class" are keywords: the call syntax).
MessageHead = TypedDict(
    "MessageHead",
    {
        "id": str,
        "status": str,
        "to": str,
        "from": str,
        "class": str,
        "encoding": str,
        "segments": int,
    },
)


@with_config(CLOSED)
class AcceptedMessage(MessageHead):
    """A message accepted (committed, queued)."""

    created_at: datetime
    valid_until: datetime


@with_config(CLOSED)
class Attempt(TypedDict):
    """One try of a message on a carrier."""

    number: int
    carrier: str
    route: str
    cost: str
    currency: str
    submit_status: str
    error_code: str | None
    receipt_state: str | None
    receipt_stat: str | None  # the carrier's own `stat:` word when it is not one we know
    carrier_message_ids: list[str]
    submitted_at: datetime | None
    receipt_at: datetime | None
    resubmitted_after_crash: bool


@with_config(CLOSED)
class MessageSummaryJson(MessageHead):
    """One message of a page (its attempts are on GET /v1/messages/{id})."""

    error_code: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    final_at: datetime | None


@with_config(CLOSED)
class MessageJson(MessageSummaryJson):
    """A message, its status and every attempt."""

    attempts: list[Attempt]


@with_config(CLOSED)
class MessagePage(TypedDict):
    """GET /v1/messages: one page and the cursor after it."""

    messages: list[MessageSummaryJson]
    has_more: bool
    next_cursor: str | None


BatchEntry = TypedDict(
    "BatchEntry",
    {
        "index": int,
        "id": NotRequired[str],
        "status": NotRequired[str],
        "to": NotRequired[str],
        "from": NotRequired[str],
        "class": NotRequired[str],
        "encoding": NotRequired[str],
        "segments": NotRequired[int],
        "created_at": NotRequired[datetime],
        "valid_until": NotRequired[datetime],
        "error": NotRequired[Problem],
    },
)
with_config(CLOSED)(BatchEntry)
BatchEntry.__doc__ = "One item of a batch: accepted (the message) or refused (`error`)."


@with_config(CLOSED)
class BatchAccepted(TypedDict):
    """202 of POST /v1/messages/batch, one entry per item in request order."""

    accepted: int
    rejected: int
    messages: list[BatchEntry]


InboundJson = TypedDict(
    "InboundJson",
    {
        "id": str,
        "carrier": str,
        "from": str,
        "to": str,
        "text": str,
        "parts": int,
        "keyword": str | None,
        "received_at": datetime,
    },
)
with_config(CLOSED)(InboundJson)
InboundJson.__doc__ = "One MO (inbound message) to one of the caller's numbers."


@with_config(CLOSED)
class InboundPage(TypedDict):
    """GET /v1/inbound."""

    inbound: list[InboundJson]
    has_more: bool
    next_cursor: str | None


@with_config(CLOSED)
class OptOutEntry(TypedDict):
    """One opted-out number."""

    number: str
    origin: str
    created_at: datetime


@with_config(CLOSED)
class OptOutPage(TypedDict):
    """GET /v1/opt-outs."""

    opt_outs: list[OptOutEntry]
    has_more: bool
    next_cursor: str | None


@with_config(CLOSED)
class OptOutAnswer(TypedDict):
    """POST /v1/opt-outs."""

    number: str
    opted_out: bool


Price = TypedDict(
    "Price",
    {"to": str, "class": str, "price_per_segment": str, "currency": str},
)
with_config(CLOSED)(Price)
Price.__doc__ = "GET /v1/pricing: the per-segment price of the carrier a number routes to."


@with_config(CLOSED)
class CandidateJson(TypedDict):
    """One carrier the router would try, in order."""

    carrier: str
    route: str
    price_per_segment: str
    cost: str
    currency: str
    score: float
    reason: str


@with_config(CLOSED)
class ExcludedJson(TypedDict):
    """A carrier left out (or demoted), and why."""

    carrier: str
    reason: str
    detail: str


RouteDecision = TypedDict(
    "RouteDecision",
    {
        "to": str,
        "class": str,
        "account": str,
        "segments": int,
        "encoding": str,
        "route": str | None,
        "candidates": list[CandidateJson],
        "excluded": list[ExcludedJson],
        "demoted": list[ExcludedJson],
    },
)
with_config(CLOSED)(RouteDecision)
RouteDecision.__doc__ = "GET /v1/routes/explain: the routing engine's whole decision."


@with_config(CLOSED)
class VerificationJson(TypedDict):
    """An OTP verification (never its code)."""

    id: str
    status: str
    to: str
    channel: str
    attempts_left: int
    sends_left: int
    created_at: datetime
    expires_at: datetime
    approved_at: datetime | None
    message_id: str
    new: NotRequired[bool]


@with_config(CLOSED)
class CheckAnswer(TypedDict):
    """POST /v1/otp/{id}/check."""

    id: str
    status: str
    attempts_left: int


@with_config(CLOSED)
class BlockJson(TypedDict):
    """An active SMS-pumping block on a number prefix."""

    prefix: str
    blocked_at: datetime
    until: datetime
    reason: str


@with_config(CLOSED)
class BlockList(TypedDict):
    """GET /v1/admin/otp/blocks: active blocks and the guard's counters."""

    blocks: list[BlockJson]
    metrics: dict[str, int]


OpenApiDocument = dict[str, Any]


@with_config(CLOSED)
class KeyJson(TypedDict):
    """An API key as listed: its id and the prefix it starts with (`sb_<prefix>_…`)."""

    id: str
    account: str
    prefix: str
    admin: bool
    created_at: datetime
    revoked_at: datetime | None


@with_config(CLOSED)
class NewKeyJson(KeyJson):
    """A key just made: the key itself, shown this once."""

    key: str


@with_config(CLOSED)
class KeyList(TypedDict):
    """GET /v1/keys."""

    keys: list[KeyJson]


@with_config(CLOSED)
class SigningSecretJson(TypedDict):
    """POST /v1/webhook-secret: the new secret (this once) and the old one's grace."""

    secret: str
    previous_valid_until: datetime | None
