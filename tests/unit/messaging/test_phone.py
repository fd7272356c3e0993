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
        for kind in PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.append(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            numbers.append(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    return numbers


EXAMPLES = _example_numbers()


def _ours(text: str) -> tuple[str, str] | None:
    try:
        number = parse_e164(text)
    except InvalidNumber:
        return None
    return number.e164, number.region


def test_the_plain_e164_shortcut_answers_as_phonenumbers_for_every_regions_examples() -> None:
    assert len(EXAMPLES) > 1000
    taken = 0
    for raw in EXAMPLES:
        # each, and each with its last digit changed (often invalid) or one digit more
        for text in (raw, raw[:-1] + str((int(raw[-1]) + 1) % 10), raw + "0"):
            fast = _canonical(text)
            if fast is not None:
                taken += 1
                assert (fast.e164, fast.region) == _full_parse(text), text
            assert _ours(text) == _full_parse(text), text
    assert taken > len(EXAMPLES)  # the shortcut is the common case, not the exception


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
        "+999123456",  # no such country code
    ],
)
def test_known_numbers_agree_with_phonenumbers(raw: str) -> None:
    assert _ours(raw) == _full_parse(raw.strip())


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
    assert _ours(candidate) == _full_parse(candidate)
