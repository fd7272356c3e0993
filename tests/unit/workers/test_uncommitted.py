"""UncommittedIds: which carrier message ids still wait for their attempt rows."""

from __future__ import annotations

import pytest

from workers.uncommitted import UncommittedIds

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_id_is_held_until_committed_and_listeners_hear_each_commit() -> None:
    ids = UncommittedIds()
    heard: list[int] = []
    ids.listen(lambda: heard.append(len(ids)))
    ids.add("alpha", "A1")
    ids.add("beta", "A1")
    assert ids.holds("alpha", ("a1", "A1")) and ids.holds("beta", ("A1",))
    assert not ids.holds("alpha", ("a1", "0A1")) and not ids.holds("gamma", ("A1",))
    ids.committed([("alpha", "A1"), ("alpha", "never-added")])
    assert not ids.holds("alpha", ("A1",)) and ids.holds("beta", ("A1",))
    assert heard == [1]


def test_ids_whose_message_is_never_written_are_forgotten_after_max_age() -> None:
    clock = Clock()
    ids = UncommittedIds(clock, max_age=30.0)
    ids.add("alpha", "stale")
    clock.now += 31
    for n in range(4095):  # the purge runs every 4,096 adds
        ids.add("alpha", f"fresh{n}")
    assert not ids.holds("alpha", ("stale",))
    assert ids.holds("alpha", ("fresh0",)) and len(ids) == 4095


def test_a_receipts_delay_is_told_from_its_submit_resp_once_and_only_the_newest_are_kept() -> None:
    clock = Clock()
    ids = UncommittedIds(clock, recent_max=2)
    for n in range(3):
        ids.add("alpha", f"A{n}")
    clock.now += 0.25
    assert ids.age("alpha", ("a0", "A0")) == 0.25  # still uncommitted
    ids.committed([("alpha", "A0"), ("alpha", "A1"), ("alpha", "A2")])
    assert ids.age("alpha", ("A0",)) is None  # the oldest written is forgotten past recent_max
    clock.now += 1.0
    assert ids.age("alpha", ("A2",)) == 1.25
    assert ids.age("alpha", ("A2",)) is None  # told once
    assert ids.age("beta", ("A1",)) is None and ids.age("alpha", ("A1",)) == 1.25
