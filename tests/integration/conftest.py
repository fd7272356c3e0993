"""Integration fixtures: one test body for SQLite and PostgreSQL (a fixture parameter).

Each test gets a migrated, empty database without running the migrations again (0.1-0.4 s a
test): on SQLite a copy of a file migrated once per session; on PostgreSQL the session's one
migrated database, emptied before each test (every connection to it ended, every table but
`alembic_version` truncated, sequences restarted), which is cheaper than a CREATE DATABASE
(~8 MB written) per test. The migrations themselves still run on both backends in
tests/integration/store/test_engine.py and at every e2e stack's start.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from store import MessageStore, make_engine, upgrade
from tests.servers import Postgres

DATABASE = "switchboard_tests"


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to the newest schema, for each test to copy."""
    path = tmp_path_factory.mktemp("template") / "switchboard.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres: Postgres) -> str:
    """The URL of the session's PostgreSQL database, migrated to the newest schema."""
    url = postgres.create_database(DATABASE)
    upgrade(url)
    return url


def _empty(cluster: Postgres) -> None:
    """End every other session on the test database, then truncate every table but Alembic's."""
    with psycopg.connect(
        f"host=127.0.0.1 port={cluster.port} user=postgres dbname={DATABASE}", autocommit=True
    ) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        tables = [
            row[0]
            for row in admin.execute(
                "SELECT quote_ident(tablename) FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ]
        admin.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "switchboard.db"
        # the backup API copies a consistent image whatever the template's journal holds
        source = sqlite3.connect(request.getfixturevalue("migrated_sqlite"))
        target = sqlite3.connect(path)
        source.backup(target)
        source.close()
        target.close()
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("migrated_postgres")
    _empty(request.getfixturevalue("postgres"))
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[MessageStore]:
    """A MessageStore over the migrated database."""
    engine = make_engine(database_url)
    yield MessageStore(engine)
    engine.dispose()
