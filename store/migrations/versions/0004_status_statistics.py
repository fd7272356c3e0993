"""plan queue queries without statistics on messages.status

`status` is a queue state: a backlog of 100,000 `queued` rows appears in seconds, far faster
than autovacuum re-analyzes the table. Planned with a histogram from before the backlog,
PostgreSQL took `status = 'queued'` for a handful of rows and scanned every queued row (through
ix_messages_status_updated) to claim one OTP by primary key: 20-50 ms instead of 0.5 ms.
Without statistics on the column the planner assumes an equality is selective, so it keeps the
primary key and ix_messages_status_class_created however the backlog moves.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite plans these with its indexes alone
    op.execute("ALTER TABLE messages ALTER COLUMN status SET STATISTICS 0")
    # ANALYZE keeps the statistics it gathered before; only a superuser may drop them. Without
    # that right, a DBA runs this DELETE once (new databases have none to drop).
    if bind.exec_driver_sql("select current_setting('is_superuser')").scalar() == "on":
        op.execute(
            "DELETE FROM pg_statistic WHERE starelid = 'messages'::regclass AND staattnum = "
            "(SELECT attnum FROM pg_attribute "
            "WHERE attrelid = 'messages'::regclass AND attname = 'status')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE messages ALTER COLUMN status SET STATISTICS -1")
