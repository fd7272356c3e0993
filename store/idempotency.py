"""Idempotency keys in the database: claim a key, answer it in the messages' own transaction.

A request with an `Idempotency-Key` first claims `(account, key)` (an INSERT; the primary key
makes exactly one of concurrent duplicates win). Its answer is written by `complete_keys` in the
transaction that commits its messages, compare-and-set on the claim's `lock_token`; so a key
has an answer and messages, or neither. A claim whose request failed is released; one whose
process died is taken over after `STALE_CLAIM` (no messages can be behind it: they would have
answered it). Keys live `IDEMPOTENCY_TTL` (Stripe keeps them 24 h), then the sweep drops them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from store.models import IdempotencyKey

IDEMPOTENCY_TTL = timedelta(hours=24)
STALE_CLAIM = timedelta(seconds=60)  # longer than any request holds a claim


@dataclass(frozen=True)
class IdempotentAnswer:
    """The first answer to a key: what a replay sends again."""

    status: int
    body: bytes
    location: str | None = None


@dataclass(frozen=True)
class Claimed:
    """This request holds the key; `token` proves it when completing or releasing."""

    token: str


@dataclass(frozen=True)
class Replay:
    """The key was answered for the same request: send `answer` again."""

    answer: IdempotentAnswer


@dataclass(frozen=True)
class KeyReused:
    """The key was used for a different request."""


@dataclass(frozen=True)
class InProgress:
    """Another request with this key is being handled now."""


ClaimOutcome = Claimed | Replay | KeyReused | InProgress


@dataclass(frozen=True)
class KeyCompletion:
    """The answer to write for a claimed key, with the messages it created."""

    account_id: str
    key: str
    token: str
    answer: IdempotentAnswer


class IdempotencyKeyTaken(Exception):
    """A claim was taken over (its request outlived `STALE_CLAIM`): its messages must not be
    committed, since the request that took over will create them."""


class IdempotencyStore:
    """Claims and releases keys (`complete_keys` runs inside the group commit)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, account_id: str, key: str, request_hash: str, now: datetime) -> ClaimOutcome:
        """Claim `key` for a request hashing to `request_hash`, or say why not."""
        for _ in range(3):  # a row that vanishes or changes between statements: look again
            token = uuid.uuid4().hex
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        insert(IdempotencyKey).values(
                            account_id=account_id,
                            key=key,
                            request_hash=request_hash,
                            lock_token=token,
                            created_at=now,
                            locked_at=now,
                        )
                    )
                return Claimed(token)
            except IntegrityError:
                pass
            outcome = self._existing(account_id, key, request_hash, now, token)
            if outcome is not None:
                return outcome
        return InProgress()

    def _existing(
        self, account_id: str, key: str, request_hash: str, now: datetime, token: str
    ) -> ClaimOutcome | None:
        where = (IdempotencyKey.account_id == account_id, IdempotencyKey.key == key)
        with self.engine.begin() as conn:
            row = conn.execute(select(IdempotencyKey).where(*where)).one_or_none()
            if row is None:
                return None
            if row.created_at <= now - IDEMPOTENCY_TTL:  # expired, not swept yet: start anew
                taken = conn.execute(
                    update(IdempotencyKey)
                    .where(*where, IdempotencyKey.created_at == row.created_at)
                    .values(
                        request_hash=request_hash,
                        lock_token=token,
                        status_code=None,
                        response=None,
                        location=None,
                        created_at=now,
                        locked_at=now,
                    )
                ).rowcount
                return Claimed(token) if taken else None
            if row.request_hash != request_hash:
                return KeyReused()
            if row.status_code is not None and row.response is not None:
                return Replay(IdempotentAnswer(row.status_code, row.response, row.location))
            if row.locked_at > now - STALE_CLAIM:
                return InProgress()
            taken = conn.execute(  # the claimant died (or took too long): take its claim over
                update(IdempotencyKey)
                .where(
                    *where,
                    IdempotencyKey.lock_token == row.lock_token,
                    IdempotencyKey.status_code.is_(None),
                )
                .values(lock_token=token, locked_at=now)
            ).rowcount
            return Claimed(token) if taken else None

    def release(self, account_id: str, key: str, token: str) -> None:
        """Give up an unanswered claim (its request failed): the key may be used again."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(IdempotencyKey).where(
                    IdempotencyKey.account_id == account_id,
                    IdempotencyKey.key == key,
                    IdempotencyKey.lock_token == token,
                    IdempotencyKey.status_code.is_(None),
                )
            )

    def delete_expired(self, now: datetime) -> int:
        """Drop keys older than `IDEMPOTENCY_TTL` (the sweep); how many."""
        with self.engine.begin() as conn:
            return conn.execute(
                delete(IdempotencyKey).where(IdempotencyKey.created_at <= now - IDEMPOTENCY_TTL)
            ).rowcount


def complete_keys(conn: Connection, completions: Sequence[KeyCompletion]) -> None:
    """Write each key's answer in `conn`'s transaction (the one committing its messages).

    Raises:
        IdempotencyKeyTaken: a claim is no longer held; the caller rolls back.
    """
    for c in completions:
        done = conn.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.account_id == c.account_id,
                IdempotencyKey.key == c.key,
                IdempotencyKey.lock_token == c.token,
                IdempotencyKey.status_code.is_(None),
            )
            .values(
                status_code=c.answer.status,
                response=c.answer.body,
                location=c.answer.location,
                lock_token=None,
            )
        ).rowcount
        if done != 1:
            raise IdempotencyKeyTaken(f"idempotency key {c.key!r} is no longer held")
