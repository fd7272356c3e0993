"""Helpers for routing tests: write a routes file and load it as `config/routes.toml`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from messaging import ConfigError
from routing import RoutingTable, load_routes

CARRIERS = """\
[carriers.alpha]
host = "127.0.0.1"
port = 2775
system_id = "alpha"
password = "alphapw"
mps = 500

[carriers.beta]
host = "127.0.0.1"
port = 2776
system_id = "beta"
password = "betapw"
mps = 500
"""

PRICES = """
[prices.alpha]
"+44" = 0.030
"+447" = 0.028
"+33" = 0.060

[prices.beta]
"+44" = 0.034
"+33" = 0.045
"""

DEFAULT_ROUTE = """
[[routes]]
name = "default"
strategy = "least_cost"
carriers = ["alpha", "beta"]
"""

Load = Callable[[str], RoutingTable]
Problems = Callable[[str], list[str]]


@pytest.fixture
def load(tmp_path: Path) -> Load:
    """Write `text` as a routes file and load it, shown as config/routes.toml."""

    def _load(text: str) -> RoutingTable:
        path = tmp_path / "routes.toml"
        path.write_text(text, encoding="utf-8")
        return load_routes(path, display_path="config/routes.toml")

    return _load


@pytest.fixture
def problems(load: Load) -> Problems:
    """Every problem `text` has, as the lines an operator reads."""

    def _problems(text: str) -> list[str]:
        with pytest.raises(ConfigError) as caught:
            load(text)
        return [str(p) for p in caught.value.problems]

    return _problems


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based number of the `occurrence`-th line of `text` containing `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[occurrence - 1]
