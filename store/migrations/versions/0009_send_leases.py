"""send leases: a claimed batch's rows carry a lease their live worker renews

`lease_owner` (one token per claimed batch) and `lease_until` are written by the claim and
renewed every ~1.7 s while the batch is in flight; the sweeper re-queues `sending` rows whose
lease is dead within seconds (before: no update for `stuck_sending_after`, 60 s). A row taken
back that way is `recovered` until its next outcome is written, and the first attempt of that
re-send is marked `resubmitted_after_crash` (the carrier may have the first submit too).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("lease_owner", sa.String(64), nullable=True))
    op.add_column("messages", sa.Column("lease_until", sa.DateTime(), nullable=True))
    op.add_column(
        "messages",
        sa.Column("recovered", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "attempts",
        sa.Column(
            "resubmitted_after_crash", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("attempts") as attempts:
        attempts.drop_column("resubmitted_after_crash")
    with op.batch_alter_table("messages") as messages:
        messages.drop_column("recovered")
        messages.drop_column("lease_until")
        messages.drop_column("lease_owner")
