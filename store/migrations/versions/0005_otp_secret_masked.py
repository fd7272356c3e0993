"""mask OTP codes in message bodies once they can no longer be used

An OTP's SMS row holds its code in clear (the text that was sent). The code itself is stored
only as a keyed hash; the row's copy is masked once the code is spent: approved (as before),
canceled, expired, or replaced by a resend. `secret_masked` marks rows done; the partial index
keeps the sweeper's search to the rows that may still hold a code.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UNMASKED_OTP = "message_class = 'otp' AND NOT secret_masked"


def upgrade() -> None:
    op.add_column(
        "messages",
        sa.Column("secret_masked", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index(
        "ix_messages_otp_unmasked",
        "messages",
        ["created_at"],
        postgresql_where=sa.text(UNMASKED_OTP),
        sqlite_where=sa.text(UNMASKED_OTP),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_otp_unmasked", table_name="messages")
    op.drop_column("messages", "secret_masked")
