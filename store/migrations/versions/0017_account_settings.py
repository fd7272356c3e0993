"""account settings: an account's own inbound_url and automatic reply texts

`account_settings`: one row per account that set any (PUT /v1/account/settings). A NULL column
is "not set": the routes file's value (`[accounts.<name>] inbound_url`, `[replies]`) applies.
An empty reply text turns that reply off for the account.

Revision ID: 0017
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_settings",
        sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("inbound_url", sa.Text(), nullable=True),
        sa.Column("reply_help", sa.Text(), nullable=True),
        sa.Column("reply_stop", sa.Text(), nullable=True),
        sa.Column("reply_start", sa.Text(), nullable=True),
        sa.Column("reply_auto", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
    )


def downgrade() -> None:
    op.drop_table("account_settings")
