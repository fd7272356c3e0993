"""The fast E.164 path answers exactly as phonenumbers does (valid, invalid, normalised)."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat

from campaigns.numbers import fast_e164
from messaging import InvalidNumber, parse_e164

CODES = ["1", "7", "33", "39", "44", "49", "52", "55", "61", "81", "86", "91", "234", "353", "800"]


def _slow(raw: str) -> str | None:
    try:
        return parse_e164(raw).e164
    except InvalidNumber:
        return None


def _fast(raw: str) -> str | None:
    try:
        return fast_e164(raw)
    except InvalidNumber:
        return None


@settings(max_examples=1000)
@given(st.sampled_from(CODES), st.text(alphabet="0123456789", min_size=4, max_size=13))
def test_fast_e164_agrees_with_parse_e164(code: str, national: str) -> None:
    raw = f"+{code}{national}"
    assert _fast(raw) == _slow(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "+12125550123",
        "+919876543210",
        "+447400123456",
        "+4407400123456",  # a national prefix after the code: phonenumbers strips it
        " +44 7400 123456 ",
        "+390612345678",  # Italian leading zero
        "+80012345678",  # non-geographic (+800)
        "+447700900123",  # Ofcom drama range: invalid
        "07400123456",
        "+999123456",
    ],
)
def test_known_numbers_agree(raw: str) -> None:
    assert _fast(raw) == _slow(raw)


def _examples() -> list[str]:
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in phonenumbers.PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.append(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    return numbers


def test_every_example_number_of_every_region_and_type_agrees() -> None:
    examples = _examples()
    assert len(examples) > 1000
    # each, and each with its last digit changed (often invalid), as phonenumbers answers
    for raw in examples:
        for variant in (raw, raw[:-1] + str((int(raw[-1]) + 1) % 10), raw + "0"):
            assert _fast(variant) == _slow(variant), variant
