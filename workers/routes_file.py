"""The routing table of this process, reloaded when its file changes (an invalid file is refused)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from messaging import ConfigError
from routing import RoutingTable, load_routes

log = logging.getLogger(__name__)


class RoutesFile:
    """Holds the current table; `current()` checks the file's mtime at most once a second."""

    def __init__(self, path: Path, check_every: float = 1.0) -> None:
        self.path = path
        self.check_every = check_every
        self._table = load_routes(path)
        self._mtime = path.stat().st_mtime_ns
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self.reloads = 0
        self.refused = 0

    def current(self) -> RoutingTable:
        """The table in force, swapping in a changed file if it is valid."""
        now = time.monotonic()
        if now - self._checked >= self.check_every:
            with self._lock:
                self._checked = now
                self._maybe_reload()
        return self._table

    def _maybe_reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            self._table = load_routes(self.path)
        except ConfigError as exc:
            self.refused += 1
            log.error("routes file refused, keeping the running table:\n%s", exc)
            return
        self.reloads += 1
        log.info("routes reloaded from %s", self.path)
