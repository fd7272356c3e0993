"""A value a background thread keeps fresh, so the send path reads it without I/O."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Refreshing(Generic[T]):
    """`compute()` once on first `get()`, then every `interval` seconds in a daemon thread.

    A failed refresh keeps the last value (and is logged): stale health beats no sending.
    """

    def __init__(self, compute: Callable[[], T], interval: float, name: str) -> None:
        self._compute = compute
        self._interval = interval
        self._name = name
        self._value: T | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refreshes = 0

    def get(self) -> T:
        """The latest value (computed here only the first time)."""
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is None:
                self._value = self._compute()
                self.refreshes += 1
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            return self._value

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._value = self._compute()
                self.refreshes += 1
            except Exception:
                log.exception("%s: refresh failed; keeping the last value", self._name)

    def close(self) -> None:
        """Stop refreshing."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
