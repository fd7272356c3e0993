"""receipt_stat: the carrier's own `stat:` word when it is none we know

A receipt whose `stat:` is not an Appendix B value (nor a spelling we map) settles its part as
`undelivered`; the word itself is kept on the part, on the settled attempt (shown in
`GET /v1/messages/{id}`), and on a parked receipt until it matches.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("parts", sa.Column("receipt_stat", sa.String(32), nullable=True))
    op.add_column("attempts", sa.Column("receipt_stat", sa.String(32), nullable=True))
    op.add_column(
        "parked_receipts",
        sa.Column("raw_stat", sa.String(32), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_column("parked_receipts", "raw_stat")
    op.drop_column("attempts", "receipt_stat")
    op.drop_column("parts", "receipt_stat")
