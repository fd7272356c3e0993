"""Carrier message ids in the formats real SMSCs use (pure, seeded)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Final

# Renders the n-th id; every format fits SMPP 3.4 §4.4.2's C-Octet String(65).
ID_FORMATS: Final[Mapping[str, Callable[[int], str]]] = {
    "hex": lambda n: f"{n:x}",
    "hex_upper": lambda n: f"{n:X}",
    "hex_padded": lambda n: f"{n:016x}",
    "decimal": str,
    "decimal_padded": lambda n: f"{n:020d}",
}
ID_BASES: Final[Mapping[str, int]] = {
    "hex": 16,
    "hex_upper": 16,
    "hex_padded": 16,
    "decimal": 10,
    "decimal_padded": 10,
}


def convert_id(message_id: str, source: str, target: str) -> str:
    """The same id rendered in another format (some SMSCs answer hex and receipt decimal)."""
    return ID_FORMATS[target](int(message_id, ID_BASES[source]))


class MessageIds:
    """Unique ids for one carrier: a seeded random base plus a counter, rendered by `fmt`."""

    __slots__ = ("_next", "_render")

    def __init__(self, fmt: str, rng: random.Random) -> None:
        self._render = ID_FORMATS[fmt]
        # 2**40 .. 2**48: ids look like a real SMSC's and never collide within a run.
        self._next = rng.randrange(1 << 40, 1 << 48)

    def next(self) -> str:
        """A fresh id."""
        value = self._next
        self._next = value + 1
        return self._render(value)
