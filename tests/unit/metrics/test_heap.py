"""metrics.heap.settle_heap: start-up's objects frozen, young collections spaced out."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from metrics.heap import DEFAULT_YOUNG, settle_heap
from switchboard.settings import Settings


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settle_freezes_what_is_alive_and_spaces_young_collections() -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    kept = [[i] for i in range(1000)]  # tracked objects alive at "start-up"

    settled = settle_heap(5000)

    assert settled is not None
    assert settled.thresholds == (5000, 10, 10), settled
    assert gc.get_threshold() == (5000, 10, 10)
    assert settled.frozen >= len(kept), settled
    walked = {id(o) for generation in range(3) for o in gc.get_objects(generation=generation)}
    assert not any(id(x) in walked for x in kept)  # in no generation a collection walks


def test_a_cycle_made_after_the_freeze_is_still_collected() -> None:
    settle_heap(5000)

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: refcounting alone never frees it
    del a, b
    assert gc.collect() >= 2


def test_zero_leaves_cpython_defaults_and_freezes_nothing() -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)

    assert settle_heap(0) is None

    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_a_negative_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="young must be 0"):
        settle_heap(-1)


def test_the_setting_defaults_to_the_tuned_value_and_refuses_negatives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().gc_young_threshold == DEFAULT_YOUNG
    monkeypatch.setenv("SWITCHBOARD_GC_YOUNG_THRESHOLD", "-5")
    with pytest.raises(ValueError, match="gc_young_threshold"):
        Settings()
