"""Test twins shared across test folders."""

from __future__ import annotations


class FakeClock:
    """Seconds that move only when told (for code that takes a clock callable)."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass."""
        self.now += seconds
