"""The audit trail: one JSON line per accepted submit_sm, buffered and flushed by the server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from simulators.limiter import Clock
from simulators.pdu import ShortMessage
from simulators.udh import concatenation


class AuditLog:
    """Appends JSON lines to `path`; :meth:`flush` writes the buffer (the server calls it every
    0.5 s and on stop)."""

    def __init__(self, path: str | Path, wall_clock: Clock) -> None:
        self.path = Path(path)
        self._wall_clock = wall_clock
        self._lines: list[str] = []
        self._file: IO[str] | None = None

    def open(self) -> None:
        """Open (create) the file for appending."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def record(
        self, carrier: str, message: ShortMessage, message_id: str, ago: float = 0.0
    ) -> None:
        """Buffer the line for one accepted submit_sm, which arrived `ago` seconds before."""
        concat = concatenation(message)
        line = {
            "ts": self._wall_clock() - ago,
            "carrier": carrier,
            "message_id": message_id,
            "source": message.source_addr,
            "destination": message.destination_addr,
            "esm_class": message.esm_class,
            "data_coding": message.data_coding,
            "sar": list(concat) if concat is not None else None,
        }
        self._lines.append(json.dumps(line, separators=(",", ":")))

    def flush(self) -> None:
        """Write buffered lines."""
        if self._lines and self._file is not None:
            self._file.write("\n".join(self._lines) + "\n")
            self._file.flush()
        self._lines.clear()

    def close(self) -> None:
        """Flush and close."""
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None
