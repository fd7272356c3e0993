"""Concatenated SMS reassembly (pure, 3GPP TS 23.040 §9.2.3.24.1/.8).

Parts of one long message share (sender, recipient, reference, total) and are numbered
1..total; they may arrive out of order, twice (a carrier resends what it thinks unanswered),
or over different binds. Whoever holds all of them joins them by number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ConcatRef:
    """Where one part sits in its message: the reference, the count of parts, its number."""

    reference: int
    total: int
    number: int


def reassemble(parts: Iterable[tuple[int, str]], total: int) -> str | None:
    """The whole text once every part 1..total is present (duplicates ignored), else None."""
    by_number: dict[int, str] = {}
    for number, text in parts:
        by_number.setdefault(number, text)
    if total < 1 or set(by_number) != set(range(1, total + 1)):
        return None
    return "".join(by_number[n] for n in range(1, total + 1))
