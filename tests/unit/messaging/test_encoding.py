"""GSM-7 / UCS-2 detection and segmentation (3GPP TS 23.038)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from messaging import Encoding, decode_gsm7, encode_gsm7, segment
from messaging.encoding import GSM7_BASIC, GSM7_EXTENSION, is_gsm7, text_cost

GSM_TEXT = st.text(
    alphabet=[c for c in GSM7_BASIC if c != "\x1b"] + list(GSM7_EXTENSION), max_size=700
)


def test_160_gsm7_characters_fit_one_segment_161_need_two() -> None:
    assert (segment("a" * 160).segments, segment("a" * 161).segments) == (1, 2)
    assert segment("a" * 306).segments == 2 and segment("a" * 307).segments == 3


def test_extension_characters_cost_two_septets() -> None:
    assert segment("€" * 80).segments == 1
    assert segment("€" * 81).segments == 2


def test_one_non_gsm_character_switches_to_ucs2_with_70_per_segment() -> None:
    seg = segment("a" * 69 + "ж")
    assert (seg.encoding, seg.segments) == (Encoding.UCS2, 1)
    assert segment("ж" * 71).segments == 2 and segment("ж" * 134).segments == 2


def test_surrogate_pair_is_never_split_across_parts() -> None:
    text = "a" * 66 + "😀" + "b" * 10
    parts = segment(text).parts
    assert "".join(parts) == text
    assert all(len(p.encode("utf-16-be")) <= 134 for p in parts)


@given(GSM_TEXT)
def test_gsm7_parts_fit_and_join_back(text: str) -> None:
    seg = segment(text)
    assert seg.encoding is Encoding.GSM7
    assert "".join(seg.parts) == text
    limit = 160 if seg.segments == 1 else 153
    assert all(len(encode_gsm7(p)) <= limit for p in seg.parts)


@given(st.text(max_size=300))
def test_any_text_parts_join_back(text: str) -> None:
    assert "".join(segment(text).parts) == text


@given(GSM_TEXT)
def test_gsm7_encoding_roundtrips(text: str) -> None:
    assert decode_gsm7(encode_gsm7(text)) == text


@given(st.one_of(GSM_TEXT, st.text(max_size=300)))
def test_text_cost_counts_what_the_per_character_costs_sum_to(text: str) -> None:
    gsm7 = is_gsm7(text)
    assert gsm7 == all(c in GSM7_BASIC.replace("\x1b", "") or c in GSM7_EXTENSION for c in text)
    septets = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
    units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)
    if gsm7:
        assert text_cost(text, Encoding.GSM7) == septets
    assert text_cost(text, Encoding.UCS2) == units


def test_a_lone_surrogate_costs_one_code_unit() -> None:
    assert text_cost("a\ud800b", Encoding.UCS2) == 3
