"""messages by account in (created_at, id) order: the key of GET /v1/messages pages

The list endpoint pages over one account's messages with a keyset cursor on (created_at, id);
this index gives each page an index range scan in that order, with no sort, however many
messages the account (or the table) holds.

Revision 0007 is being written on another branch; this one follows 0006 until the branches
merge and the chain is put in order.

Revision ID: 0008
Revises: 0006
"""

from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_account_created", "messages", ["account_id", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_messages_account_created", table_name="messages")
