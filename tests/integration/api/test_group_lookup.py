"""GroupLookup's linger: lookups arriving apart share one query only when it is asked to wait."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from api.reader import GroupLookup


def _grouping(linger: float) -> list[list[str]]:
    """The key groups one lookup_many call each got, for two lookups 50 ms apart."""
    calls: list[list[str]] = []

    def many(keys: Sequence[str]) -> list[str]:
        calls.append(list(keys))
        return [k.upper() for k in keys]

    # a linger far past the gap; a group of two is enough to stop it
    group = GroupLookup(many, linger=linger, linger_keys=2)

    async def main() -> list[str]:
        first = asyncio.ensure_future(group.lookup("a"))
        await asyncio.sleep(0.05)
        return list(await asyncio.gather(first, group.lookup("b")))

    try:
        assert asyncio.run(main()) == ["A", "B"]
    finally:
        group.close()
    return calls


def test_a_lone_lookup_lingers_for_the_next_and_both_share_one_query() -> None:
    assert _grouping(linger=5.0) == [["a", "b"]]


def test_without_a_linger_each_lookup_is_a_query_of_its_own() -> None:
    assert _grouping(linger=0.0) == [["a"], ["b"]]
