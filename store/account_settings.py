"""An account's own inbound settings: its `inbound_url` and automatic reply texts.

What the account sets over the API (PUT /v1/account/settings) overrides what the operator's
routes file gives (`[accounts.<name>] inbound_url`, `[replies]` at any level); what it leaves
unset (NULL) falls back to the file. An empty reply text turns that reply off for the account.
`InboundBook.write_inbound` reads them in the transaction that stores the MOs, so a change
applies from the next MO on, on every worker.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, select
from sqlalchemy.dialects import postgresql, sqlite

from store.models import AccountSetting

REPLY_KINDS = ("help", "stop", "start", "auto")  # as inbound.ReplyKind (store imports none)


@dataclass(frozen=True)
class AccountSettings:
    """An account's own settings; None: not set (the routes file's value applies)."""

    inbound_url: str | None = None
    reply_help: str | None = None
    reply_stop: str | None = None
    reply_start: str | None = None
    reply_auto: str | None = None
    updated_at: datetime | None = None

    def reply(self, kind: str) -> str | None:
        """The account's own text for a reply kind (`help`, `stop`, `start`, `auto`)."""
        text: str | None = getattr(self, f"reply_{kind}", None)
        return text


NOT_SET = AccountSettings()
_COLUMNS = ("inbound_url", *(f"reply_{k}" for k in REPLY_KINDS))


def _settings(row: Row[Any]) -> AccountSettings:
    return AccountSettings(
        row.inbound_url,
        row.reply_help,
        row.reply_stop,
        row.reply_start,
        row.reply_auto,
        row.updated_at,
    )


def settings_of(conn: Connection, account_ids: Collection[str]) -> dict[str, AccountSettings]:
    """The settings of those of `account_ids` that set any, in `conn`'s transaction."""
    if not account_ids:
        return {}
    table = AccountSetting.__table__
    rows = conn.execute(select(table).where(table.c.account_id.in_(sorted(account_ids)))).all()
    return {row.account_id: _settings(row) for row in rows}


class AccountSettingsStore:
    """Reads and replaces an account's own settings."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, account_id: str) -> AccountSettings:
        """The account's settings (`NOT_SET` when it never set any)."""
        with self.engine.connect() as conn:
            return settings_of(conn, [account_id]).get(account_id, NOT_SET)

    def put(self, account_id: str, settings: AccountSettings, now: datetime) -> AccountSettings:
        """Replace the account's settings whole (one upsert); what is stored now."""
        values = {name: getattr(settings, name) for name in _COLUMNS}
        row = {"account_id": account_id, "updated_at": now, **values}
        key, changed = [AccountSetting.account_id], {**values, "updated_at": now}
        statement = (
            postgresql.insert(AccountSetting)
            .values(row)
            .on_conflict_do_update(index_elements=key, set_=changed)
            if self.engine.dialect.name == "postgresql"
            else sqlite.insert(AccountSetting)
            .values(row)
            .on_conflict_do_update(index_elements=key, set_=changed)
        )
        with self.engine.begin() as conn:
            conn.execute(statement)
            return settings_of(conn, [account_id])[account_id]
