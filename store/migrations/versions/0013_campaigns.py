"""campaigns: campaigns, their skipped audience rows, and campaign columns on messages

A campaign's messages are rows of `messages` from the audience upload on, `scheduled` until
the release makes them `queued`; `campaign_id`, `campaign_line` (the CSV line) and
`release_zone` (the recipient's time zones, for quiet hours) say which campaign, which row and
when. `campaign_skips` keeps each audience row that was not scheduled, with its line and why.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sender", sa.String(20), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("message_class", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("start_at", sa.DateTime(), nullable=False),
        sa.Column("max_rate", sa.Float(), nullable=True),
        sa.Column("send_window", sa.String(11), nullable=True),
        sa.Column("validity_seconds", sa.Integer(), nullable=False),
        sa.Column("zones", sa.Text(), nullable=False, server_default=""),
        sa.Column("recipients", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("duplicates", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("skipped", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("opted_out", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("released", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_release_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_campaigns_account_created", "campaigns", ["account_id", "created_at"])
    op.create_index("ix_campaigns_state", "campaigns", ["state"])
    op.create_table(
        "campaign_skips",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.String(32), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("detail", sa.String(200), nullable=False),
    )
    op.create_index("ix_campaign_skips_campaign_line", "campaign_skips", ["campaign_id", "line"])
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("campaign_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("campaign_line", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("release_zone", sa.Text(), nullable=True))
    op.create_index(
        "ix_messages_campaign_status_zone",
        "messages",
        ["campaign_id", "status", "release_zone"],
        postgresql_where=sa.text("campaign_id IS NOT NULL"),
        sqlite_where=sa.text("campaign_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_campaign_status_zone", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("release_zone")
        batch.drop_column("campaign_line")
        batch.drop_column("campaign_id")
    op.drop_index("ix_campaign_skips_campaign_line", table_name="campaign_skips")
    op.drop_table("campaign_skips")
    op.drop_index("ix_campaigns_state", table_name="campaigns")
    op.drop_index("ix_campaigns_account_created", table_name="campaigns")
    op.drop_table("campaigns")
