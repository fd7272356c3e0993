"""Per-account callback signing secrets: made or rotated on request, shown once.

A rotation keeps the previous secret valid for a grace period (both sign meanwhile), so a
receiver can switch without losing a callback. `secrets_for` is what the callback workers
read; it caches each account's answer for a few seconds (the dispatcher asks per POST).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from store.models import SigningSecret

ROTATION_GRACE = timedelta(hours=24)
SECRET_PREFIX = "whsec_"  # noqa: S105 - a marker, not a secret


class SigningSecrets:
    """The `signing_secrets` table."""

    def __init__(
        self,
        engine: Engine,
        cache_seconds: float = 5.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def rotate(
        self, account_id: str, now: datetime, grace: timedelta = ROTATION_GRACE
    ) -> tuple[str, datetime | None]:
        """A new secret for `account_id` (the current one, if any, valid `grace` longer):
        (the new secret, until when the previous one signs too)."""
        new = SECRET_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            current = conn.execute(
                select(SigningSecret.secret).where(SigningSecret.account_id == account_id)
            ).scalar()
            until = now + grace if current is not None and grace > timedelta(0) else None
            values = {
                "account_id": account_id,
                "secret": new,
                "previous": current if until is not None else None,
                "previous_until": until,
                "rotated_at": now,
            }
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            statement = dialect.insert(SigningSecret).values(**values)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[SigningSecret.account_id],
                    set_={k: statement.excluded[k] for k in values if k != "account_id"},
                )
            )
        with self._lock:
            self._cache.pop(account_id, None)
        return new, until

    def read(self, account_id: str, now: datetime) -> tuple[str, ...]:
        """The secrets that sign `account_id`'s callbacks at `now`, newest first (empty: none)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    SigningSecret.secret, SigningSecret.previous, SigningSecret.previous_until
                ).where(SigningSecret.account_id == account_id)
            ).first()
        if row is None:
            return ()
        if row.previous is not None and row.previous_until is not None and now < row.previous_until:
            return (row.secret, row.previous)
        return (row.secret,)

    def secrets_for(self, account_id: str) -> tuple[str, ...]:
        """`read` at the clock's now, cached `cache_seconds` per account."""
        if not account_id:
            return ()
        with self._lock:
            hit = self._cache.get(account_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        assert self._clock is not None, "secrets_for needs the clock given at construction"
        found = self.read(account_id, self._clock())
        with self._lock:
            self._cache[account_id] = (time.monotonic() + self.cache_seconds, found)
        return found
