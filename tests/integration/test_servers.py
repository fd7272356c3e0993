"""The real-server fixtures themselves work."""

from __future__ import annotations

import psycopg
import redis

from tests.servers import Postgres


def test_redis_server_answers_ping(redis_url: str) -> None:
    assert redis.Redis.from_url(redis_url).ping() is True


def test_postgres_cluster_accepts_queries(postgres: Postgres) -> None:
    url = postgres.create_database("fixture_check").replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url) as conn:
        assert conn.execute("select 40 + 2").fetchone() == (42,)
