"""GroupLookup: lookups arriving apart share one query only when it is asked to wait (linger);
with two readers, one slow query does not hold up the next group."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

import pytest

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


def _held_at_slow(release: threading.Event) -> Callable[[Sequence[str]], list[str]]:
    """A lookup_many whose query for a group holding "slow" lasts until `release` is set."""

    def many(keys: Sequence[str]) -> list[str]:
        if "slow" in keys:
            assert release.wait(5.0), "never released"
        return [k.upper() for k in keys]

    return many


def test_with_two_readers_a_lookup_is_answered_while_the_other_query_is_still_out() -> None:
    release = threading.Event()
    group = GroupLookup(_held_at_slow(release), threads=2)

    async def main() -> tuple[str, bool]:
        slow = asyncio.ensure_future(group.lookup("slow"))
        await asyncio.sleep(0.05)  # the first reader is inside the slow query
        fast = await asyncio.wait_for(group.lookup("fast"), 2.0)
        pending = not slow.done()
        release.set()
        await slow
        return fast, pending

    try:
        assert asyncio.run(main()) == ("FAST", True)
        assert (group.queries, group.reads) == (2, 2)
    finally:
        release.set()
        group.close()
    assert not any(t.is_alive() for t in threading.enumerate() if t.name.startswith("group-lookup"))


def test_with_one_reader_a_lookup_waits_for_the_query_before_it() -> None:
    release = threading.Event()
    group = GroupLookup(_held_at_slow(release), threads=1)

    async def main() -> bool:
        slow = asyncio.ensure_future(group.lookup("slow"))
        await asyncio.sleep(0.05)
        fast = asyncio.ensure_future(group.lookup("fast"))
        await asyncio.sleep(0.2)
        waited = not fast.done()
        release.set()
        await asyncio.gather(slow, fast)
        return waited

    try:
        assert asyncio.run(main()) is True
    finally:
        release.set()
        group.close()


def test_no_readers_is_refused() -> None:
    with pytest.raises(ValueError, match="threads must be at least 1"):
        GroupLookup(lambda keys: list(keys), threads=0)
