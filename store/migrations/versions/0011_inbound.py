"""inbound: mobile-originated messages, parts of concatenated ones, per-account opt-outs

`inbound_messages` holds every MO once whole (carrier, from, to, text, received_at, the owning
account when the routes file's `[numbers]` names one); `inbound_parts` holds parts of a
concatenated MO until all are here; `opt_outs` is (account, number) — a STOP adds, START removes.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id"), nullable=True),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("destination", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("keyword", sa.String(16), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
    )
    op.create_index(
        "ix_inbound_account_received", "inbound_messages", ["account_id", "received_at", "id"]
    )
    op.create_table(
        "inbound_parts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("destination", sa.String(32), nullable=False),
        sa.Column("reference", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint(
            "source", "destination", "reference", "total", "number", name="uq_inbound_part"
        ),
    )
    op.create_table(
        "opt_outs",
        sa.Column(
            "account_id", sa.String(32), sa.ForeignKey("accounts.id"), primary_key=True
        ),
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("opt_outs")
    op.drop_table("inbound_parts")
    op.drop_index("ix_inbound_account_received", table_name="inbound_messages")
    op.drop_table("inbound_messages")
