"""Dropping and restoring foreign keys on PostgreSQL only, for the migrations that take hot
insert paths off their per-row key checks (0019, 0022)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# (table, column, referenced table, referenced column)
ForeignKey = tuple[str, str, str, str]


def _name(table: str, column: str) -> str | None:
    for key in sa.inspect(op.get_bind()).get_foreign_keys(table):
        if key["constrained_columns"] == [column]:
            return str(key["name"])
    return None


def drop_on_postgresql(keys: Sequence[ForeignKey]) -> None:
    """Drop each key that exists; SQLite keeps them (see the migrations)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, _, _ in keys:
        name = _name(table, column)
        if name is not None:
            op.drop_constraint(name, table, type_="foreignkey")


def restore_on_postgresql(keys: Sequence[ForeignKey]) -> None:
    """Create each key again, under PostgreSQL's default name."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, target, target_column in keys:
        op.create_foreign_key(f"{table}_{column}_fkey", table, target, [column], [target_column])
