"""A Redis client per process: made on first use, made again after a fork (sockets never cross
a fork, and Celery's pool children are forks of the process that built its objects)."""

from __future__ import annotations

import os
import threading

import redis


class ProcessRedis:
    """`get()` is this process's client for `url`."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._made: tuple[int, redis.Redis] | None = None
        self._lock = threading.Lock()

    def get(self) -> redis.Redis:
        """This process's client (a fork gets its own)."""
        with self._lock:
            if self._made is None or self._made[0] != os.getpid():
                self._made = (os.getpid(), redis.Redis.from_url(self._url))
            return self._made[1]
