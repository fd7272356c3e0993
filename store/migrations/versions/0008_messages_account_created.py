"""messages by account in (created_at, id) order: the key of GET /v1/messages pages

The list endpoint pages over one account's messages with a keyset cursor on (created_at, id);
this index gives each page an index range scan in that order, with no sort, however many
messages the account (or the table) holds.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_account_created", "messages", ["account_id", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_messages_account_created", table_name="messages")
