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

Built CONCURRENTLY under a temporary name, then swapped in (outside the migration's
transaction): writers are never blocked while a large `messages` is read for the new index. An
interrupted run leaves at most an unused `…_new` index, which the next run rebuilds.

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


def _swap(where: str) -> None:
    """Each status index rebuilt (CONCURRENTLY) with `where` as its predicate ("" for none)."""
    with op.get_context().autocommit_block():
        for name, columns in _INDEXES:
            building = f"{name}_new"
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {building}")
            op.execute(
                f"CREATE INDEX CONCURRENTLY {building} ON messages ({', '.join(columns)}) {where}"
            )
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.execute(f"ALTER INDEX {building} RENAME TO {name}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _swap(f"WHERE {_OPEN}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _swap("")
