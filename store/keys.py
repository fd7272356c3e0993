"""API keys: made, listed, revoked and rotated (mixed into MessageStore).

Only a key's SHA-256 is kept; the key itself is shown once, when made. Revoking writes
`revoked_at` (the first time only: revoking again changes nothing); `key_owner` ignores revoked
keys, so a revoked key is refused as soon as API processes' key caches expire.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection, Row

from store.ids import new_id
from store.models import Account, ApiKey


def hash_key(key: str) -> str:
    """SHA-256 of an API key, the only form stored."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown of a key: never the key, only the prefix it starts with."""

    id: str
    account: str
    prefix: str
    is_admin: bool
    created_at: datetime
    revoked_at: datetime | None


def insert_key(conn: Connection, account_id: str, is_admin: bool, now: datetime) -> str:
    """Store a new key of `account_id` and return it in clear (the only time it exists);
    `key_info(conn, key)` tells what was stored."""
    prefix = secrets.token_hex(4)
    key = f"sb_{prefix}_{secrets.token_urlsafe(24)}"
    conn.execute(
        insert(ApiKey).values(
            id=new_id(),
            account_id=account_id,
            key_hash=hash_key(key),
            prefix=prefix,
            is_admin=is_admin,
            created_at=now,
        )
    )
    return key


_INFO = select(
    ApiKey.id,
    Account.name,
    ApiKey.prefix,
    ApiKey.is_admin,
    ApiKey.created_at,
    ApiKey.revoked_at,
).join(Account, Account.id == ApiKey.account_id)


def _info(row: Row[str, str, str, bool, datetime, datetime | None]) -> KeyInfo:
    return KeyInfo(row[0], row[1], row[2], bool(row[3]), row[4], row[5])


def key_info(conn: Connection, key: str) -> KeyInfo:
    """The stored facts of `key`."""
    return _info(conn.execute(_INFO.where(ApiKey.key_hash == hash_key(key))).one())


class KeyBook:
    """Listing, revoking and rotating API keys."""

    engine: Engine

    def list_api_keys(self, account_name: str | None = None) -> list[KeyInfo]:
        """Every key (of `account_name` only, when given), oldest first."""
        query = _INFO.order_by(ApiKey.created_at, ApiKey.id)
        if account_name is not None:
            query = query.where(Account.name == account_name)
        with self.engine.connect() as conn:
            return [_info(r) for r in conn.execute(query)]

    def find_api_key(self, ref: str) -> KeyInfo | None:
        """The key whose id or prefix is `ref` (None when none, or a prefix two keys share)."""
        query = _INFO.where((ApiKey.id == ref) | (ApiKey.prefix == ref)).limit(2)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return _info(rows[0]) if len(rows) == 1 else None

    def revoke_api_key(self, key_id: str, now: datetime) -> KeyInfo | None:
        """Revoke key `key_id` (kept revoked at the first time); None when there is none."""
        with self.engine.begin() as conn:
            conn.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            row = conn.execute(_INFO.where(ApiKey.id == key_id)).first()
        return _info(row) if row is not None else None

    def rotate_api_key(self, key_id: str, now: datetime) -> tuple[KeyInfo, str] | None:
        """Revoke key `key_id` and make its successor (same account, same admin right) in one
        transaction: (the successor, its key in clear). None when `key_id` is not a live key."""
        with self.engine.begin() as conn:
            old = conn.execute(
                select(ApiKey.account_id, ApiKey.is_admin).where(
                    ApiKey.id == key_id, ApiKey.revoked_at.is_(None)
                )
            ).first()
            if old is None:
                return None
            revoked = conn.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if revoked.rowcount != 1:  # a concurrent revoke or rotation won
                return None
            key = insert_key(conn, old.account_id, bool(old.is_admin), now)
            return key_info(conn, key), key
