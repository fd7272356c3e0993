"""Concatenated SMS reassembly — no sockets."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from messaging import reassemble


def test_parts_out_of_order_are_joined_by_number() -> None:
    assert reassemble([(3, "c"), (1, "a"), (2, "b")], 3) == "abc"


def test_a_missing_part_leaves_it_incomplete() -> None:
    assert reassemble([(1, "a"), (3, "c")], 3) is None


def test_a_resent_part_is_counted_once() -> None:
    assert reassemble([(1, "a"), (1, "a"), (2, "b")], 2) == "ab"


def test_a_part_past_the_total_never_completes() -> None:
    assert reassemble([(1, "a"), (2, "b"), (3, "x")], 2) is None


@given(st.lists(st.text(max_size=5), min_size=1, max_size=8), st.randoms())
def test_any_order_gives_the_same_text(texts: list[str], rnd: random.Random) -> None:
    parts = list(enumerate(texts, start=1))
    rnd.shuffle(parts)
    assert reassemble(parts, len(texts)) == "".join(texts)
