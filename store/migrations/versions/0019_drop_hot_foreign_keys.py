"""drop the foreign keys of the two hottest inserts on PostgreSQL: messages.account_id,
parts.message_id

Every message insert checked `messages.account_id` against `accounts` (an index probe and a
row lock per row: ~3 µs of PostgreSQL's CPU per message in single sends, ~7.5 of the ~21 µs
per recipient of a campaign's expansion), and every part checked `parts.message_id` against
`messages`, which `parts.attempt_id → attempts.message_id → messages` already implies.
Accounts are never deleted and every writer takes the account id from an authenticated key or
a stored campaign, so the first key guarded nothing a writer could get wrong. The columns and
their indexes stay; `attempts.message_id` and `parts.attempt_id` keep theirs.

SQLite keeps both: dropping one there means copying the table, and `messages` cannot be
copied while `PRAGMA foreign_keys` is on (its children's keys refuse the DROP), which a
migration's transaction cannot turn off. Its checks are in-process and cheap.

Revision ID: 0019
Revises: 0017
"""

from store.migrations.foreign_keys import drop_on_postgresql, restore_on_postgresql

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None

_KEYS = (
    ("messages", "account_id", "accounts", "id"),
    ("parts", "message_id", "messages", "id"),
)


def upgrade() -> None:
    drop_on_postgresql(_KEYS)


def downgrade() -> None:
    restore_on_postgresql(_KEYS)
