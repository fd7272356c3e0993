"""What the campaign store takes and returns (frozen, typed: nothing crosses as a dict)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple


@dataclass(frozen=True)
class NewCampaign:
    """A campaign to create (in `draft`)."""

    id: str
    account_id: str
    name: str
    sender: str
    template: str
    message_class: str
    start_at: datetime
    max_rate: float | None
    send_window: str | None  # "HH:MM-HH:MM" in the recipient's local time
    validity_seconds: int
    created_at: datetime


@dataclass(frozen=True)
class CampaignRecord:
    """A campaign as stored."""

    id: str
    account_id: str
    name: str
    sender: str
    template: str
    message_class: str
    state: str
    start_at: datetime
    max_rate: float | None
    send_window: str | None
    validity_seconds: int
    zones: tuple[str, ...]
    recipients: int
    duplicates: int
    skipped: int
    opted_out: int
    released: int  # recipients released so far (queued, or rejected as opted out)
    last_release_at: datetime | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class AudienceMessage(NamedTuple):
    """One recipient's rendered message, as the audience load writes it (a tuple: the load
    takes any tuple of this shape, e.g. `campaigns.ScheduledRow`, and gives it its id)."""

    line: int
    to: str
    body: str
    encoding: str
    segments: int
    zone: str


@dataclass(frozen=True)
class AudienceSkip:
    """An audience row not scheduled: its line, the number as given, the reason, a detail."""

    line: int
    number: str
    reason: str
    detail: str


@dataclass(frozen=True)
class AudienceTotals:
    """What an audience load stored: recipients scheduled and rows dropped, by kind."""

    recipients: int
    duplicates: int
    opted_out: int
    skipped: dict[str, int]  # reason → rows (opted-out ones included)
    first_skips: tuple[AudienceSkip, ...]  # the first few, by line, for the answer


@dataclass(frozen=True)
class Released:
    """One campaign's release slice: ids now `queued`, ids rejected as opted out."""

    queued: tuple[str, ...] = ()
    opted_out: tuple[str, ...] = ()
    completed: bool = False


@dataclass(frozen=True)
class CampaignProgress:
    """Counts and money of one campaign now."""

    by_status: dict[str, int]
    cost: Decimal
    currency: str | None
    sent_last_minute: int
    attempts: int = 0
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveCampaign:
    """A running or paused campaign with its messages counted by status (the dashboard's)."""

    id: str
    name: str
    state: str
    start_at: datetime
    max_rate: float | None
    send_window: str | None
    recipients: int
    skipped: int  # audience rows not scheduled at load (duplicates, opt-outs, invalid)
    by_status: dict[str, int]
    scheduled_by_zone: dict[str, int]  # zone key → messages still scheduled


@dataclass(frozen=True)
class ReportRow:
    """One line of the report: an audience row and what became of it."""

    line: int
    to: str
    status: str
    error_code: str | None
    carrier: str | None
    cost: Decimal | None
    message_id: str | None
