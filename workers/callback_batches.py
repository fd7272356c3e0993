"""Batching of callback events per destination URL: up to `max_events`, or `max_wait` seconds
from the first event of a batch, whichever comes first (as Infobip posts `results` arrays).

Pure: time is passed in, nothing here does I/O; the dispatcher owns the timer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Open(Generic[T]):
    opened_at: float
    items: list[T] = field(default_factory=list)


class BatchWindow(Generic[T]):
    """Open batches by URL; `add` returns batches that filled, `take_due` those that waited."""

    def __init__(self, max_events: int = 100, max_wait: float = 0.1) -> None:
        if max_events < 1 or max_wait < 0:
            raise ValueError("max_events must be >= 1 and max_wait >= 0")
        self.max_events = max_events
        self.max_wait = max_wait
        self._open: dict[str, _Open[T]] = {}

    def add(self, url: str, item: T, now: float) -> list[T] | None:
        """Put `item` in the open batch of `url`; the batch if that filled it, else None."""
        batch = self._open.get(url)
        if batch is None:
            batch = self._open[url] = _Open(now)
        batch.items.append(item)
        if len(batch.items) < self.max_events:
            return None
        del self._open[url]
        return batch.items

    def take_due(self, now: float) -> list[tuple[str, list[T]]]:
        """The batches open for `max_wait` or longer, closed and in the order they opened."""
        due = [url for url, b in self._open.items() if now - b.opened_at >= self.max_wait]
        return [(url, self._open.pop(url).items) for url in due]

    def take_all(self) -> list[tuple[str, list[T]]]:
        """Every open batch, closed (at shutdown)."""
        batches = [(url, b.items) for url, b in self._open.items()]
        self._open.clear()
        return batches

    def next_due(self) -> float | None:
        """When the oldest open batch is due, or None when none is open."""
        if not self._open:
            return None
        return min(b.opened_at for b in self._open.values()) + self.max_wait
