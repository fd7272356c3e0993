"""Where a process's time goes: py-spy's raw (collapsed) stacks summed by function.

`py-spy record --format raw` writes one line per distinct stack, `frame;frame;… count`, each
frame `function (path:line)`. Self time is the leaf frame's; inclusive time counts a function
once per stack it is on. Idle threads (waiting in `select`/`epoll`, queue gets) are kept apart so
the shares say where the busy time went.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<name>.*?) \((?P<path>[^():]+)(?::\d+)?\)$")
_IDLE = ("select (selectors.py)", "_worker (concurrent/futures/thread.py)", "wait (threading.py)")


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["path"]
    for marker in ("site-packages/", "lib/python3.11/", "/wt-api/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['name']} ({path})"


@dataclass(frozen=True)
class Profile:
    """Samples by function: self (leaf) and inclusive, with idle samples apart."""

    samples: int
    idle: int
    leaf: Counter[str]
    inclusive: Counter[str]
    stacks: tuple[tuple[tuple[str, ...], int], ...] = ()

    def top(self, n: int = 15) -> list[tuple[str, float, float]]:
        """The `n` functions with most self time: (function, self %, inclusive %) of busy."""
        busy = max(1, self.samples - self.idle)
        return [
            (name, round(100 * count / busy, 1), round(100 * self.inclusive[name] / busy, 1))
            for name, count in self.leaf.most_common(n)
        ]

    def share(self, pattern: str) -> float:
        """Inclusive % of busy samples whose stack has a frame matching `pattern`."""
        busy = max(1, self.samples - self.idle)
        found = re.compile(pattern)
        hits = sum(c for frames, c in self.stacks if any(found.search(f) for f in frames))
        return round(100 * hits / busy, 1)


def read_profile(raw_file: Path) -> Profile:
    """Sum a py-spy raw file."""
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    samples = idle = 0
    stacks: list[tuple[tuple[str, ...], int]] = []
    for line in raw_file.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if "(" in f and not f.startswith("thread")]
        frames = [f for f in frames if not f.startswith("process ")]
        if not frames:
            continue
        samples += count
        if frames[-1] in _IDLE or any(f.startswith(_IDLE) for f in frames[-2:]):
            idle += count
            continue
        leaf[frames[-1]] += count
        stacks.append((tuple(frames), count))
        for name in set(frames):
            inclusive[name] += count
    return Profile(samples, idle, leaf, inclusive, tuple(stacks))
