"""`RoutesWatcher`: the routes file of a process, swapped in when its mtime changes.

Every API and worker process holds one; `current()` stats the file at most once per
`check_every` seconds (clock injected), validates a changed file, and keeps the running table
if it is invalid (logged with every located problem). `switchboard routes reload` validates the
file and bumps its mtime, so every process picks it up within a second.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from routing.reload import Reload, TableHolder
from routing.table import RoutingTable

log = logging.getLogger(__name__)


class RoutesWatcher:
    """A TableHolder fed from a file by mtime polling."""

    def __init__(self, path: Path, clock: Callable[[], float], check_every: float = 1.0) -> None:
        self.path = path
        self.clock = clock
        self.check_every = check_every
        self.holder = TableHolder.from_file(path)
        self._mtime = os.stat(path).st_mtime_ns
        self._checked = clock()

    def current(self) -> RoutingTable:
        """The table in force, after swapping in a changed valid file."""
        now = self.clock()
        if now - self._checked >= self.check_every:
            self._checked = now
            self.poll()
        return self.holder.current

    def poll(self) -> Reload | None:
        """Reload now if the file changed; None when it did not."""
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            return None
        if mtime == self._mtime:
            return None
        self._mtime = mtime
        result = self.holder.reload_file(self.path)
        if result.swapped:
            log.info("routes reloaded from %s", self.path)
        else:
            log.error(
                "routes file %s refused, the running table stays:\n%s",
                self.path,
                "\n".join(str(p) for p in result.problems),
            )
        return result
