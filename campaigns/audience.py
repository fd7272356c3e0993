"""Audience rows → messages to schedule (pure): header checks, E.164, rendering, segments.

A row that cannot become a message is skipped with its CSV line number and a reason; the
upload goes on. Only a header without a `to` column, or one lacking a field the template
needs, refuses the whole upload. Duplicates and opt-outs are dropped by the store, which sees
the whole audience (`store.campaigns`), and are counted there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from campaigns.errors import AudienceMissingTo
from campaigns.template import Template
from campaigns.windows import zone_key
from messaging import Encoding, InvalidNumber, parse_e164, segment

TO_COLUMN = "to"
MAX_SEGMENTS = 10  # as POST /v1/messages allows
MAX_COLUMNS = 64
MAX_FIELD_CHARS = 1000
# Characters of the GSM-7 basic table that are ASCII (no escape, one septet each): a text of
# only these is GSM-7 and its segments follow from its length (GSM 03.38; 160, then 153 each).
_PLAIN_GSM7 = re.compile(r"[A-Za-z0-9 \n\r!\"#$%&'()*+,\-./:;<=>?@_]*")
GSM7_SINGLE, GSM7_PART = 160, 153  # septets; as messaging.encoding (7 go to the UDH)


def segments_of(body: str) -> tuple[str, int]:
    """(encoding, segments) of `body`, as `messaging.segment` counts them (fast for plain
    ASCII, the usual marketing text; anything else goes to `segment`)."""
    if _PLAIN_GSM7.fullmatch(body):
        n = len(body)
        return Encoding.GSM7.value, 1 if n <= GSM7_SINGLE else -(-n // GSM7_PART)
    segmentation = segment(body)
    return segmentation.encoding.value, segmentation.segments


class SkipReason(StrEnum):
    """Why an audience row was not scheduled."""

    INVALID_NUMBER = "invalid_number"
    MISSING_VARIABLE = "missing_variable"
    BAD_ROW = "bad_row"  # wrong number of fields, or a field too long
    TOO_LONG = "too_long"  # the rendered text needs more than MAX_SEGMENTS segments
    OPTED_OUT = "opted_out"


class ScheduledRow(NamedTuple):
    """One recipient's message, rendered (a tuple: a million of them are made per upload, and
    the store writes them as they are)."""

    line: int
    to: str
    body: str
    encoding: str
    segments: int
    zone: str


@dataclass(frozen=True)
class SkippedRow:
    """A row that was not scheduled: its line, the number as given, why."""

    line: int
    number: str
    reason: SkipReason
    detail: str


class AudienceRules:
    """Turns the rows under one header into scheduled or skipped rows."""

    def __init__(self, template: Template, header: Sequence[str]) -> None:
        """Check `header` against the template.

        Raises:
            AudienceMissingTo: no `to` column.
            TemplateUnknownVariable: a field of the template is no column.
        """
        self.columns = tuple(name.strip() for name in header)
        if TO_COLUMN not in self.columns:
            raise AudienceMissingTo(
                "audience",
                f"the header names no {TO_COLUMN!r} column (it has: "
                f"{', '.join(self.columns[:10]) or 'nothing'})",
            )
        if len(self.columns) > MAX_COLUMNS:
            raise AudienceMissingTo("audience", f"more than {MAX_COLUMNS} columns")
        template.check_known(self.columns)
        self.template = template
        self._to = self.columns.index(TO_COLUMN)
        self._width = len(self.columns)
        # the column of each template field, in the template's order (`Template.fill`)
        self._used = tuple((self.columns.index(n), n) for n in template.fields)

    def row(self, line: int, fields: Sequence[str]) -> ScheduledRow | SkippedRow:
        """One row (`line` is its line number in the file, the header being line 1).

        The per-recipient path of a million-row upload: no dict, the template filled
        positionally, segments counted by `segments_of`'s ASCII shortcut, zones cached.
        """
        if len(fields) != self._width:
            raw_to = fields[self._to].strip() if len(fields) > self._to else ""
            return SkippedRow(
                line,
                raw_to,
                SkipReason.BAD_ROW,
                f"{len(fields)} fields where the header has {self._width}",
            )
        raw_to = fields[self._to].strip()
        try:
            to = parse_e164(raw_to).e164
        except InvalidNumber as error:
            return SkippedRow(line, raw_to[:32], SkipReason.INVALID_NUMBER, error.reason)
        values = [fields[i].strip() for i, _ in self._used]
        for value in values:
            if len(value) > MAX_FIELD_CHARS:
                return SkippedRow(line, to, SkipReason.BAD_ROW, "a field is too long")
        if not all(values):
            name = next(n for (_, n), v in zip(self._used, values, strict=True) if not v)
            return SkippedRow(line, to, SkipReason.MISSING_VARIABLE, f"no value for {name}")
        body = self.template.fill(values)
        encoding, segments = segments_of(body)
        if segments > MAX_SEGMENTS:
            return SkippedRow(line, to, SkipReason.TOO_LONG, f"{segments} segments")
        return ScheduledRow(line, to, body, encoding, segments, zone_key(to))
