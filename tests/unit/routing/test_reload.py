"""TableHolder: a valid file is swapped in whole; an invalid one is refused and the old kept."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import pytest

from messaging import ConfigError, MessageClass
from routing import RoutingTable, TableHolder
from tests.unit.routing.conftest import CARRIERS, DEFAULT_ROUTE, PRICES

GOOD = CARRIERS + PRICES + DEFAULT_ROUTE


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    """A valid routes file."""
    path = tmp_path / "routes.toml"
    path.write_text(GOOD, encoding="utf-8")
    return path


def test_valid_new_file_is_swapped_in(routes_file: Path) -> None:
    holder = TableHolder.from_file(routes_file)
    before = holder.current
    routes_file.write_text(GOOD.replace('"+44" = 0.030', '"+44" = 0.050'), encoding="utf-8")
    result = holder.reload_file(routes_file)
    assert result.swapped
    assert result.problems == ()
    assert holder.current is result.table
    assert holder.current is not before
    price = holder.current.price("alpha", "+4420")
    assert price is not None
    assert str(price.per_segment) == "0.05"
    assert (holder.reloads, holder.refused) == (1, 0)


def test_invalid_file_is_refused_and_old_table_kept(routes_file: Path) -> None:
    holder = TableHolder.from_file(routes_file, display_path="config/routes.toml")
    before = holder.current
    routes_file.write_text(GOOD.replace("mps = 500", "mps = 0", 1), encoding="utf-8")
    result = holder.reload_file(routes_file, display_path="config/routes.toml")
    assert not result.swapped
    assert result.table is before
    assert holder.current is before
    assert [str(p) for p in result.problems] == [
        "config/routes.toml:6: carriers.alpha.mps: must be > 0"
    ]
    assert (holder.reloads, holder.refused) == (0, 1)


def test_unreadable_file_is_refused(routes_file: Path, tmp_path: Path) -> None:
    holder = TableHolder.from_file(routes_file)
    result = holder.reload_file(tmp_path / "missing.toml")
    assert not result.swapped
    assert holder.current is result.table
    assert "cannot read" in str(result.problems[0])


def test_invalid_first_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text("carriers = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        TableHolder.from_file(path)


def test_readers_always_see_a_whole_table_during_reloads(routes_file: Path) -> None:
    # Two tables that disagree on both price and route name; a reader must never mix them.
    holder = TableHolder.from_file(routes_file)
    tables = [holder.current]
    routes_file.write_text(
        GOOD.replace('"+44" = 0.030', '"+44" = 0.050').replace('"default"', '"other"'),
        encoding="utf-8",
    )
    holder.reload_file(routes_file)
    tables.append(holder.current)
    pairs = {
        (t.routes[0].name, t.price("alpha", "+4420").per_segment)  # type: ignore[union-attr]
        for t in tables
    }
    seen: set[tuple[str, object]] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            table = holder.current
            route = table.match("+4420", MessageClass.MARKETING)
            price = table.price("alpha", "+4420")
            assert route is not None
            assert price is not None
            seen.add((route.name, price.per_segment))

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(200):
        holder.reload(functools.partial(tables.__getitem__, i % 2))
    stop.set()
    reader.join()
    assert seen <= pairs
    assert holder.reloads == 201


def test_reload_takes_any_loader(routes_file: Path) -> None:
    holder = TableHolder.from_file(routes_file)
    other: RoutingTable = TableHolder.from_file(routes_file).current
    assert holder.reload(lambda: other).table is other
