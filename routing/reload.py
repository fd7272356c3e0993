"""`TableHolder`: the routing table in force, swapped whole for a new one only if it is valid.

Readers call `holder.current` and get one complete table: the swap is a single attribute
assignment, so no reader ever sees half of an old table and half of a new one. The holder
does no I/O itself; when to reload (a file's mtime, a signal, an admin call) is the caller's
business, e.g. `holder.reload(lambda: load_routes(path))`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from messaging import ConfigError, ConfigProblem
from routing.loader import load_routes
from routing.table import RoutingTable


@dataclass(frozen=True, slots=True)
class Reload:
    """What a reload attempt did: swapped in a new table, or kept the old one and why."""

    swapped: bool
    table: RoutingTable  # the table in force after the attempt
    problems: tuple[ConfigProblem, ...] = ()


class TableHolder:
    """Holds the routing table in force; a refused reload keeps the previous table."""

    def __init__(self, table: RoutingTable) -> None:
        self._table = table
        self._lock = threading.Lock()  # serialises reloads, never readers
        self.reloads = 0
        self.refused = 0

    @classmethod
    def from_file(cls, path: str | Path, display_path: str | None = None) -> TableHolder:
        """Load the first table; an invalid file is fatal here (there is nothing to keep).

        Raises:
            ConfigError: every problem of the file.
        """
        return cls(load_routes(path, display_path))

    @property
    def current(self) -> RoutingTable:
        """The table in force."""
        return self._table

    def reload(self, load: Callable[[], RoutingTable]) -> Reload:
        """Build a new table with `load`; swap it in if it loads, keep the old one if not."""
        with self._lock:
            try:
                table = load()
            except ConfigError as exc:
                self.refused += 1
                return Reload(False, self._table, exc.problems)
            self._table = table
            self.reloads += 1
            return Reload(True, table)

    def reload_file(self, path: str | Path, display_path: str | None = None) -> Reload:
        """`reload` from a routing file."""
        return self.reload(lambda: load_routes(path, display_path))
