"""The statuses a message can still leave, as SQL (shared by the store modules)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_

from messaging import Status
from store.models import Message

OPEN_STATUSES = (Status.QUEUED.value, Status.SENDING.value, Status.SENT.value)


def is_open() -> ColumnElement[bool]:
    """SQL: the message is queued, sending or sent."""
    # Spelled as equalities, not IN: an expanding IN cannot be used with executemany().
    return or_(*(Message.status == s for s in OPEN_STATUSES))
