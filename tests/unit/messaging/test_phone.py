"""E.164 parsing: valid numbers normalised, everything else a clear InvalidNumber."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from messaging import InvalidNumber, parse_e164
from messaging.phone import _canonical


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


def _full_parse(text: str) -> tuple[str, str] | None:
    """What phonenumbers itself says of `text`: (E.164, region) if valid, else None."""
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164, phonenumbers.region_code_for_number(parsed) or "ZZ"


def _example_numbers() -> list[str]:
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.TOLL_FREE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.append(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            numbers.append(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    return numbers


EXAMPLES = _example_numbers()


def test_the_plain_e164_shortcut_answers_as_phonenumbers_for_every_regions_examples() -> None:
    taken = 0
    for text in EXAMPLES:
        fast = _canonical(text)
        if fast is not None:
            taken += 1
            assert (fast.e164, fast.region) == _full_parse(text), text
        assert (lambda n: (n.e164, n.region))(parse_e164(text)) == _full_parse(text), text
    assert taken > len(EXAMPLES) * 0.7  # the shortcut is the common case, not the exception


@given(
    st.sampled_from(EXAMPLES).flatmap(
        lambda text: st.tuples(
            st.just(text), st.integers(0, len(text) - 2), st.text("0123456789", max_size=3)
        )
    )
)
@settings(max_examples=1000, deadline=None)
def test_the_shortcut_never_disagrees_with_phonenumbers_on_nearby_numbers(
    case: tuple[str, int, str],
) -> None:
    text, cut, tail = case
    candidate = text[: 2 + cut] + tail  # a prefix of a real number, other digits after it
    fast = _canonical(candidate)
    if fast is not None:
        assert (fast.e164, fast.region) == _full_parse(candidate)
    slow = _full_parse(candidate)
    try:
        number = parse_e164(candidate)
    except InvalidNumber:
        assert slow is None
    else:
        assert (number.e164, number.region) == slow
