"""drop the foreign keys of the send path's other two inserts on PostgreSQL:
attempts.message_id, parts.attempt_id

Each is checked row by row: PostgreSQL's key trigger runs `SELECT 1 … FOR KEY SHARE` on the
parent for every inserted child, a query per row and a row lock written (and logged) on the
parent. `bench/batch_statements.py` (60-row batches, PostgreSQL's CPU per row), the keys
dropped by hand, two rounds each: `insert_attempts` 44.4 / 33.3 → 11.1 / 16.7 µs, `insert_parts`
27.8 / 16.7 → 5.6 / 5.6 µs, the `sent` callback events after them 61.1 / 66.7 → 50.0 / 44.4 µs;
with this migration, three rounds interleaved with its parent on a loaded machine:
`insert_attempts` 35.4 / 25.0 / 35.4 → 10.4 / 12.5 / 18.8 µs.

What the keys guarded, the writers guarantee: an attempt is written only by the batch that
holds its message's claim (the claim locked and returned the row, and rows past their draft are
never deleted: the one `DELETE FROM messages` replaces a draft campaign's audience, which has no
attempt), and a part only in the transaction that inserted its attempt, with the id that insert
returned. Both columns keep their indexes. SQLite keeps the keys, as it kept those of 0019 (a
table copy there is refused while `PRAGMA foreign_keys` is on); its checks are in-process.

Revision ID: 0022
Revises: 0019
"""

from store.migrations.foreign_keys import drop_on_postgresql, restore_on_postgresql

revision = "0022"
down_revision = "0019"
branch_labels = None
depends_on = None

_KEYS = (
    ("attempts", "message_id", "messages", "id"),
    ("parts", "attempt_id", "attempts", "id"),
)


def upgrade() -> None:
    drop_on_postgresql(_KEYS)


def downgrade() -> None:
    restore_on_postgresql(_KEYS)
