"""Learning how a carrier reports concatenated messages (pure rule and the memory twin)."""

from __future__ import annotations

from carriers import LEARN_AFTER, MemorySegmentLearner, SegmentLearning
from carriers.segment_learning import learn


def test_one_receipt_messages_in_a_row_teach_one_receipt_per_message() -> None:
    state = SegmentLearning()
    for _ in range(LEARN_AFTER - 1):
        state = learn(state, ones=1, eaches=0)
    assert not state.one_per_message
    state = learn(state, ones=1, eaches=0)
    assert state.one_per_message and (state.one, state.each) == (LEARN_AFTER, 0)
    assert state.describe().startswith("one receipt per message")


def test_a_message_with_several_receipts_turns_it_back_whatever_came_with_it() -> None:
    state = learn(SegmentLearning(), ones=LEARN_AFTER + 2, eaches=0)
    state = learn(state, ones=4, eaches=1)  # one report: several receipts win
    assert not state.one_per_message and state.streak == 0
    assert state.describe().startswith("a receipt per segment")
    assert SegmentLearning().describe().startswith("nothing yet")


def test_the_twin_keeps_carriers_apart() -> None:
    learner = MemorySegmentLearner()
    learner.record([("alpha", "one")] * LEARN_AFTER + [("beta", "one"), ("beta", "each")])
    learnt = learner.learnt(["alpha", "beta", "gamma"])
    assert learnt["alpha"].one_per_message
    assert learnt["beta"] == SegmentLearning(one=1, each=1, streak=0)
    assert learnt["gamma"] == SegmentLearning()
