"""callback events: a durable outbox of status callbacks; per-message callback options

Every status change of a message with a `callback_url` writes one `callback_events` row in the
transaction of the change itself; the callbacks worker deletes it once POSTed, or sets
`next_attempt_at` for the next try (backoff kept here, released by the beat sweep, not Celery
countdowns). `messages.callback_events` ("all" | "final") and `messages.callback_batch` are the
client's options.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("batch", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("carrier", sa.String(64), nullable=True),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Numeric(12, 6), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("to", sa.String(20), nullable=False),
        sa.Column("message_created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("final_at", sa.DateTime(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_callback_events_message", "callback_events", ["message_id"])
    op.create_index("ix_callback_events_next_attempt", "callback_events", ["next_attempt_at"])
    op.add_column(
        "messages",
        sa.Column("callback_events", sa.String(8), nullable=False, server_default="all"),
    )
    op.add_column(
        "messages",
        sa.Column("callback_batch", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("callback_batch")
        batch.drop_column("callback_events")
    op.drop_index("ix_callback_events_next_attempt", "callback_events")
    op.drop_index("ix_callback_events_message", "callback_events")
    op.drop_table("callback_events")
