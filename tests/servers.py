"""Real servers for integration and e2e tests: redis-server and a throwaway PostgreSQL 15."""

from __future__ import annotations

from switchboard.embedded import EmbeddedRedis, Postgres, start_postgres, start_redis

__all__ = ["EmbeddedRedis", "Postgres", "start_postgres", "start_redis"]
