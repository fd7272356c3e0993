"""Engine construction: the same code on SQLite (WAL, busy timeout) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import logging
import os
from typing import Any

from sqlalchemy import Engine, create_engine, event

log = logging.getLogger(__name__)
LOCAL_HOSTS = frozenset({"", "127.0.0.1", "::1", "localhost"})
_CUSTOM_PLANS = "-c plan_cache_mode=force_custom_plan"


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """An engine tuned for its backend; SQLite gets WAL so readers never block the writer."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, open transactions (see _begin_immediate).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # Several processes write: take the write lock up front so busy_timeout applies,
            # instead of a deferred transaction failing on lock upgrade (SQLite "BEGIN").
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # No pool_pre_ping: it costs a round trip per transaction (one an OTP would wait for). A
    # connection the server dropped fails the one call that finds it and renews the pool.
    # force_custom_plan: psycopg prepares a statement after five runs, and PostgreSQL may then
    # keep one generic plan made while a table was nearly empty: a batch write planned as a
    # sequential scan when `messages` held 50 rows still scanned it at 20,000 (19 ms a call).
    # Planned each time, a statement sees the table as it is now.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # libpq lets `options` replace PGOPTIONS: keep the operator's settings too.
        connect_args={"options": f"{os.environ.get('PGOPTIONS', '')} {_CUSTOM_PLANS}".strip()},
    )


def share_niceness(engine: Engine) -> None:
    """Give each PostgreSQL backend this engine opens this process's CPU niceness, when the
    server runs on this host and we may (root, or the server's user).

    A bulk worker at nice 5 otherwise makes the database work for it at nice 0, where it
    competes on equal terms with the queries an OTP is waiting for. Other databases and remote
    servers are left alone.
    """
    if engine.dialect.name != "postgresql" or (engine.url.host or "") not in LOCAL_HOSTS:
        return
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness <= 0:
        return

    @event.listens_for(engine, "connect")
    def _renice_backend(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("select pg_backend_pid()")
            backend = int(cursor.fetchone()[0])
        dbapi_connection.commit()
        try:
            os.setpriority(os.PRIO_PROCESS, backend, niceness)
        except OSError as exc:  # not permitted (another user), or the backend already gone
            log.info("database backend %d keeps its priority: %s", backend, exc)
