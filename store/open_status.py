"""Status tests as SQL (shared by the store modules)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_

from store.models import OPEN_STATUSES, Message

__all__ = ["OPEN_STATUSES", "is_due", "is_open", "status_of_row"]


def status_of_row() -> ColumnElement[str]:
    """`messages.status` for rows reached by primary key: an expression no index covers.

    Statistics on `status` are off (migration 0004: they always lag a backlog), so to the
    planner a status test looks as selective as an id test; given `id = :id AND status = :s`
    it may walk a status index through every queued row instead of the primary key (seen as
    8 to 36 ms per UPDATE under a 40k backlog). Testing this expression leaves it only the id.
    """
    return func.coalesce(Message.status, "")


def is_open() -> ColumnElement[bool]:
    """SQL: the message (reached by id) is queued, sending or sent."""
    # Spelled as equalities, not IN: an expanding IN cannot be used with executemany().
    status = status_of_row()
    return or_(*(status == s for s in OPEN_STATUSES))


def is_due(now: datetime | ColumnElement[Any]) -> ColumnElement[bool]:
    """SQL: the message waits out no retry backoff at `now` (a value or a bound parameter)."""
    return or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now)
