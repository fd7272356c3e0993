"""Integration fixtures: one test body for SQLite and PostgreSQL (a fixture parameter)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import MessageStore, make_engine, upgrade
from tests.servers import Postgres

_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'switchboard.db'}"
    else:
        cluster: Postgres = request.getfixturevalue("postgres")
        url = cluster.create_database(f"db_{next(_databases)}")
    upgrade(url)
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[MessageStore]:
    """A MessageStore over the migrated database."""
    engine = make_engine(database_url)
    yield MessageStore(engine)
    engine.dispose()
