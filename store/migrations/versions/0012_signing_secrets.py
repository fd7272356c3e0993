"""signing_secrets: each account's callback signing secret, and the previous one in its grace

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_secrets",
        sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("previous", sa.String(64), nullable=True),
        sa.Column("previous_until", sa.DateTime(), nullable=True),
        sa.Column("rotated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("signing_secrets")
