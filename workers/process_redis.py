"""Objects made once per process: on first use, and again after a fork (sockets and threads
never cross a fork, and Celery's pool children are forks of the process that built its
objects)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import redis

T = TypeVar("T")


class PerProcess(Generic[T]):
    """`get()` is this process's object, made by `make` (a fork gets its own)."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._made: tuple[int, T] | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        """This process's object."""
        with self._lock:
            if self._made is None or self._made[0] != os.getpid():
                self._made = (os.getpid(), self._make())
            return self._made[1]


class ProcessRedis(PerProcess[redis.Redis]):
    """`get()` is this process's client for `url`."""

    def __init__(self, url: str) -> None:
        super().__init__(lambda: redis.Redis.from_url(url))
