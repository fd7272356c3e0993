"""the two status indexes hold open messages only (queued, sending, sent) on PostgreSQL

`ix_messages_status_updated` and `ix_messages_status_class_created` serve the queue: the claim's
fill (queued, by class, oldest first), the sweeper (queued due, sending past their lease, open
past validity), the receipt and resend scans (sent) and the backlog counts (queued). None of
them asks for a final or a `scheduled` row, yet both indexes held every message: every final
row stayed in them for good, and every row a campaign loads went into both at once.

Partial, they hold what the queue reads. A campaign's audience load writes three index entries
a recipient instead of five: `bench/campaign_expansion.py --postgres --recipients 1000000`,
two interleaved pairs, 44,796 / 46,793 -> 50,513 / 53,143 recipients/s (PostgreSQL 15.8 / 15.0
-> 13.5 / 12.4 µs a recipient). A message that turns final writes no entry in either (the
update is not HOT: `status` is indexed), and both stay as small as the open backlog.

Every connection plans with its values (`force_custom_plan`, store/engine.py), so a test of a
bound status proves the predicate. SQLite keeps the full indexes: its planner uses a partial
index only where the query repeats the predicate's own terms.

On a large table the CREATE INDEX holds a write lock while it builds; an operator may build
the two partial indexes CONCURRENTLY under other names before upgrading.

Revision ID: 0023
Revises: 0022
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_OPEN = "status IN ('queued', 'sending', 'sent')"
_INDEXES = (
    ("ix_messages_status_updated", ["status", "updated_at"]),
    ("ix_messages_status_class_created", ["status", "message_class", "created_at"]),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, columns in _INDEXES:
        op.drop_index(name, table_name="messages")
        op.create_index(name, "messages", columns, postgresql_where=_OPEN)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, columns in _INDEXES:
        op.drop_index(name, table_name="messages")
        op.create_index(name, "messages", columns)
