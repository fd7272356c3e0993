"""parked receipts: receipts acknowledged to the carrier before their attempt row exists

Receipts are written straight to the database by the worker whose bind received them, and only
then answered with `deliver_sm_resp`. A receipt that races ahead of its `submit_sm_resp` (the
attempt row is not committed yet) is kept here, in the same transaction, and applied again
until its part appears or `receipt_park_seconds` pass.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parked_receipts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("carrier_message_ids", sa.Text(), nullable=False),  # space-separated variants
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(16), nullable=False, server_default=""),
        sa.Column("received_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("parked_receipts")
