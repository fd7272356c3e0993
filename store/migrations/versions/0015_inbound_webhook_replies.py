"""inbound webhook and replies: a callback event may carry its own body; reply throttle

`callback_events.body`: an event whose body is written with it (an MO for the account's
`inbound_url`) is POSTed as is; status events keep NULL and are rendered from their columns.
`inbound_replies`: when each kind of automatic reply (help, stop, start, auto) last went from
one of our numbers to one subscriber, so at most one goes per configured interval.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("callback_events", sa.Column("body", sa.LargeBinary(), nullable=True))
    op.create_table(
        "inbound_replies",
        sa.Column("destination", sa.String(32), nullable=False),
        sa.Column("subscriber", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("replied_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("destination", "subscriber", "kind"),
    )


def downgrade() -> None:
    op.drop_table("inbound_replies")
    op.drop_column("callback_events", "body")
