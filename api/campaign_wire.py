"""The campaign endpoints' JSON, as TypedDicts: the request `api/campaign_schemas.py` validates
and the answers `api/campaigns_api.py` builds; `api/openapi.py` turns them into the document.

The request's schema accepts at least what the validator accepts (schemathesis' negative
checks send what the schema refuses and expect a 4xx); the validator then says more
(senders, templates, windows) with a field-named 422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, NotRequired, Required

from pydantic import Field, with_config
from typing_extensions import TypedDict

from api.wire import CLOSED

MAX_LIST_AUDIENCE = 10_000  # larger audiences are uploaded as CSV (PUT …/audience)
MAX_RATE = 10_000.0
MIN_VALIDITY, MAX_VALIDITY = 60, 259_200  # seconds: a minute to three days


@with_config(CLOSED)
class SendWindowJson(TypedDict):
    """A send window in the recipient's local time, e.g. `{"start": "09:00", "end": "20:00"}`."""

    start: str
    end: str


CampaignBody = TypedDict(
    "CampaignBody",
    {
        "template": Required[
            Annotated[str, Field(description='the text, e.g. "Hi {{first_name}}, …"')]
        ],
        "name": Annotated[str, Field(max_length=200)],
        "from": Annotated[
            str | None, Field(description="1-11 letters/digits, or a number of 3-15 digits")
        ],
        "class": Literal["marketing"],
        "audience": Annotated[
            list[str | dict[str, str | int | float]] | None,
            Field(
                min_length=1,
                max_length=MAX_LIST_AUDIENCE,
                description='numbers, or objects `{"to": …, "<column>": …}` (a larger '
                "audience is uploaded as CSV: PUT /v1/campaigns/{id}/audience)",
            ),
        ],
        "start_at": Annotated[str | None, Field(description="RFC 3339 with its offset")],
        "max_rate": Annotated[float | None, Field(gt=0, le=MAX_RATE, description="per second")],
        "send_window": Annotated[
            str | SendWindowJson | None,
            Field(description='local time, "HH:MM-HH:MM" or {"start", "end"}'),
        ],
        "validity": Annotated[int, Field(ge=MIN_VALIDITY, le=MAX_VALIDITY, description="seconds")],
    },
    total=False,
)
with_config(CLOSED)(CampaignBody)
CampaignBody.__doc__ = "A campaign to create (a draft until started)."
CAMPAIGN_FIELDS = CampaignBody.__required_keys__ | CampaignBody.__optional_keys__


@with_config(CLOSED)
class AudienceCounts(TypedDict):
    """What a campaign's audience holds."""

    recipients: int
    duplicates: int
    skipped: int
    opted_out: int


@with_config(CLOSED)
class SkippedRow(TypedDict):
    """One audience line not loaded, and why."""

    line: int
    to: str
    reason: str
    detail: str


@with_config(CLOSED)
class AudienceLoadJson(TypedDict):
    """What one audience load stored and skipped (the first skipped lines)."""

    recipients: int
    duplicates: int
    opted_out: int
    skipped: dict[str, int]  # reason → lines (opted-out ones included)
    skipped_rows: list[SkippedRow]


CampaignJson = TypedDict(
    "CampaignJson",
    {
        "id": str,
        "name": str,
        "state": str,
        "from": str,
        "class": str,
        "template": str,
        "start_at": datetime,
        "max_rate": float | None,
        "send_window": str | None,
        "audience": AudienceCounts,
        "created_at": datetime,
        "started_at": datetime | None,
        "finished_at": datetime | None,
        # with GET /v1/campaigns/{id}: live progress
        "counts": NotRequired[dict[str, int]],
        "send_rate": NotRequired[float],
        "cost": NotRequired[str],
        "currency": NotRequired[str | None],
        "remaining": NotRequired[int],
        "eta_seconds": NotRequired[int | None],
        # with POST /v1/campaigns and a list audience
        "audience_load": NotRequired[AudienceLoadJson],
        # with POST /v1/campaigns/{id}/cancel
        "canceled_messages": NotRequired[int],
    },
)
with_config(CLOSED)(CampaignJson)
CampaignJson.__doc__ = "A campaign: its settings, its audience, and its progress when asked."
