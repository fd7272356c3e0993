"""E.164 parsing: valid numbers normalised, everything else a clear InvalidNumber."""

from __future__ import annotations

import pytest

from messaging import InvalidNumber, parse_e164


def test_formatted_international_number_is_normalised_with_its_region() -> None:
    number = parse_e164(" +44 7400 123-456 ")
    assert (number.e164, number.region) == ("+447400123456", "GB")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "a phone number is required"),
        ("07400123456", "not in international format"),
        ("+44abc", "is not a phone number"),
        ("+447700900123", "is not a valid phone number"),  # Ofcom drama range
        ("+4474", "is not a valid phone number"),
    ],
)
def test_invalid_numbers_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidNumber, match=reason) as info:
        parse_e164(raw)
    assert info.value.field == "to" and info.value.code == "invalid_number"
