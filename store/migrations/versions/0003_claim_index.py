"""index for claiming the oldest queued messages of a class

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_status_class_created", "messages", ["status", "message_class", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_messages_status_class_created", table_name="messages")
