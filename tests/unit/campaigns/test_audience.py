"""Audience rows: E.164, rendering, segments and every skip reason, by line."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns import (
    AudienceMissingTo,
    AudienceRules,
    ScheduledRow,
    SkippedRow,
    SkipReason,
    Template,
    TemplateUnknownVariable,
)
from campaigns.audience import segments_of
from messaging import segment

RULES = AudienceRules(Template.parse("Hi {{name}}"), ["to", "name"])


def test_a_good_row_is_normalised_rendered_and_zoned() -> None:
    row = RULES.row(2, [" +44 7400 123456 ", " Ann "])
    assert isinstance(row, ScheduledRow)
    assert (row.line, row.to, row.body, row.encoding, row.segments) == (
        2,
        "+447400123456",
        "Hi Ann",
        "gsm7",
        1,
    )
    assert "Europe/London" in row.zone.split()


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (["07400123456", "Ann"], SkipReason.INVALID_NUMBER),  # not international
        (["+447400123456", ""], SkipReason.MISSING_VARIABLE),
        (["+447400123456"], SkipReason.BAD_ROW),
        (["+447400123456", "x" * 1001], SkipReason.BAD_ROW),
        (["+447400123456", "ж" * 700], SkipReason.TOO_LONG),
    ],
)
def test_bad_rows_are_skipped_with_their_line_and_reason(
    fields: list[str], reason: SkipReason
) -> None:
    row = RULES.row(7, fields)
    assert isinstance(row, SkippedRow) and (row.line, row.reason) == (7, reason)


def test_a_header_without_to_or_without_a_template_field_is_refused() -> None:
    with pytest.raises(AudienceMissingTo):
        AudienceRules(Template.parse("Hi"), ["phone"])
    with pytest.raises(TemplateUnknownVariable):
        AudienceRules(Template.parse("Hi {{name}}"), ["to", "first_name"])


@given(st.text(alphabet=string.printable + "€[]éж😀", max_size=700))
def test_fast_segment_counts_agree_with_messaging_segment(body: str) -> None:
    segmentation = segment(body)
    assert segments_of(body) == (segmentation.encoding.value, segmentation.segments)
